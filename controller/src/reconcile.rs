//! The reconciler (after kube-rs's controller-rs): for each `Intents`
//! resource, compile it with the cluster's `Project`, feed the state machine
//! what changed (generation, annotations, evidence, time), carry out its
//! actions, record Events and write the status. A finalizer removes the
//! resource's objects when it is deleted.

use crate::{
    apply::{Applier, ApplyError},
    crd::{Condition, Intents, Project, RolloutStatus},
    engine,
    feed::Feed,
    metrics::{Metrics, NamespaceLabels},
    rollout::{self, Action, Input, Phase, Policy, State},
};
use k8s_openapi::chrono::{DateTime, SecondsFormat, Utc};
use kube::{
    api::{Api, ListParams, Patch, PatchParams},
    runtime::{
        controller::Action as Requeue,
        events::{Event, EventType, Recorder},
        finalizer::{finalizer, Event as Finalized},
    },
    Client, Resource, ResourceExt,
};
use palisade_targets::{Dialect, EmitOptions, Manifest, Mode};
use std::{collections::BTreeMap, sync::Arc, time::Duration};
use tokio::sync::Mutex;

/// The finalizer palisade puts on every Intents resource it rolls out
pub const FINALIZER: &str = "palisade.dev/cleanup";
/// Set to the generation (or `true`) to promote a Ready namespace
pub const APPROVE: &str = "palisade.dev/approve";
/// Set to go back to audit
pub const ROLLBACK: &str = "palisade.dev/rollback";

/// What every reconcile shares
pub struct Context {
    /// the API
    pub client: Client,
    /// Events
    pub recorder: Recorder,
    /// metrics
    pub metrics: Arc<Metrics>,
    /// the followed flow log, if any
    pub feed: Option<Arc<Mutex<Feed>>>,
    /// the clock: seconds since the epoch
    pub now: Arc<dyn Fn() -> i64 + Send + Sync>,
    /// send every write with dryRun=All
    pub dry_run: bool,
    /// lost-record counts at each namespace's last report
    pub lost_seen: Mutex<BTreeMap<String, u64>>,
}

