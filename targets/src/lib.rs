//! palisade-targets: one folder per dialect, each with the same faces: `emit`
//! (IR → manifests, enforce and audit) and `evaluate` (manifests × cluster ×
//! connection → verdict and the rule responsible), plus the capability table
//! that drives refusals.
//!
//! Architecture invariants: an evaluator reads only manifests and the cluster
//! model, never the IR, so that checking a dialect against the reference
//! semantics does not check the compiler against itself. Output is
//! deterministic: sorted objects, sorted keys, no clock.
//! Adding a dialect is a folder and one line in `DIALECTS`.

pub mod calico;
pub mod capabilities;
pub mod cilium;
pub mod equivalence;
pub mod flows;
pub mod groups;
pub mod import;
pub mod istio;
pub mod kinds;
pub mod kubernetes;
pub mod lint;
pub mod manifest;
pub mod memo;
pub mod names;
pub mod probes;
pub mod refusals;
pub mod verdict;
pub mod verify;
mod yaml;

pub use capabilities::Capabilities;
pub use kinds::Kind;
pub use manifest::Manifest;
pub use verdict::{RuleRef, Verdict};

use palisade_compiler::{
    ir::Ir,
    model::{ClusterModel, Connection},
};
use palisade_intents::Diags;

/// Something in a manifest that a dialect's evaluator cannot evaluate as
/// written (an unparseable selector, a reference to an object that is not
/// there, ...). Its evaluator fails closed while one exists; callers report
/// it as an error at its place, because a fail-closed verdict on a broken
/// policy reads like a narrow one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// index of the manifest in the list passed
    pub manifest: usize,
    /// JSON pointer inside it (`/spec/ingress/0/source/selector`)
    pub pointer: String,
    /// what is wrong
    pub message: String,
    /// what to write instead
    pub help: String,
}

/// What the manifests should do
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// drop what the intents do not allow
    Enforce,
    /// drop nothing new; observe what enforcement would drop
    Audit,
}

/// Who enforces HTTP rules when this target cannot
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L7Mode {
    /// this target must, or refuse
    Enforce,
    /// an overlay target of the same set (Istio) does; render the port only
    ByOverlay,
    /// nobody: the project opted into `l7: degrade-to-l4` (warn per edge)
    Degrade,
}

/// How to render
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmitOptions {
    /// enforce or audit
    pub mode: Mode,
    /// what to do with HTTP rules this target cannot see
    pub l7: L7Mode,
    /// whether an overlay of the set routes `via: egress-gateway` names and
    /// admits each only from its callers (Istio); without one the gateway
    /// admits every pod that reaches it, for every host
    pub gateway_by_overlay: bool,
}

impl EmitOptions {
    /// Enforce mode, HTTP rules refused where not expressible
    pub const ENFORCE: EmitOptions = EmitOptions {
        mode: Mode::Enforce,
        l7: L7Mode::Enforce,
        gateway_by_overlay: false,
    };

    /// The options for `dialect` rendered beside `set` (the targets of one run)
    pub fn for_set(dialect: &dyn Dialect, set: &[&dyn Dialect], ir: &Ir, mode: Mode) -> Self {
        let l7 = if dialect.capabilities().l7_http {
            L7Mode::Enforce
        } else if set.iter().any(|d| d.capabilities().overlay && d.capabilities().l7_http) {
            L7Mode::ByOverlay
        } else if ir.l7_degrade.is_some() {
            L7Mode::Degrade
        } else {
            L7Mode::Enforce
        };
        let gateway_by_overlay = set
            .iter()
            .any(|d| d.capabilities().overlay && d.capabilities().fqdn == capabilities::FqdnSupport::GatewayRouting);
        Self {
            mode,
            l7,
            gateway_by_overlay,
        }
    }
}

/// One enforcement layer's dialect
pub trait Dialect: Sync {
    /// The name users write (`kubernetes`)
    fn id(&self) -> &'static str;

    /// What it can express; drives refusals and `palisade targets`
    fn capabilities(&self) -> Capabilities;

    /// The manifests that implement the IR, or refusals saying what to choose
    /// instead. Callers run `refusals::check` first; emit may assume its result.
    fn emit(&self, ir: &Ir, options: &EmitOptions) -> Result<Vec<Manifest>, Diags>;

