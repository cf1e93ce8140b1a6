//! palisade-controller: intents synced from git are rolled out on a live
//! cluster in two stages. Audit manifests first; a namespace is promoted to
//! enforce once the evidence (observed flows) shows a healthy stream, traffic
//! for every service and nothing enforcement would drop.
//!
//! - `crd`: the `Intents` and `Project` custom resources
//! - `rollout`: the per-namespace state machine (pure; the clock is injected)
//! - `apply`: server-side apply and pruning of objects proved palisade's (field manager and owner UID)
//! - `engine`: actions to calls, shared by the controller and `palisade rollout`
//! - `reconcile`: every Intents of the cluster compiled together through palisade-engine
//! - `rbac`: read-only ClusterRole, write Roles per managed namespace, from the dialects' kinds
//! - `tail`, `feed`, `relay`: evidence from a followed flow log or Hubble Relay, in memory
//! - `stored`: the same followed into a flow store, checkpointed, resumed after a restart

/// A client for the cluster of the current kubeconfig (or the in-cluster service account)
pub async fn connect() -> Result<kube::Client, kube::Error> {
    kube::Client::try_default().await
}

pub mod apply;
pub mod crd;
pub mod engine;
pub mod feed;
pub mod leader;
pub mod metrics;
pub mod rbac;
pub mod reconcile;
pub mod relay;
pub mod rollout;
pub mod run;
pub mod stored;
pub mod tail;