/// Why a reconcile failed
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// the API server
    #[error("{0}")]
    Kube(#[from] kube::Error),
    /// applying or pruning
    #[error("{0}")]
    Apply(#[from] ApplyError),
    /// the finalizer machinery
    #[error("{0}")]
    Finalizer(String),
}

/// Reconcile one Intents resource
pub async fn reconcile(intents: Arc<Intents>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let namespace = intents.namespace().unwrap_or_default();
    let api: Api<Intents> = Api::namespaced(ctx.client.clone(), &namespace);
    let result = finalizer(&api, FINALIZER, intents, |event| async {
        match event {
            Finalized::Apply(object) => rollout(&object, &ctx).await,
            Finalized::Cleanup(object) => cleanup(&object, &ctx).await,
        }
    })
    .await;
    result.map_err(|e| Error::Finalizer(e.to_string()))
}

/// Retry a failed reconcile after a while
pub fn error_policy(_intents: Arc<Intents>, _error: &Error, _ctx: Arc<Context>) -> Requeue {
    Requeue::requeue(Duration::from_secs(30))
}

/// The resource's manifests in both modes, and the promotion policy
struct Compiled {
    ir: palisade_compiler::ir::Ir,
    dialects: Vec<&'static dyn Dialect>,
    audit: Vec<Manifest>,
    enforce: Vec<Manifest>,
    policy: Policy,
}

async fn compile(intents: &Intents, client: &Client) -> Result<Result<Compiled, String>, Error> {
    let mut projects = Api::<Project>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items;
    projects.sort_by_key(|p| p.name_any());
    let project = projects.into_iter().next();
    let mut files = vec![intents.to_file()];
    let mut policy = Policy::default();
    if let Some(project) = &project {
        policy = Policy::from(&project.spec.rollout);
        files.push(project.to_file());
    }
    let loaded =
        palisade_intents::load_files(files).and_then(|r| palisade_compiler::compile(&r).map(|(ir, _)| (r, ir)));
    let (repository, ir) = match loaded {
        Ok(done) => done,
        Err(diags) => return Ok(Err(diags.iter().map(|d| d.render_plain()).collect::<Vec<_>>().join(""))),
    };
    let names: Vec<String> = repository
        .project
        .as_ref()
        .map(|p| p.targets.iter().map(|t| t.value.clone()).collect())
        .filter(|t: &Vec<String>| !t.is_empty())
        .unwrap_or_else(|| vec!["kubernetes".into()]);
    let dialects: Vec<&'static dyn Dialect> = names.iter().filter_map(|n| palisade_targets::dialect(n)).collect();
    let mut rendered = BTreeMap::new();
    for mode in [Mode::Audit, Mode::Enforce] {
        let mut all = Vec::new();
        for dialect in &dialects {
            let options = EmitOptions::for_set(*dialect, &dialects, &ir, mode);
            match palisade_targets::render(*dialect, &ir, &options) {
                Ok((manifests, _)) => all.extend(manifests),
                Err(diags) => return Ok(Err(diags.iter().map(|d| d.render_plain()).collect::<Vec<_>>().join(""))),
            }
        }
        rendered.insert(mode == Mode::Audit, all);
    }
    Ok(Ok(Compiled {
        ir,
        dialects,
        audit: rendered.remove(&true).unwrap_or_default(),
        enforce: rendered.remove(&false).unwrap_or_default(),
        policy,
    }))
}

fn time(seconds: i64) -> String {
    DateTime::<Utc>::from_timestamp(seconds, 0)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

fn seconds(text: Option<&str>) -> Option<i64> {
    text.and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp())
}

/// The state machine's state, as the status recorded it
pub fn state_of(status: Option<&RolloutStatus>, now: i64) -> State {
    let Some(status) = status else { return State::new(now) };
    State {
        phase: Phase::parse(&status.phase).unwrap_or(Phase::Pending),
        since: seconds(status.since.as_deref()).unwrap_or(now),
        generation: status.observed_generation,
        enforced: status.enforced_generation,
        window_start: seconds(status.window_start.as_deref()).unwrap_or(now),
        all_services_seen: status.all_services_seen,
        would_drop: status.would_drop.clone(),
    }
}

/// What changed since the status was written, as the state machine's inputs
pub fn inputs(intents: &Intents, state: &State) -> Vec<Input> {
    let generation = intents.metadata.generation.unwrap_or(1);
    let annotations = intents.annotations();
    // A new generation starts a new audit; only an unchanged one re-issues
    // what its phase needs (a restart must never enforce unaudited intents).
    let mut out = if generation == state.generation {
        vec![Input::Resume]
    } else {
        vec![Input::IntentsChanged(generation)]
    };
    if let Some(value) = annotations.get(APPROVE) {
        if value == "true" || value == &generation.to_string() {
            out.push(Input::Approve);
        }
    }
    if annotations.contains_key(ROLLBACK) && state.phase != Phase::Pending {
        out.push(Input::Rollback);
    }
    out
}

async fn rollout(intents: &Intents, ctx: &Context) -> Result<Requeue, Error> {
    let namespace = intents.namespace().unwrap_or_default();
    let now = (ctx.now)();
    let api: Api<Intents> = Api::namespaced(ctx.client.clone(), &namespace);
    let compiled = match compile(intents, &ctx.client).await? {
        Ok(c) => c,
        Err(message) => {
            tracing::warn!(namespace = %namespace, "the intents do not compile");
            let mut status = intents.status.clone().unwrap_or_default();
            status.conditions = vec![condition("Valid", "False", "InvalidIntents", &message, now)];
            write_status(&api, intents, &status, ctx.dry_run).await?;
            return Ok(Requeue::requeue(Duration::from_secs(300)));
        }
    };
    let mut state = state_of(intents.status.as_ref(), now);
    let mut actions = Vec::new();
    let mut script = inputs(intents, &state);
    if let Some(feed) = &ctx.feed {
        let feed = feed.lock().await;
        let enforce: Vec<(&dyn Dialect, &[Manifest])> = compiled
            .dialects
            .iter()
            .map(|d| (*d, compiled.enforce.as_slice()))
            .collect();
        let before = ctx.lost_seen.lock().await.get(&namespace).copied().unwrap_or(0);
        let report = feed.report(
            &namespace,
            &compiled.ir,
            &enforce,
            now * 1000,
            before,
            compiled.policy.max_gap_seconds,
        );
        ctx.lost_seen.lock().await.insert(namespace.clone(), feed.lost);
        ctx.metrics
            .would_drop
            .get_or_create(&NamespaceLabels {
                namespace: namespace.clone(),
            })
            .set(i64::try_from(report.would_drop.len()).unwrap_or(i64::MAX));
        script.push(Input::Evidence(report));
    }
    script.push(Input::Tick);
    for input in &script {
        let (next, mut done) = rollout::step(&state, input, now, &compiled.policy);
        state = next;
        actions.append(&mut done);
    }
    let names = intents.name_any();
    let enforce: Vec<Manifest> = compiled
        .enforce
        .iter()
        .filter(|m| m.namespace() == namespace)
        .cloned()
        .collect();
    let recorded = intents
        .status
        .as_ref()
        .map(|s| s.enforced_digests.clone())
        .unwrap_or_default();
    let mut audit: Vec<Manifest> = compiled
        .audit
        .iter()
        .filter(|m| m.namespace() == namespace)
        .cloned()
        .collect();
    if state.enforced.is_some() && state.phase != Phase::Enforcing {
        // A new generation while an older one is enforced: audit only what
        // changed; the unchanged objects stay enforced as they are.
        let unchanged: std::collections::BTreeSet<&str> = enforce
            .iter()
            .filter(|m| recorded.get(&key(m)) == Some(&m.digest()))
            .map(Manifest::name)
            .collect();
        audit.retain(|m| !unchanged.contains(m.name()));
    }
    let digests: BTreeMap<String, String> = if actions.iter().any(|a| matches!(a, Action::ApplyEnforce(_))) {
        enforce.iter().map(|m| (key(m), m.digest())).collect()
    } else if state.enforced.is_some() {
        recorded
    } else {
        BTreeMap::new()
    };
    let owned = engine::owned(audit, enforce, |ns| format!("{ns}.{names}"));
    let applier = Applier::new(ctx.client.clone(), ctx.dry_run);
    for set in &owned {
        let calls = engine::calls(set, &actions);
        engine::execute(&applier, &calls).await?;
        let applied: usize = calls
            .iter()
            .map(|c| match c {
                engine::Call::Apply { manifests, .. } => manifests.len(),
                engine::Call::Prune { .. } => 0,
            })
            .sum();
        ctx.metrics.applied.inc_by(applied as u64);
    }
    let reference = intents.object_ref(&());
    for action in &actions {
        if let Action::Event(reason, note) = action {
            let warning = matches!(*reason, "WouldDrop" | "EvidenceGap" | "ApprovedDespiteWouldDrop");
            let event = Event {
                type_: if warning { EventType::Warning } else { EventType::Normal },
                reason: (*reason).to_string(),
                note: Some(note.chars().take(1000).collect()),
                action: "Rollout".into(),
                secondary: None,
            };
            // An Event that cannot be recorded does not stop the rollout.
            let _ = ctx.recorder.publish(&event, &reference).await;
        }
    }
    let status = RolloutStatus {
        phase: state.phase.as_str().into(),
        since: Some(time(state.since)),
        observed_generation: state.generation,
        conditions: vec![
            condition(
                "Valid",
                "True",
                "Compiled",
                "the intents compile for the project's targets",
                now,
            ),
            condition(
                "Enforced",
                if state.enforced.is_some() { "True" } else { "False" },
                state.phase.as_str(),
                &format!("phase {}", state.phase.as_str()),
                now,
            ),
        ],
        would_drop: state.would_drop.clone(),
        enforced_generation: state.enforced,
        window_start: Some(time(state.window_start)),
        all_services_seen: state.all_services_seen,
        enforced_digests: digests,
    };
    write_status(&api, intents, &status, ctx.dry_run).await?;
    tracing::info!(
        namespace = %namespace,
        phase = state.phase.as_str(),
        generation = state.generation,
        enforced = ?state.enforced,
        actions = actions.len(),
        "reconciled"
    );
    ctx.metrics.set_phase(&namespace, state.phase);
    ctx.metrics.ready.store(true, std::sync::atomic::Ordering::Relaxed);
    Ok(Requeue::requeue(Duration::from_secs(60)))
}

/// Deleting an Intents resource: audit objects go first, then enforcement
async fn cleanup(intents: &Intents, ctx: &Context) -> Result<Requeue, Error> {
    let namespace = intents.namespace().unwrap_or_default();
    let name = intents.name_any();
    let kinds: Vec<(String, String)> = crate::rbac::EMITTED
        .iter()
        .map(|(group, version, kind, _)| (format!("{group}/{version}"), (*kind).to_string()))
        .collect();
    let applier = Applier::new(ctx.client.clone(), ctx.dry_run);
    let owner = format!("{namespace}.{name}");
    for stage in [crate::apply::Stage::Audit, crate::apply::Stage::Enforce] {
        applier.prune(&owner, stage, &namespace, &kinds, &[]).await?;
    }
    Ok(Requeue::await_change())
}

/// `Kind/name`: how the status keys an enforced object
fn key(m: &Manifest) -> String {
    format!("{}/{}", m.kind(), m.name())
}

fn condition(kind: &str, status: &str, reason: &str, message: &str, now: i64) -> Condition {
    Condition {
        kind: kind.into(),
        status: status.into(),
        reason: reason.into(),
        message: message.chars().take(2000).collect(),
        last_transition_time: time(now),
    }
}

async fn write_status(
    api: &Api<Intents>,
    intents: &Intents,
    status: &RolloutStatus,
    dry_run: bool,
) -> Result<(), Error> {
    let params = PatchParams {
        dry_run,
        ..PatchParams::default()
    };
    let patch = serde_json::json!({ "status": status });
    api.patch_status(&intents.name_any(), &params, &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// Used by `kube::runtime` to name the controller in Events
pub fn reporter(identity: &str) -> kube::runtime::events::Reporter {
    kube::runtime::events::Reporter {
        controller: "palisade-controller".into(),
        instance: Some(identity.into()),
    }
}
