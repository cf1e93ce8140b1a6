//! The staging of apply calls: one namespace's manifests in both stages,
//! who owns them, and the calls on the cluster that carry out a rollout
//! step, in the order that never leaves a moment without protection. Pure:
//! the controller's applier and `palisade rollout` carry the calls out.
//!
//! Never weaker than what is enforced: an audit apply never writes an audit
//! form over an object this owner enforces (the applier reads each object
//! and keeps those), except in a rollback, which asks for exactly that. A
//! promotion applies the new enforce set first (allow objects before those
//! that only restrict), then prunes the audit objects and the enforce
//! objects of the older generation that the new set no longer holds
//! (restricting objects first). Each step reads the cluster again, so a
//! restart at any point resumes without a window of lost protection.

use palisade_targets::{kinds, names, Manifest};

/// Which manifests
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// observe only
    Audit,
    /// drop what the intents do not allow
    Enforce,
}

impl Stage {
    /// The label value
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Audit => "audit",
            Stage::Enforce => "enforce",
        }
    }
}

/// Who owns a set of objects
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// the label value (`<namespace>.<name>`, within 63 characters)
    pub label: String,
    /// the proof, written as the `palisade.dev/owner-uid` annotation
    pub uid: String,
}

impl Owner {
    /// The Intents resource `namespace/name` whose `metadata.uid` is `uid`
    pub fn new(namespace: &str, name: &str, uid: &str) -> Self {
        Self {
            label: owner_label(namespace, name),
            uid: uid.to_string(),
        }
    }
}

/// An owner without a resource (`palisade rollout` from a pipeline): the
/// name is its own proof, so the controller's objects (which carry a UID)
/// are never taken over by the CLI, nor the CLI's by the controller
impl From<String> for Owner {
    fn from(name: String) -> Self {
        Self {
            label: names::bounded(&name, names::LABEL_LIMIT),
            uid: name,
        }
    }
}

impl From<&str> for Owner {
    fn from(name: &str) -> Self {
        Owner::from(name.to_string())
    }
}

/// `<namespace>.<name>`, cut with a digest where it would pass a label
/// value's 63 characters (two long names stay apart)
pub fn owner_label(namespace: &str, name: &str) -> String {
    names::bounded(&format!("{namespace}.{name}"), names::LABEL_LIMIT)
}

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

/// What a rollout step asks of one namespace
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// put the audit manifests on
    ApplyAudit,
    /// put the enforce manifests on
    ApplyEnforce,
    /// take the audit objects off (those not kept by the enforce set)
    RemoveAudit,
    /// take the enforce objects off (a rollback)
    RemoveEnforce,
}

/// The calls that carry out `steps` for one namespace, in order
pub fn calls(set: &Owned, steps: &[Step]) -> Vec<Call> {
    let kinds = prune_kinds(&set.namespace);
    let prune = |stage: Stage, keep: &[Manifest]| Call::Prune {
        owner: set.owner.clone(),
        stage,
        namespace: set.namespace.clone(),
        kinds: kinds.clone(),
        keep: keep.to_vec(),
    };
    let rollback = steps.contains(&Step::RemoveEnforce);
    let promotion = steps.contains(&Step::ApplyEnforce);
    let mut out = Vec::new();
    for step in steps {
        match step {
            Step::ApplyAudit => out.push(Call::Apply {
                owner: set.owner.clone(),
                stage: Stage::Audit,
                manifests: set.audit.clone(),
                replace_enforced: rollback,
            }),
            Step::ApplyEnforce => out.push(Call::Apply {
                owner: set.owner.clone(),
                stage: Stage::Enforce,
                manifests: set.enforce.clone(),
                replace_enforced: false,
            }),
            Step::RemoveAudit => {
                out.push(prune(Stage::Audit, &set.enforce));
                if promotion {
                    // The older generation's enforced objects the new set no
                    // longer holds; only after the new set is applied.
                    out.push(prune(Stage::Enforce, &set.enforce));
                }
            }
            Step::RemoveEnforce => out.push(prune(Stage::Enforce, &set.audit)),
        }
    }
    out
}
