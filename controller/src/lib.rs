//! palisade-controller: intents synced from git are rolled out on a live
//! cluster in two stages. Audit manifests first; a namespace is promoted to
//! enforce once the evidence (observed flows) shows a healthy stream, traffic
//! for every service and nothing enforcement would drop.
//!
//! - `crd`: the `Intents` and `Project` custom resources
//! - `rollout`: the per-namespace state machine (pure; the clock is injected)

pub mod apply;
pub mod crd;
pub mod rollout;
