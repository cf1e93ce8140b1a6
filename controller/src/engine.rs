//! From the state machine's actions to calls on the cluster, for one owner
//! (one namespace): the controller and `palisade rollout` share it, so a
//! pipeline without the controller rolls out exactly as the controller
//! would.
//!
//! Never weaker than what is enforced: an audit apply never writes an audit
//! form over an object this owner enforces (the applier reads each object
//! and keeps those), except in a rollback, which asks for exactly that. A
//! promotion applies the new enforce set first (allow objects before those
//! that only restrict), then prunes the audit objects and the enforce
//! objects of the older generation that the new set no longer holds
//! (restricting objects first). Each step reads the cluster again, so a
//! restart at any point resumes without a window of lost protection.

use crate::{
    apply::{Applied, Applier, ApplyError, Owner, Stage},
    rollout::Action,
};
use palisade_targets::{kinds, Manifest};

/// One namespace's manifests in both stages, and who owns them
#[derive(Debug, Clone)]
pub struct Owned {
    /// the owner (label value and UID)
    pub owner: Owner,
    /// the namespace ("" for cluster-scoped objects)
    pub namespace: String,
    /// audit manifests
    pub audit: Vec<Manifest>,
    /// enforce manifests
    pub enforce: Vec<Manifest>,
}

/// A call on the cluster
#[derive(Debug, Clone)]
pub enum Call {
    /// server-side apply these manifests as `stage`
    Apply {
        /// owner
        owner: Owner,
        /// stage label
        stage: Stage,
        /// what
        manifests: Vec<Manifest>,
        /// write audit forms over enforced objects of the same name (a rollback only)
        replace_enforced: bool,
    },
    /// delete `owner`'s objects of `stage` not in `keep`
    Prune {
        /// owner
        owner: Owner,
        /// stage label
        stage: Stage,
        /// where
        namespace: String,
        /// (apiVersion, kind) to list
        kinds: Vec<(String, String)>,
        /// objects to keep (those the other stage applies under the same name)
        keep: Vec<Manifest>,
    },
}

impl Call {
    /// What `--dry-run` prints
    pub fn describe(&self) -> Vec<String> {
        match self {
            Call::Apply {
                owner,
                stage,
                manifests,
                replace_enforced,
            } => manifests
                .iter()
                .map(|m| {
                    format!(
                        "apply  {} [{}, {}] (server-side, field manager palisade{})",
                        m.reference(),
                        owner.label,
                        stage.as_str(),
                        if *stage == Stage::Audit && !replace_enforced {
                            "; kept as it is if enforced"
                        } else {
                            ""
                        }
                    )
                })
                .collect(),
            Call::Prune {
                owner,
                stage,
                namespace,
                kinds,
                keep,
            } => {
                // A kind name two API groups share is shown with its group.
                let shared = |kind: &str| kinds.iter().filter(|(_, k)| k == kind).count() > 1;
                let kinds: Vec<String> = kinds
                    .iter()
                    .map(|(api_version, kind)| match api_version.split_once('/') {
                        Some((group, _)) if shared(kind) => format!("{kind}.{group}"),
                        _ => kind.clone(),
                    })
                    .collect();
                let kept: Vec<&str> = keep.iter().map(Manifest::name).collect();
                vec![format!(
                    "prune  {} objects labelled {}/{} in {} not among [{}]",
                    kinds.join(", "),
                    owner.label,
                    stage.as_str(),
                    if namespace.is_empty() { "the cluster" } else { namespace },
                    kept.join(", ")
                )]
            }
        }
    }
}

