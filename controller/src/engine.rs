//! From the state machine's actions to calls on the cluster, for one owner
//! (one namespace): the engine stages the calls (`palisade_engine::stage`),
//! shared with `palisade rollout`, so a pipeline without the controller
//! rolls out exactly as the controller would; this module carries them out.

use crate::{
    apply::{Applied, Applier, ApplyError},
    rollout::Action,
};
use palisade_engine::stage::Step;
pub use palisade_engine::stage::{owned, prune_kinds, Call, Owned};

/// The calls that carry out `actions` for one namespace, in order
pub fn calls(set: &Owned, actions: &[Action]) -> Vec<Call> {
    let steps: Vec<Step> = actions
        .iter()
        .filter_map(|action| match action {
            Action::ApplyAudit(_) => Some(Step::ApplyAudit),
            Action::ApplyEnforce(_) => Some(Step::ApplyEnforce),
            Action::RemoveAudit => Some(Step::RemoveAudit),
            Action::RemoveEnforce => Some(Step::RemoveEnforce),
            Action::Event(..) => None,
        })
        .collect();
    palisade_engine::stage::calls(set, &steps)
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
