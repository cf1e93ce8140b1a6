//! `palisade controller`: the in-cluster controller (see controller/ and
//! deploy/): leader election, the rollout of every Intents resource, evidence
//! from Hubble Relay or a followed flow log (in memory, or in a flow store
//! with `--store`), `/metrics`, `/healthz`, `/readyz`.

use crate::Exit;
use palisade_intents::{Diag, Diags};
use std::path::PathBuf;

/// Arguments of `palisade controller`
#[derive(clap::Args)]
pub struct Args {
    /// Hubble Relay's gRPC address, followed for evidence (Cilium's:
    /// hubble-relay.kube-system.svc.cluster.local:80)
    #[arg(long, value_name = "ADDR")]
    hubble_relay: Option<String>,
    /// A flow log to follow (Hubble, Calico or Envoy records)
    #[arg(long)]
    flows: Option<PathBuf>,
    /// Where /metrics, /healthz and /readyz are served
    #[arg(long, default_value = "0.0.0.0:8080")]
    metrics_addr: std::net::SocketAddr,
    /// This replica's name in the Lease (the pod's name)
    #[arg(long, env = "POD_NAME", default_value = "palisade-controller")]
    identity: String,
    /// The namespace of the Lease
    #[arg(long, env = "POD_NAMESPACE", default_value = "palisade-system")]
    lease_namespace: String,
    /// Send every write with dryRun=All (the API server validates, persists nothing)
    #[arg(long)]
    dry_run: bool,
    /// Keep evidence in a flow store rather than in memory, so that a
    /// restart or a new leader continues the window: `sqlite:PATH` (a
    /// volume) or `postgres://...` (shared by the replicas)
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// How often the leader writes what it followed into the store
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = crate::flows::duration_ms, requires = "store")]
    flush_every: i64,
}

/// Run until stopped or the lease is lost
pub fn run(args: &Args, sink: &mut Diags) -> Exit {
    let options = palisade_controller::run::Options {
        flows: args.flows.clone(),
        hubble_relay: args.hubble_relay.clone(),
        metrics: args.metrics_addr,
        identity: args.identity.clone(),
        lease_namespace: args.lease_namespace.clone(),
        dry_run: args.dry_run,
        store: args.store.clone(),
        flush_every: std::time::Duration::from_millis(u64::try_from(args.flush_every).unwrap_or(u64::MAX)),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            sink.push(Diag::error("io", format!("cannot start the runtime: {e}")));
            return Exit::Input;
        }
    };
    match runtime.block_on(palisade_controller::run::run(options)) {
        Ok(()) => Exit::Ok,
        Err(message) => {
            sink.push(
                Diag::error("controller", message)
                    .help("check the kubeconfig or in-cluster service account, and deploy/"),
            );
            Exit::Input
        }
    }
}
