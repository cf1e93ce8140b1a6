//! Loading and compiling an intents folder: the steps every command shares.

use crate::report::{self, ErrorFormat};
use palisade_compiler::ir::Ir;
use palisade_intents::{diag::did_you_mean, Diag, Diags, Repository};
use palisade_targets::Dialect;
use std::path::Path;

/// A loaded and compiled intents folder
pub struct Workspace {
    /// what was read
    pub repository: Repository,
    /// the IR
    pub ir: Ir,
    /// warnings found on the way
    pub warnings: Diags,
}

/// Load and compile `dir`; on errors, print them and return `None`
pub fn load(dir: &Path, format: ErrorFormat) -> Option<Workspace> {
    let repository = match palisade_intents::load_dir(dir) {
        Ok(r) => r,
        Err(diags) => {
            report::print(&diags, format);
            return None;
        }
    };
    if repository.intents.is_empty() {
        report::print_one(
            Diag::error(
                "no_intents",
                format!("no `kind: Intents` documents found under `{}`", dir.display()),
            )
            .help("pass the folder that holds the intents YAML files (see examples/)"),
            format,
        );
        return None;
    }
    match palisade_compiler::compile(&repository) {
        Ok((ir, warnings)) => Some(Workspace {
            repository,
            ir,
            warnings,
        }),
        Err(diags) => {
            report::print(&diags, format);
            None
        }
    }
}

/// The dialects asked for: `--target` (comma-separated or `all`), else the
/// project's `targets`, else kubernetes
pub fn targets(workspace: &Workspace, requested: &[String]) -> Result<Vec<&'static dyn Dialect>, Diags> {
    let mut diags = Diags::new();
    let mut chosen: Vec<&'static dyn Dialect> = Vec::new();
    let names: Vec<(String, Option<palisade_intents::Loc>)> = if !requested.is_empty() {
        requested
            .iter()
            .flat_map(|r| r.split(','))
            .map(|s| (s.trim().to_string(), None))
            .collect()
    } else if let Some(project) = workspace.repository.project.as_ref().filter(|p| !p.targets.is_empty()) {
        project
            .targets
            .iter()
            .map(|t| (t.value.clone(), Some(t.loc.clone())))
            .collect()
    } else {
        vec![("kubernetes".to_string(), None)]
    };
    for (name, loc) in names {
        if name == "all" {
            chosen.extend(palisade_targets::DIALECTS.iter().copied());
            continue;
        }
        match palisade_targets::dialect(&name) {
            Some(d) => chosen.push(d),
            None => {
                let ids = palisade_targets::dialect_ids();
                let help = did_you_mean(&name, ids.iter().copied())
                    .unwrap_or_else(|| format!("this build of palisade renders: {}", ids.join(", ")));
                diags.push(
                    Diag::error("unknown_target", format!("unknown target `{name}`"))
                        .at_opt(loc.as_ref())
                        .help(help),
                );
            }
        }
    }
    let mut seen = Vec::new();
    chosen.retain(|d| {
        let fresh = !seen.contains(&d.id());
        seen.push(d.id());
        fresh
    });
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(chosen)
    }
}