/// Group rendered manifests by namespace; `owner_of` names the owner of a
/// namespace (an [`Owner`], or a plain `<namespace>.<name>` string)
pub fn owned<O: Into<Owner>>(audit: Vec<Manifest>, enforce: Vec<Manifest>, owner_of: impl Fn(&str) -> O) -> Vec<Owned> {
    let mut by_namespace: std::collections::BTreeMap<String, Owned> = std::collections::BTreeMap::new();
    for (stage, manifests) in [(Stage::Audit, audit), (Stage::Enforce, enforce)] {
        for m in manifests {
            let namespace = m.namespace().to_string();
            let entry = by_namespace.entry(namespace.clone()).or_insert_with(|| Owned {
                owner: owner_of(&namespace).into(),
                namespace,
                audit: Vec::new(),
                enforce: Vec::new(),
            });
            match stage {
                Stage::Audit => entry.audit.push(m),
                Stage::Enforce => entry.enforce.push(m),
            }
        }
    }
    by_namespace.into_values().collect()
}

/// Every kind a dialect emits that lives where `namespace` says (namespaced
/// or cluster-scoped): pruning lists them all, so an object of a target the
/// project no longer names is still removed
pub fn prune_kinds(namespace: &str) -> Vec<(String, String)> {
    kinds::emitted()
        .into_iter()
        .filter(|k| k.namespaced != namespace.is_empty())
        .map(|k| (k.api_version(), k.kind.to_string()))
        .collect()
}

/// The calls that carry out `actions` for one namespace, in order
pub fn calls(set: &Owned, actions: &[Action]) -> Vec<Call> {
    let kinds = prune_kinds(&set.namespace);
    let prune = |stage: Stage, keep: &[Manifest]| Call::Prune {
        owner: set.owner.clone(),
        stage,
        namespace: set.namespace.clone(),
        kinds: kinds.clone(),
        keep: keep.to_vec(),
    };
    let rollback = actions.iter().any(|a| matches!(a, Action::RemoveEnforce));
    let promotion = actions.iter().any(|a| matches!(a, Action::ApplyEnforce(_)));
    let mut out = Vec::new();
    for action in actions {
        match action {
            Action::ApplyAudit(_) => out.push(Call::Apply {
                owner: set.owner.clone(),
                stage: Stage::Audit,
                manifests: set.audit.clone(),
                replace_enforced: rollback,
            }),
            Action::ApplyEnforce(_) => out.push(Call::Apply {
                owner: set.owner.clone(),
                stage: Stage::Enforce,
                manifests: set.enforce.clone(),
                replace_enforced: false,
            }),
            Action::RemoveAudit => {
                out.push(prune(Stage::Audit, &set.enforce));
                if promotion {
                    // The older generation's enforced objects the new set no
                    // longer holds; only after the new set is applied.
                    out.push(prune(Stage::Enforce, &set.enforce));
                }
            }
            Action::RemoveEnforce => out.push(prune(Stage::Enforce, &set.audit)),
            Action::Event(..) => {}
        }
    }
    out
}

/// What the calls did
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// objects written
    pub applied: usize,
    /// objects deleted
    pub deleted: usize,
    /// audit forms kept off enforced objects
    pub kept_enforced: Vec<String>,
}

/// Carry out the calls, in order, and say what they did. A conflict (an
/// object palisade did not create) stops before anything of its call is
/// written, and nothing after it runs.
pub async fn run(applier: &Applier, calls: &[Call]) -> Result<Outcome, ApplyError> {
    let mut outcome = Outcome::default();
    for call in calls {
        match call {
            Call::Apply {
                owner,
                stage,
                manifests,
                replace_enforced,
            } => {
                let Applied { applied, kept_enforced } =
                    applier.apply(owner, *stage, manifests, *replace_enforced).await?;
                outcome.applied += applied;
                outcome.kept_enforced.extend(kept_enforced);
            }
            Call::Prune {
                owner,
                stage,
                namespace,
                kinds,
                keep,
            } => {
                outcome.deleted += applier.prune(owner, *stage, namespace, kinds, keep).await?;
            }
        }
    }
    Ok(outcome)
}

/// [`run`], for callers that only need to know it worked
pub async fn execute(applier: &Applier, calls: &[Call]) -> Result<(), ApplyError> {
    run(applier, calls).await.map(|_| ())
}
