//! Which dialects a run renders: `--target` (comma-separated, `all`), else
//! the project's `targets`, else kubernetes. The CLI and the controller
//! resolve through here, so a typo or an overlay alone is the same error
//! everywhere (the controller used to drop an unknown target and apply nothing).

use palisade_compiler::{ir::Ir, profile::Cni};
use palisade_intents::{diag::did_you_mean, model::Project, Diag, Diags, Loc};
use palisade_targets::Dialect;

/// The dialects of one run, each once, in the order asked
#[derive(Clone)]
pub struct TargetSet {
    dialects: Vec<&'static dyn Dialect>,
}

impl std::ops::Deref for TargetSet {
    type Target = [&'static dyn Dialect];

    fn deref(&self) -> &Self::Target {
        &self.dialects
    }
}

impl TargetSet {
    /// Resolve `requested` (flags; empty for the project's choice) against the project
    pub fn resolve(project: Option<&Project>, requested: &[String]) -> Result<TargetSet, Diags> {
        let declared = project.filter(|p| !p.targets.is_empty());
        let names: Vec<(String, Option<Loc>)> = if !requested.is_empty() {
            requested
                .iter()
                .flat_map(|r| r.split(','))
                .map(|s| (s.trim().to_string(), None))
                .collect()
        } else if let Some(project) = declared {
            project
                .targets
                .iter()
                .map(|t| (t.value.clone(), Some(t.loc.clone())))
                .collect()
        } else {
            vec![("kubernetes".to_string(), None)]
        };
        let mut diags = Diags::new();
        let mut chosen: Vec<&'static dyn Dialect> = Vec::new();
        for (name, loc) in &names {
            if name == "all" {
                // Every target the project names; every dialect when it names none.
                match declared {
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
            match palisade_targets::dialect(name) {
                Some(d) => chosen.push(d),
                None => diags.push(unknown(name, loc.as_ref())),
            }
        }
        if names.iter().all(|(n, _)| n.is_empty()) {
            diags.push(
                Diag::error("no_targets", "no target was named")
                    .help(format!("name one of: {}", palisade_targets::dialect_ids().join(", "))),
            );
        }
        let names_loc = names.iter().find_map(|(_, loc)| loc.clone());
        if !chosen.is_empty() && chosen.iter().all(|d| d.capabilities().overlay) {
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
            Ok(TargetSet { dialects: chosen })
        }
    }

    /// The set of exactly these dialects (for callers that picked them by fact, not by name)
    pub fn of(dialects: Vec<&'static dyn Dialect>) -> TargetSet {
        TargetSet { dialects }
    }

    /// The targets' names
    pub fn ids(&self) -> Vec<&'static str> {
        self.dialects.iter().map(|d| d.id()).collect()
    }

    /// Warnings for targets the project's CNI will not enforce: the policies
    /// apply without error and protect nothing. Fine while preparing a
    /// migration, a surprise otherwise.
    pub fn enforcement_warnings(&self, ir: &Ir) -> Diags {
        let mut diags = Diags::new();
        let cni = ir.profile.cni;
        for dialect in self.dialects.iter().filter(|d| !d.enforced_on(cni)) {
            let cni_name = match cni {
                Cni::Kubernetes => "kubernetes",
                Cni::Calico => "calico",
                Cni::Cilium => "cilium",
                Cni::Unknown => "unknown",
            };
            let enforced: Vec<&str> = palisade_targets::kinds::enforced_on(cni)
                .iter()
                .filter(|d| !d.capabilities().overlay)
                .map(|d| d.id())
                .collect();
            diags.push(
                Diag::warning(
                    "not_enforced",
                    format!(
                        "the cluster's CNI `{cni_name}` will not enforce `{}` manifests",
                        dialect.id()
                    ),
                )
                .at_opt(ir.profile.cni_loc.as_ref())
                .help(format!(
                    "fine while preparing a migration; otherwise render a target the CNI enforces: {}",
                    enforced.join(", ")
                )),
            );
        }
        diags
    }
}

fn unknown(name: &str, loc: Option<&Loc>) -> Diag {
    let ids = palisade_targets::dialect_ids();
    let help = did_you_mean(name, ids.iter().copied())
        .unwrap_or_else(|| format!("this build of palisade renders: {}", ids.join(", ")));
    Diag::error("unknown_target", format!("unknown target `{name}`"))
        .at_opt(loc)
        .help(help)
}

impl<'a> IntoIterator for &'a TargetSet {
    type Item = &'a &'static dyn Dialect;
    type IntoIter = std::slice::Iter<'a, &'static dyn Dialect>;

    fn into_iter(self) -> Self::IntoIter {
        self.dialects.iter()
    }
}
