//! The controller process: serve metrics and health, follow the flow log,
//! wait for the Lease, then reconcile every `Intents` resource until the
//! lease is lost (the process exits so that the pod restarts as a follower).
//!
//! With a flow store (`--store`), evidence is not kept in memory: only the
//! replica holding the Lease follows the file and the relay into the store
//! (two would count every flow twice), checkpointed, and each report reads
//! its window from the store, so that a restart or a new leader continues
//! the window (the window's start lives in each Intents' status). A leader
//! that stops on a signal writes a last checkpoint; one that lost the Lease
//! writes nothing more, and the next resumes from the last checkpoint.
//!
//! Every Intents is compiled with all the others and the Project, so a
//! change of the Project, or a new generation of any Intents (a
//! cross-namespace reference may resolve differently), reconciles every
//! Intents at once rather than at the next periodic requeue.

use crate::{
    crd::{Intents, Project},
    feed::Feed,
    leader::Elector,
    metrics::{serve, Metrics},
    reconcile::{error_policy, reconcile, reporter, Context},
    stored::{self, Checkpoints, Reader},
};
use futures::StreamExt;
use k8s_openapi::chrono::Utc;
use kube::{
    runtime::{events::Recorder, reflector::ObjectRef, reflector::Store, watcher, Controller},
    Api, ResourceExt,
};
use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    sync::{atomic::Ordering, Arc},
    time::Duration,
};
use tokio::sync::Mutex;

/// How the controller runs
#[derive(Debug, Clone)]
pub struct Options {
    /// a flow log to follow (Hubble, Calico or Envoy records)
    pub flows: Option<PathBuf>,
    /// Hubble Relay's gRPC address (`host:port`), followed for evidence
    pub hubble_relay: Option<String>,
    /// where `/metrics`, `/healthz` and `/readyz` are served
    pub metrics: std::net::SocketAddr,
    /// this replica's name (the pod's)
    pub identity: String,
    /// the namespace of the Lease
    pub lease_namespace: String,
    /// send every write with dryRun=All
    pub dry_run: bool,
    /// the flow store evidence is kept in (`sqlite:PATH`, `postgres://…`)
    pub store: Option<String>,
    /// how often the leader writes what it followed into the store
    pub flush_every: Duration,
}