    /// Read the manifests once into an evaluator that decides connections by
    /// them alone (manifests of other dialects are ignored)
    fn evaluator<'m>(&self, manifests: &'m [Manifest]) -> Box<dyn Evaluator + 'm>;

    /// Whether this dialect reads this manifest (by apiVersion and kind)
    fn reads(&self, manifest: &Manifest) -> bool;

    /// What the API server would refuse in this manifest (one this dialect
    /// reads), found before anything is evaluated; `Problem::manifest` is 0
    fn admission(&self, manifest: &Manifest) -> Vec<Problem> {
        let _ = manifest;
        Vec::new()
    }

    /// Whether it renders `kind: Guardrails` exactly (cluster-wide tiers);
    /// a dialect that does not is refused for a repository that has them,
    /// never rendered without them (that would fail open)
    fn guardrails(&self) -> bool {
        false
    }

    /// The kinds it emits: RBAC, pruning and cleanup are derived from them
    fn kinds(&self) -> &'static [Kind];

    /// Whether a cluster running `cni` enforces its manifests (an unknown
    /// CNI is not held against any dialect)
    fn enforced_on(&self, cni: palisade_compiler::profile::Cni) -> bool;

    /// Whether deleting this manifest (one it reads) can only widen what
    /// passes, because it grants nothing
    fn restricts_only(&self, manifest: &Manifest) -> bool {
        let _ = manifest;
        false
    }

    /// Whether this manifest (one it reads) enforces nothing at all: an
    /// audit form the layer only reports on (Calico's staged policies)
    fn inert(&self, manifest: &Manifest) -> bool {
        let _ = manifest;
        false
    }

    /// Where its import ranks when a cluster holds several dialects'
    /// policies: the highest-ranked dialect read becomes the proposed target
    /// (a CNI's own dialect also enforces NetworkPolicy and says more)
    fn import_rank(&self) -> u8 {
        0
    }

    /// What in this dialect's manifests its evaluator cannot evaluate (all
    /// manifests are passed; `Problem::manifest` indexes them)
    fn problems(&self, manifests: &[Manifest]) -> Vec<Problem> {
        let _ = manifests;
        Vec::new()
    }

    /// Read this dialect's manifests back into intent terms, if it can
    fn import(&self, manifests: &[Manifest], context: &import::Context) -> Option<import::Imported> {
        let _ = (manifests, context);
        None
    }

    /// This dialect's traps found in the manifests (all of them are passed:
    /// some checks look across dialects)
    fn lint(&self, manifests: &[Manifest], cluster: Option<&ClusterModel>) -> Vec<lint::Finding> {
        let _ = (manifests, cluster);
        Vec::new()
    }

    /// The reader of this layer's flow log, if it has one
    fn flows(&self) -> Option<&'static dyn flows::FlowFormat> {
        None
    }
}

/// Decides connections by one dialect's manifests
pub trait Evaluator {
    /// The verdict on one connection; with `explain`, the rules that decided
    /// it (matrices leave it off: naming rules costs more than deciding)
    fn decide(&self, model: &ClusterModel, conn: &Connection, explain: bool) -> Verdict;

    /// The verdict on one connection, and the rules that decided it
    fn evaluate(&self, model: &ClusterModel, conn: &Connection) -> Verdict {
        self.decide(model, conn, true)
    }

    /// Only whether it passes
    fn allows(&self, model: &ClusterModel, conn: &Connection) -> bool {
        self.decide(model, conn, false).allowed
    }

    /// Every connection of the universe at once: both sides of every pod
    /// class as sets, deciding exactly as [`Evaluator::decide`] does on
    /// every connection of the universe's model (property tests hold the
    /// two equal). `None` where the dialect has no symbolic form yet:
    /// callers then enumerate connections.
    fn sides(&self, universe: &palisade_relation::Universe) -> Option<palisade_relation::Sides> {
        let _ = universe;
        None
    }

    /// The connections this layer sends to an egress gateway (an overlay's
    /// mesh route), as each pod class's egress side of the outside classes
    /// and services routed; the L3/L4 layer then sees the hop to the
    /// gateway pods and their connection to the host, not the pod's own.
    /// `None` where the dialect has no symbolic form of its routes.
    fn routed(&self, universe: &palisade_relation::Universe) -> Option<Vec<palisade_relation::SideSet>> {
        let _ = universe;
        None
    }
}

