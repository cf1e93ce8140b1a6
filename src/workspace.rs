//! Loading and compiling an intents folder: the steps every command shares.

use crate::report::{self, ErrorFormat};
use palisade_compiler::ir::Ir;
use palisade_intents::{diag::did_you_mean, Diag, Diags, Repository};
use palisade_targets::{Dialect, EmitOptions, Manifest, Mode};
use std::path::Path;

/// Where the intents are and which targets to render: the arguments every
/// command that reads intents shares
#[derive(clap::Args)]
pub struct IntentsArgs {
    /// The intents folder (holds palisade.yaml and the Intents files)
    pub dir: std::path::PathBuf,
    /// Targets, comma-separated or `all` (default: the project's, else kubernetes)
    #[arg(long, short)]
    pub target: Vec<String>,
}

/// A loaded and compiled intents folder
pub struct Workspace {
    /// what was read
    pub repository: Repository,
    /// the IR
    pub ir: Ir,
    /// warnings found on the way
    pub warnings: Diags,
}

/// Load and compile `dir` (at a git revision when `rev` is given); on errors,
/// print them and return `None`
pub fn load(dir: &Path, rev: Option<&str>, format: ErrorFormat) -> Option<Workspace> {
    let loaded = match rev {
        None => palisade_intents::load_dir(dir),
        Some(rev) => match crate::git::read_tree_at(dir, rev) {
            Ok(files) => palisade_intents::load_files(files),
            Err(diags) => {
                report::print(&diags, format);
                return None;
            }
        },
    };
    let repository = match loaded {
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

/// Load `dir` and resolve the targets asked for; on errors, print them
pub fn load_with_targets(
    dir: &Path,
    rev: Option<&str>,
    requested: &[String],
    format: ErrorFormat,
) -> Option<(Workspace, Vec<&'static dyn Dialect>)> {
    let ws = load(dir, rev, format)?;
    match targets(&ws, requested) {
        Ok(dialects) => Some((ws, dialects)),
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
    let names_loc = names.iter().find_map(|(_, loc)| loc.clone());
    for (name, loc) in names {
        if name == "all" {
            // Every target the project names; every dialect when it names none.
            match workspace.repository.project.as_ref().filter(|p| !p.targets.is_empty()) {
                Some(project) => chosen.extend(
                    project
                        .targets
                        .iter()
                        .filter_map(|t| palisade_targets::dialect(&t.value)),
                ),
                None => chosen.extend(palisade_targets::DIALECTS.iter().copied()),
            }
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
    if chosen.iter().all(|d| d.capabilities().overlay) && !chosen.is_empty() {
        let overlays: Vec<&str> = chosen.iter().map(|d| d.id()).collect();
        diags.push(
            Diag::error(
                "overlay_alone",
                format!(
                    "`{}` is an overlay and enforces nothing at L3/L4 on its own",
                    overlays.join(", ")
                ),
            )
            .at_opt(names_loc.as_ref())
            .help("add the L3/L4 target it combines with: `targets: [kubernetes, istio]` or `[cilium, istio]`"),
        );
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

/// Each target's manifests, in the order of the targets
pub type Rendered = Vec<(&'static str, Vec<Manifest>)>;

/// The intents of `args` as they are in the work tree, rendered in `mode` for
/// the chosen targets; on errors (loading or refusals), print them and return
/// `None`
pub fn load_and_render(
    args: &IntentsArgs,
    mode: Mode,
    format: ErrorFormat,
) -> Option<(Workspace, Vec<&'static dyn Dialect>, Rendered)> {
    let (ws, dialects) = load_with_targets(&args.dir, None, &args.target, format)?;
    let (rendered, diags) = render(&ws, &dialects, mode);
    if diags.has_errors() {
        report::print(&diags, format);
        return None;
    }
    Some((ws, dialects, rendered))
}

/// Every dialect's manifests, or every refusal: warnings (checks, CNI,
/// degradations) come back either way
pub fn render(
    ws: &Workspace,
    dialects: &[&'static dyn Dialect],
    mode: Mode,
) -> (Vec<(&'static str, Vec<Manifest>)>, Diags) {
    render_each(ws, dialects, mode, |manifests| manifests)
}

/// [`render`], turning each target's manifests into what the caller keeps as
/// soon as they are rendered (the YAML text of a large repository is a tenth
/// of the memory of its JSON trees)
pub fn render_each<T>(
    ws: &Workspace,
    dialects: &[&'static dyn Dialect],
    mode: Mode,
    mut keep: impl FnMut(Vec<Manifest>) -> T,
) -> (Vec<(&'static str, T)>, Diags) {
    let mut diags = ws.warnings.clone();
    let ids: Vec<&str> = dialects.iter().map(|d| d.id()).collect();
    diags.extend(palisade_compiler::checks::enforcement_warnings(&ws.ir, &ids));
    let mut rendered = Vec::new();
    let spinner = crate::progress::spinner("rendering", ws.ir.edges.len() > 5_000);
    for dialect in dialects {
        if let Some(spinner) = &spinner {
            spinner.set_message(format!("rendering {} ({} edges)", dialect.id(), ws.ir.edges.len()));
        }
        let options = EmitOptions::for_set(*dialect, dialects, &ws.ir, mode);
        match palisade_targets::render(*dialect, &ws.ir, &options) {
            Ok((manifests, warnings)) => {
                diags.extend(warnings);
                rendered.push((dialect.id(), keep(manifests)));
            }
            Err(refusals) => diags.extend(refusals),
        }
    }
    if let Some(spinner) = spinner {
        spinner.finish_and_clear();
    }
    (rendered, diags.sorted())
}