/// Run until the lease is lost or the process is stopped
pub async fn run(options: Options) -> Result<(), String> {
    // One JSON object per line on stderr; RUST_LOG narrows or widens it.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let client = crate::connect()
        .await
        .map_err(|e| format!("cannot reach the cluster: {e}"))?;
    let metrics = Arc::new(Metrics::default());
    let server_metrics = metrics.clone();
    let address = options.metrics;
    tokio::spawn(async move {
        if let Err(e) = serve(address, server_metrics).await {
            tracing::error!(%address, error = %e, "metrics server stopped");
        }
    });
    if let Some(address) = &options.hubble_relay {
        // A typo in the address fails the start, not every reconnect.
        crate::relay::check(address, &crate::relay::RelayOptions::default()).map_err(|e| e.to_string())?;
    }
    let in_memory = options.store.is_none() && (options.flows.is_some() || options.hubble_relay.is_some());
    let feed = in_memory.then(|| Arc::new(Mutex::new(Feed::new(options.flows.clone().unwrap_or_default()))));
    if let (Some(feed), Some(address)) = (feed.clone(), options.hubble_relay.clone()) {
        tokio::spawn(async move {
            if let Err(e) = crate::relay::follow(&address, feed, crate::relay::RelayOptions::default()).await {
                tracing::error!(%address, error = %e, "cannot follow Hubble Relay");
            }
        });
    }
    if let (Some(feed), Some(_)) = (feed.clone(), &options.flows) {
        tokio::spawn(async move {
            loop {
                if let Err(e) = feed.lock().await.poll() {
                    tracing::warn!(error = %e, "cannot read the flow log");
                }
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
        });
    }
    let elector = Elector::new(
        client.clone(),
        &options.lease_namespace,
        "palisade-controller",
        &options.identity,
        15,
    );
    while !elector
        .lead(Utc::now())
        .await
        .map_err(|e| format!("leader election: {e}"))?
    {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    tracing::info!(identity = %options.identity, "leading");
    let store = match &options.store {
        Some(url) => Some(Arc::new(
            Reader::open(url).await.map_err(|e| format!("{e}; {}", e.help()))?,
        )),
        None => None,
    };
    let checkpoints = Checkpoints::new(options.flush_every, Arc::default());
    let writers = match &options.store {
        Some(url) => ingest(url, &options, &checkpoints),
        None => Vec::new(),
    };
    let context = Arc::new(Context {
        client: client.clone(),
        recorder: Recorder::new(client.clone(), reporter(&options.identity)),
        metrics,
        feed,
        store,
        now: Arc::new(|| Utc::now().timestamp()),
        dry_run: options.dry_run,
        lost_seen: Mutex::new(BTreeMap::new()),
    });
    let controller = Controller::new(Api::<Intents>::all(client.clone()), watcher::Config::default());
    let store = controller.store();
    let for_projects = store.clone();
    let for_intents = store;
    // Status writes change an Intents too: only a new generation of one
    // (its spec) reaches the others, or every status write would
    // reconcile the whole cluster.
    let generations: std::sync::Mutex<HashMap<String, i64>> = std::sync::Mutex::new(HashMap::new());
    let controller = controller
        .watches(
            Api::<Project>::all(client.clone()),
            watcher::Config::default(),
            move |_| every(&for_projects),
        )
        .watches(
            Api::<Intents>::all(client),
            watcher::Config::default(),
            move |changed| {
                let generation = changed.metadata.generation.unwrap_or(0);
                let uid = changed.uid().unwrap_or_default();
                let fresh = match generations.lock() {
                    Ok(mut seen) => seen.insert(uid, generation) != Some(generation),
                    // A poisoned map only costs a wider reconcile.
                    Err(_) => true,
                };
                if fresh {
                    every(&for_intents)
                } else {
                    Vec::new()
                }
            },
        )
        .shutdown_on_signal()
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::warn!(error = %e, "reconcile failed");
            }
        });
    let renew = async {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            // A renewal that hangs past the Lease's 15 s would let another
            // replica lead (and ingest) while this one still does.
            match tokio::time::timeout(Duration::from_secs(8), elector.lead(Utc::now())).await {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => return "lost the lease to another replica".to_string(),
                Ok(Err(e)) => return format!("cannot renew the lease: {e}"),
                Err(_) => return "cannot renew the lease: the API server did not answer within 8 s".to_string(),
            }
        }
    };
    let ended = tokio::select! {
        () = controller => Ok(()),
        reason = renew => Err(reason),
    };
    if ended.is_err() {
        // INVARIANT: a replica without the Lease writes no evidence.
        checkpoints.may_write.store(false, Ordering::SeqCst);
    }
    checkpoints.stop.store(true, Ordering::SeqCst);
    for writer in writers {
        // Waited for: the last checkpoint is what the next leader resumes from.
        let _ = writer.await;
    }
    ended
}

/// The leader's followers of the file and the relay into the store at
/// `url`, each with a connection of its own, retried until stopped
fn ingest(url: &str, options: &Options, checkpoints: &Checkpoints) -> Vec<tokio::task::JoinHandle<()>> {
    let mut writers = Vec::new();
    if let Some(path) = options.flows.clone() {
        let (url, checkpoints) = (url.to_string(), checkpoints.clone());
        writers.push(tokio::task::spawn_blocking(move || {
            while !checkpoints.stop.load(Ordering::SeqCst) {
                let followed = palisade_store::Store::open(&url)
                    .map_err(stored::FollowError::from)
                    .and_then(|mut store| stored::follow_file(&mut store, &path, &checkpoints));
                if let Err(e) = followed {
                    tracing::warn!(path = %path.display(), error = %e, "cannot follow the flow log into the store");
                    std::thread::sleep(RETRY);
                }
            }
        }));
    }
    if let Some(address) = options.hubble_relay.clone() {
        let (url, checkpoints) = (url.to_string(), checkpoints.clone());
        writers.push(tokio::spawn(async move {
            while !checkpoints.stop.load(Ordering::SeqCst) {
                let url = url.clone();
                let followed = match stored::blocking(move || palisade_store::Store::open(&url)).await {
                    Ok(store) => {
                        let relay = crate::relay::RelayOptions::default();
                        stored::follow_relay(store, &address, relay, checkpoints.clone()).await
                    }
                    Err(e) => Err(e),
                };
                if let Err(e) = followed {
                    tracing::warn!(%address, error = %e, "cannot follow Hubble Relay into the store");
                    tokio::time::sleep(RETRY).await;
                }
            }
        }));
    }
    writers
}

/// How long a follower that failed waits before it starts again
const RETRY: Duration = Duration::from_secs(10);

/// Every Intents the controller knows
fn every(store: &Store<Intents>) -> Vec<ObjectRef<Intents>> {
    store.state().iter().map(|i| ObjectRef::from_obj(i.as_ref())).collect()
}