/// The relation of layers that all enforce: each side the intersection of
/// theirs, every side open where there is none; `None` where one has no
/// symbolic form
pub fn all_enforce<'e>(
    evaluators: impl IntoIterator<Item = &'e (dyn Evaluator + 'e)>,
    universe: &palisade_relation::Universe,
) -> Option<palisade_relation::Sides> {
    let mut together: Option<palisade_relation::Sides> = None;
    for evaluator in evaluators {
        let own = evaluator.sides(universe)?;
        together = Some(match together {
            Some(before) => before.and(&own, universe),
            None => own,
        });
    }
    Some(together.unwrap_or_else(|| palisade_relation::Sides::open(universe)))
}

/// Every dialect palisade knows
pub static DIALECTS: &[&dyn Dialect] = &[&kubernetes::Kubernetes, &calico::Calico, &cilium::Cilium, &istio::Istio];

/// The dialect of that name
pub fn dialect(id: &str) -> Option<&'static dyn Dialect> {
    DIALECTS.iter().copied().find(|d| d.id() == id)
}

/// Names of all dialects, for help texts and "did you mean"
pub fn dialect_ids() -> Vec<&'static str> {
    DIALECTS.iter().map(|d| d.id()).collect()
}

/// What the evaluators of every dialect cannot evaluate in these manifests,
/// in manifest order
pub fn problems(manifests: &[Manifest]) -> Vec<Problem> {
    let mut problems: Vec<Problem> = DIALECTS
        .iter()
        .filter(|d| manifests.iter().any(|m| d.reads(m)))
        .flat_map(|d| d.problems(manifests))
        .collect();
    problems.sort_by_key(|p| p.manifest);
    problems
}

/// What the API server would refuse in `manifest`, asked of the dialects that read it
pub fn admission(manifest: &Manifest) -> Vec<Problem> {
    DIALECTS
        .iter()
        .filter(|d| d.reads(manifest))
        .flat_map(|d| d.admission(manifest))
        .collect()
}

/// Refusals, then emission, for one dialect of a set. Pod groups whose
/// policy names collide are the IR's fault, not a dialect's: the engine
/// checks them once per run (`groups::name_collisions`) before any dialect.
pub fn render(dialect: &dyn Dialect, ir: &Ir, options: &EmitOptions) -> Result<(Vec<Manifest>, Diags), Diags> {
    let mut diags = refusals::check(ir, dialect, options);
    if diags.has_errors() {
        return Err(diags);
    }
    let mut manifests = dialect.emit(ir, options)?;
    manifest::sort(&mut manifests);
    let collisions = names::duplicates(&manifests);
    if !collisions.is_empty() {
        for diag in collisions {
            diags.push(diag);
        }
        return Err(diags);
    }
    Ok((manifests, diags))
}

#[cfg(test)]
mod sets_agree;

#[cfg(test)]
mod tests {
    use super::*;

    fn manifests(yaml: &str) -> Vec<Manifest> {
        serde_yaml_ng::Deserializer::from_str(yaml)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .map(Manifest::new)
            .collect()
    }

    /// Callers ask every dialect through the trait, so a Calico problem
    /// behind a NetworkPolicy keeps the index of the whole list
    #[test]
    fn problems_are_asked_of_every_dialect_through_the_trait() {
        let all = manifests(
            "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: deny, namespace: shop }
spec: { podSelector: {}, policyTypes: [Ingress] }
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: web, namespace: shop }
spec:
  selector: app == 'web'
  ingress: [{ action: Allow, source: { selector: app = 'db' } }]
",
        );
        let found = problems(&all);
        let at: Vec<(usize, &str)> = found.iter().map(|p| (p.manifest, p.pointer.as_str())).collect();
        assert_eq!(at, [(1, "/spec/ingress/0/source/selector")], "{found:?}");
        assert!(!found[0].help.is_empty(), "{found:?}");
        let kubernetes = dialect("kubernetes").unwrap();
        assert_eq!(kubernetes.problems(&all), Vec::new());
    }
}
