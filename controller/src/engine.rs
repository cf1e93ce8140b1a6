//! From the state machine's actions to calls on the cluster, for one Intents
//! resource (one namespace): the controller and `palisade rollout` share it,
//! so a pipeline without the controller rolls out exactly as the controller
//! would.

use crate::{
    apply::{Applier, ApplyError, Stage},
    rollout::Action,
};
use palisade_targets::Manifest;
use std::collections::{BTreeMap, BTreeSet};

/// One namespace's manifests in both stages, and who owns them
#[derive(Debug, Clone)]
pub struct Owned {
    /// the ownership label value (`<namespace>.<intents name>`)
    pub owner: String,
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
        /// owner label
        owner: String,
        /// stage label
        stage: Stage,
        /// what
        manifests: Vec<Manifest>,
    },
    /// delete `owner`'s objects of `stage` not in `keep`
    Prune {
        /// owner label
        owner: String,
        /// stage label
        stage: Stage,
        /// where
        namespace: String,
        /// (apiVersion, kind) to list
        kinds: Vec<(String, String)>,
        /// names to keep (the other stage's objects of the same name)
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
            } => manifests
                .iter()
                .map(|m| {
                    format!(
                        "apply  {} [{owner}, {}] (server-side, field manager palisade)",
                        m.reference(),
                        stage.as_str()
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
                let kinds: Vec<&str> = kinds.iter().map(|(_, k)| k.as_str()).collect();
                let kept: Vec<&str> = keep.iter().map(Manifest::name).collect();
                vec![format!(
                    "prune  {} objects labelled {owner}/{} in {} not among [{}]",
                    kinds.join(", "),
                    stage.as_str(),
                    if namespace.is_empty() { "the cluster" } else { namespace },
                    kept.join(", ")
                )]
            }
        }
    }
}

/// Group rendered manifests by namespace; `owner_of` names the Intents of a namespace
pub fn owned(audit: Vec<Manifest>, enforce: Vec<Manifest>, owner_of: impl Fn(&str) -> String) -> Vec<Owned> {
    let mut by_namespace: BTreeMap<String, Owned> = BTreeMap::new();
    for (stage, manifests) in [(Stage::Audit, audit), (Stage::Enforce, enforce)] {
        for m in manifests {
            let namespace = m.namespace().to_string();
            let entry = by_namespace.entry(namespace.clone()).or_insert_with(|| Owned {
                owner: owner_of(&namespace),
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

/// The calls that carry out `actions` for one namespace, in order
pub fn calls(set: &Owned, actions: &[Action]) -> Vec<Call> {
    let kinds: Vec<(String, String)> = set
        .audit
        .iter()
        .chain(&set.enforce)
        .map(|m| (m.api_version().to_string(), m.kind().to_string()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let prune = |stage: Stage, keep: &[Manifest]| Call::Prune {
        owner: set.owner.clone(),
        stage,
        namespace: set.namespace.clone(),
        kinds: kinds.clone(),
        keep: keep.to_vec(),
    };
    actions
        .iter()
        .filter_map(|action| match action {
            Action::ApplyAudit(_) => Some(Call::Apply {
                owner: set.owner.clone(),
                stage: Stage::Audit,
                manifests: set.audit.clone(),
            }),
            Action::ApplyEnforce(_) => Some(Call::Apply {
                owner: set.owner.clone(),
                stage: Stage::Enforce,
                manifests: set.enforce.clone(),
            }),
            Action::RemoveAudit => Some(prune(Stage::Audit, &set.enforce)),
            Action::RemoveEnforce => Some(prune(Stage::Enforce, &set.audit)),
            Action::Event(..) => None,
        })
        .collect()
}

/// Carry out the calls, in order
pub async fn execute(applier: &Applier, calls: &[Call]) -> Result<(), ApplyError> {
    for call in calls {
        match call {
            Call::Apply {
                owner,
                stage,
                manifests,
            } => {
                applier.apply(owner, *stage, manifests).await?;
            }
            Call::Prune {
                owner,
                stage,
                namespace,
                kinds,
                keep,
            } => {
                applier.prune(owner, *stage, namespace, kinds, keep).await?;
            }
        }
    }
    Ok(())
}
