//! The reconciler (after kube-rs's controller-rs): for each `Intents`
//! resource, compile every Intents of the cluster with the cluster's
//! `Project` (as the CLI compiles a repository, through palisade-engine),
//! feed the state machine what changed (generation, annotations, evidence,
//! time), carry out its actions for this resource's namespace, record Events
//! and write the status (server-side apply). A finalizer removes the
//! resource's objects when it is deleted.
//!
//! What stops a rollout before anything is applied, each reported in the
//! status (`Valid=False` with its reason) and in a Warning Event: intents
//! that do not compile, targets that do not resolve (a typo, an overlay
//! alone), two Project objects (`TwoProjects`), a second Intents in a
//! namespace (`DuplicateIntents`: the older one, then the first by name,
//! rolls out). An object of palisade's name that palisade did not create for
//! this resource is a `Conflict`: nothing of that step is applied.
//!
//! `palisade.dev/approve` approves one generation: its value must be the
//! generation. `true` approves nothing (an Event says to write the
//! generation), so a later change of the intents is never approved with it.

use crate::{
    apply::{Applier, ApplyError, Owner},
    crd::{Condition, Incomplete, Intents, Project, RolloutStatus},
    engine,
    feed::{self, Feed, Judged},
    metrics::{Metrics, NamespaceLabels},
    rollout::{self, Action, EvidenceReport, Input, Phase, Policy, State},
    stored::{FollowError, Reader},
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
use palisade_compiler::model::{ClusterModel, CronJob};
use palisade_engine::{TargetSet, Workspace};
use palisade_intents::Diags;
use palisade_targets::{kinds, Dialect, Manifest};
use std::{collections::BTreeMap, sync::Arc, time::Duration};
use tokio::sync::Mutex;

/// The finalizer palisade puts on every Intents resource it rolls out
pub const FINALIZER: &str = "palisade.dev/cleanup";
/// Set to the generation to promote a Ready namespace
pub const APPROVE: &str = "palisade.dev/approve";
/// Set to the generation to enforce a Blocked namespace although observed
/// traffic would be dropped (an approval given before the block does not)
pub const APPROVE_DESPITE_DROPS: &str = "palisade.dev/approve-despite-drops";
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
    /// the flow store reports read their window from (the leader ingests
    /// into it), instead of `feed`: a restart or a new leader reads the
    /// same window
    pub store: Option<Arc<Reader>>,
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
    /// a resource without a name, namespace or uid
    #[error("{0}")]
    Incomplete(#[from] Incomplete),
    /// the finalizer machinery, or the reconcile it wraps
    #[error("{0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    /// the flow store's window could not be read: no verdict without it
    #[error("cannot read the flow store: {0}")]
    Store(#[from] FollowError),
}

impl Error {
    /// A short reason, the `reason` label of the failure metric
    pub fn reason(&self) -> &'static str {
        use kube::runtime::finalizer::Error as F;
        match self {
            Error::Kube(_) => "KubeError",
            Error::Apply(e) => e.reason(),
            Error::Incomplete(_) => "IncompleteResource",
            Error::Store(_) => "StoreError",
            Error::Finalizer(inner) => match inner.as_ref() {
                F::ApplyFailed(e) | F::CleanupFailed(e) => e.reason(),
                F::AddFinalizer(_) | F::RemoveFinalizer(_) => "FinalizerError",
                F::UnnamedObject => "IncompleteResource",
                F::InvalidFinalizer => "FinalizerError",
            },
        }
    }
}

/// Reconcile one Intents resource
#[tracing::instrument(
    skip_all,
    fields(
        namespace = intents.metadata.namespace.as_deref().unwrap_or("<none>"),
        name = intents.metadata.name.as_deref().unwrap_or("<none>"),
        generation = intents.metadata.generation,
    )
)]
pub async fn reconcile(intents: Arc<Intents>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let started = std::time::Instant::now();
    let result = reconcile_once(intents, &ctx).await;
    ctx.metrics.reconcile_duration.observe(started.elapsed().as_secs_f64());
    result
}

async fn reconcile_once(intents: Arc<Intents>, ctx: &Context) -> Result<Requeue, Error> {
    let namespace = intents.namespace_required()?.to_string();
    let api: Api<Intents> = Api::namespaced(ctx.client.clone(), &namespace);
    finalizer(&api, FINALIZER, intents, |event| async {
        match event {
            Finalized::Apply(object) => rollout(&object, ctx).await,
            Finalized::Cleanup(object) => cleanup(&object, ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

/// Log a failed reconcile, count it by reason, and retry after a while
pub fn error_policy(intents: Arc<Intents>, error: &Error, ctx: Arc<Context>) -> Requeue {
    let reason = error.reason();
    tracing::warn!(
        namespace = intents.metadata.namespace.as_deref().unwrap_or("<none>"),
        name = intents.metadata.name.as_deref().unwrap_or("<none>"),
        reason,
        error = %error,
        "reconcile failed"
    );
    ctx.metrics.fail(reason);
    Requeue::requeue(Duration::from_secs(30))
}

/// Why the intents cannot be rolled out (the `Valid=False` condition)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// `InvalidIntents`, `InvalidTargets`, `RenderRefused`, `TwoProjects`, `DuplicateIntents`
    pub reason: &'static str,
    /// for people
    pub message: String,
}

fn invalid(reason: &'static str, diags: &Diags) -> Invalid {
    Invalid {
        reason,
        message: diags.iter().map(|d| d.render_plain()).collect::<Vec<_>>().join(""),
    }
}

/// The cluster's intents compiled together, as the CLI compiles a repository
pub struct Compiled {
    /// the compiled intents
    pub ws: Workspace,
    /// the targets
    pub targets: TargetSet,
    /// every namespace's audit manifests
    pub audit: Vec<Manifest>,
    /// every namespace's enforce manifests
    pub enforce: Vec<Manifest>,
    /// the promotion policy
    pub policy: Policy,
}

/// The Intents of `namespace` that rolls out there: the oldest
/// (creationTimestamp), then the first by name. Resources being deleted do
/// not count.
pub fn first_of_namespace<'a>(all: &'a [Intents], namespace: &str) -> Option<&'a Intents> {
    all.iter()
        .filter(|i| i.metadata.namespace.as_deref() == Some(namespace) && i.metadata.deletion_timestamp.is_none())
        .min_by_key(|i| (i.metadata.creation_timestamp.as_ref().map(|t| t.0), i.name_any()))
}

/// Compile `intents` with every other Intents resource and the Project:
/// `Ok(Err(..))` when they cannot be rolled out
pub fn compile(intents: &Intents, all: &[Intents], projects: &[Project]) -> Result<Result<Compiled, Invalid>, Error> {
    let namespace = intents.namespace_required()?;
    let name = intents.name_required()?;
    if projects.len() > 1 {
        let mut names: Vec<String> = projects.iter().map(ResourceExt::name_any).collect();
        names.sort();
        return Ok(Err(Invalid {
            reason: "TwoProjects",
            message: format!(
                "{} Project objects ({}): palisade reads one, and will not guess which; delete all but one",
                names.len(),
                names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
            ),
        }));
    }
    // The list may lag the resource being reconciled: this one as it is now.
    let mut all: Vec<Intents> = all
        .iter()
        .filter(|i| !(i.metadata.namespace.as_deref() == Some(namespace) && i.name_any() == name))
        .cloned()
        .collect();
    all.push(intents.clone());
    if let Some(first) = first_of_namespace(&all, namespace) {
        if first.name_any() != name {
            return Ok(Err(Invalid {
                reason: "DuplicateIntents",
                message: format!(
                    "namespace `{namespace}` already has the Intents `{}` (the older one rolls out): two Intents \
                     in one namespace would share its objects; merge `{name}` into `{}` and delete it",
                    first.name_any(),
                    first.name_any()
                ),
            }));
        }
    }
    let mut namespaces: Vec<&str> = all.iter().filter_map(|i| i.metadata.namespace.as_deref()).collect();
    namespaces.sort_unstable();
    namespaces.dedup();
    let mut files = Vec::new();
    for ns in namespaces {
        if let Some(first) = first_of_namespace(&all, ns) {
            files.push(first.to_file()?);
        }
    }
    let project = projects.first();
    if let Some(project) = project {
        files.push(project.to_file()?);
    }
    let policy = project.map(|p| Policy::from(&p.spec.rollout)).unwrap_or_default();
    let ws = match Workspace::from_files(files, "in the cluster's Intents resources") {
        Ok(ws) => ws,
        Err(diags) => return Ok(Err(invalid("InvalidIntents", &diags))),
    };
    let targets = match TargetSet::resolve(ws.repository.project.as_ref(), &[]) {
        Ok(t) => t,
        Err(diags) => return Ok(Err(invalid("InvalidTargets", &diags))),
    };
    let (audit, enforce, warnings) = match palisade_engine::render::render_both(&ws, &targets) {
        Ok(done) => done,
        Err(diags) => return Ok(Err(invalid("RenderRefused", &diags))),
    };
    for warning in warnings.iter() {
        tracing::warn!(namespace, warning = %warning.render_plain().trim_end(), "compile warning");
    }
    Ok(Ok(Compiled {
        ws,
        targets,
        audit,
        enforce,
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

/// What changed since the status was written, as the state machine's inputs.
/// Only the generation itself approves (`palisade.dev/approve: "3"`).
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
    if annotations.get(APPROVE).map(|v| v.trim()) == Some(generation.to_string().as_str()) {
        out.push(Input::Approve);
    }
    if annotations.get(APPROVE_DESPITE_DROPS).map(|v| v.trim()) == Some(generation.to_string().as_str()) {
        out.push(Input::ApproveDespiteDrops);
    }
    if annotations.contains_key(ROLLBACK) && state.phase != Phase::Pending {
        out.push(Input::Rollback);
    }
    out
}

/// Why an approval annotation approves nothing, if it does not
pub fn approval_problem(intents: &Intents) -> Option<String> {
    let generation = intents.metadata.generation.unwrap_or(1);
    let value = intents.annotations().get(APPROVE)?.trim().to_string();
    if value == generation.to_string() {
        return None;
    }
    Some(if value.parse::<i64>().is_ok() {
        format!(
            "{APPROVE} is `{value}`, but the intents are now generation {generation}: it approves nothing; \
             set it to \"{generation}\" once this generation is Ready"
        )
    } else {
        format!(
            "{APPROVE} is `{value}`: it approves nothing; write the generation to approve \
             ({APPROVE}: \"{generation}\"), so that a later change is not approved with it"
        )
    })
}

/// `apiVersion/Kind/name`: how the status keys an enforced object
fn key(m: &Manifest) -> String {
    format!("{}/{}/{}", m.api_version(), m.kind(), m.name())
}

fn digests(manifests: &[Manifest]) -> BTreeMap<String, String> {
    manifests.iter().map(|m| (key(m), m.digest())).collect()
}

async fn publish(ctx: &Context, intents: &Intents, warning: bool, reason: &str, note: &str) {
    let event = Event {
        type_: if warning { EventType::Warning } else { EventType::Normal },
        reason: reason.to_string(),
        note: Some(note.chars().take(1000).collect()),
        action: "Rollout".into(),
        secondary: None,
    };
    // An Event that cannot be recorded does not stop the rollout.
    if let Err(e) = ctx.recorder.publish(&event, &intents.object_ref(&())).await {
        tracing::warn!(error = %e, reason, "cannot record an Event");
    }
}

async fn rollout(intents: &Intents, ctx: &Context) -> Result<Requeue, Error> {
    let namespace = intents.namespace_required()?.to_string();
    let name = intents.name_required()?.to_string();
    let owner = Owner::new(&namespace, &name, intents.uid_required()?);
    let now = (ctx.now)();
    let api: Api<Intents> = Api::namespaced(ctx.client.clone(), &namespace);
    let projects = Api::<Project>::all(ctx.client.clone())
        .list(&ListParams::default())
        .await?
        .items;
    let all = Api::<Intents>::all(ctx.client.clone())
        .list(&ListParams::default())
        .await?
        .items;
    let previous = intents.status.clone().unwrap_or_default();
    let compiled = match compile(intents, &all, &projects)? {
        Ok(c) => c,
        Err(problem) => {
            tracing::warn!(namespace = %namespace, reason = problem.reason, "the intents cannot be rolled out");
            ctx.metrics.fail(problem.reason);
            publish(ctx, intents, true, problem.reason, &problem.message).await;
            let mut status = previous.clone();
            status.conditions = conditions(
                &previous.conditions,
                vec![condition("Valid", "False", problem.reason, &problem.message, now)],
            );
            write_status(&api, &name, &status, ctx.dry_run).await?;
            return Ok(Requeue::requeue(Duration::from_secs(300)));
        }
    };
    let mut state = state_of(intents.status.as_ref(), now);
    let mut actions = Vec::new();
    let mut script = inputs(intents, &state);
    if let Some(report) = evidence_report(ctx, &namespace, &compiled, &state, now).await? {
        ctx.metrics
            .would_drop
            .get_or_create(&NamespaceLabels {
                namespace: namespace.clone(),
            })
            .set(i64::try_from(report.would_drop.len()).unwrap_or(i64::MAX));
        // The evidence of this reconcile is judged before any approval in it.
        script.insert(1, Input::Evidence(report));
    }
    script.push(Input::Tick);
    for input in &script {
        let (next, mut done) = rollout::step(&state, input, now, &compiled.policy);
        state = next;
        actions.append(&mut done);
    }
    if matches!(state.phase, Phase::Ready | Phase::Blocked) {
        if let Some(problem) = approval_problem(intents) {
            actions.push(Action::Event("ApprovalIgnored", problem));
        }
    }
    let own = |manifests: &[Manifest]| -> Vec<Manifest> {
        manifests
            .iter()
            .filter(|m| m.namespace() == namespace)
            .cloned()
            .collect()
    };
    let enforce = own(&compiled.enforce);
    let mut audit = own(&compiled.audit);
    let recorded = previous.enforced_digests.clone();
    let rollback = actions.iter().any(|a| matches!(a, Action::RemoveEnforce));
    if let (Some(enforced), false) = (state.enforced, rollback) {
        // A new generation that enforces exactly what is enforced (only
        // source lines moved): nothing to audit, it is enforced as it is.
        let audits_new = actions
            .iter()
            .any(|a| matches!(a, Action::ApplyAudit(g) if *g != enforced));
        if audits_new && !recorded.is_empty() && digests(&enforce) == recorded {
            let generation = state.generation;
            actions.retain(|a| !matches!(a, Action::ApplyAudit(_) | Action::Event("Auditing", _)));
            actions.push(Action::ApplyEnforce(generation));
            actions.push(Action::RemoveAudit);
            actions.push(Action::Event(
                "Enforcing",
                format!("generation {generation} enforces the same objects as generation {enforced}"),
            ));
            state.phase = Phase::Enforcing;
            state.since = now;
            state.enforced = Some(generation);
            state.would_drop.clear();
        }
    }
    // Enforcing this generation already (an approval of it approves nothing
    // more), yet what compiles for this namespace
    // changed (another namespace's Intents, or the Project). What is enforced
    // was audited and stays; the change is only audited (audit forms kept
    // off enforced objects) until a new generation of this resource is approved.
    let resumed = previous.phase == Phase::Enforcing.as_str()
        && previous.enforced_generation == Some(state.generation)
        && state.phase == Phase::Enforcing;
    // Keys of older statuses (`Kind/name`) say nothing: they are written anew below.
    let comparable = !recorded.is_empty() && recorded.keys().all(|k| k.matches('/').count() >= 2);
    let drift = resumed && comparable && digests(&enforce) != recorded;
    if drift {
        actions.retain(|a| !matches!(a, Action::ApplyEnforce(_) | Action::RemoveAudit));
        actions.push(Action::ApplyAudit(state.generation));
    }
    // While an older generation is enforced, an audit form that grants
    // anything would be enforced beside it (Cilium adds the allow rules of
    // every policy selecting an endpoint that default deny already isolates):
    // only audit forms that enforce nothing, or only take away, go on; the
    // gate judges the rest from the flows.
    let withheld: Vec<String> = if state.enforced.is_some() && !rollback {
        let (inert, granting): (Vec<Manifest>, Vec<Manifest>) = audit
            .into_iter()
            .partition(|m| kinds::inert(m) || kinds::restricts_only(m));
        audit = inert;
        granting.iter().map(Manifest::reference).collect()
    } else {
        Vec::new()
    };
    if !withheld.is_empty() && actions.iter().any(|a| matches!(a, Action::ApplyAudit(_))) {
        actions.push(Action::Event(
            "AuditFormsWithheld",
            format!(
                "not applied while generation {} is enforced (they would grant beside it; the gate judges them from the flows): {}",
                state.enforced.unwrap_or_default(),
                withheld.join(", ")
            ),
        ));
    }
    let promoted = actions.iter().any(|a| matches!(a, Action::ApplyEnforce(_)));
    let set = engine::Owned {
        owner: owner.clone(),
        namespace: namespace.clone(),
        audit,
        enforce: enforce.clone(),
    };
    let calls = engine::calls(&set, &actions);
    let applier = Applier::new(ctx.client.clone(), ctx.dry_run);
    let outcome = match engine::run(&applier, &calls).await {
        Ok(outcome) => outcome,
        Err(ApplyError::Conflict { objects }) => {
            let message = ApplyError::Conflict {
                objects: objects.clone(),
            }
            .to_string();
            tracing::warn!(namespace = %namespace, objects = ?objects, "objects palisade did not create");
            ctx.metrics.fail("Conflict");
            publish(ctx, intents, true, "Conflict", &message).await;
            // Nothing of that step happened: the state stays as recorded.
            let mut status = previous.clone();
            status.conditions = conditions(
                &previous.conditions,
                vec![
                    valid(now),
                    condition("Conflict", "True", "ObjectsNotOwned", &message, now),
                ],
            );
            write_status(&api, &name, &status, ctx.dry_run).await?;
            return Ok(Requeue::requeue(Duration::from_secs(60)));
        }
        Err(e) => return Err(e.into()),
    };
    ctx.metrics.applied.inc_by(outcome.applied as u64);
    for action in &actions {
        if let Action::Event(reason, note) = action {
            let warning = matches!(
                *reason,
                "WouldDrop" | "EvidenceGap" | "ApprovedDespiteWouldDrop" | "ApprovalIgnored"
            );
            publish(ctx, intents, warning, reason, note).await;
        }
    }
    let enforced_digests = if promoted {
        digests(&enforce)
    } else if state.enforced.is_some() {
        recorded
    } else {
        BTreeMap::new()
    };
    let enforced_message = match (state.enforced, outcome.kept_enforced.len()) {
        (Some(g), 0) => format!("generation {g} is enforced"),
        (Some(g), kept) => format!(
            "generation {g} is enforced; {kept} of its objects stay enforced as they are until generation {} is",
            state.generation
        ),
        (None, _) => format!("phase {}", state.phase.as_str()),
    };
    let status = RolloutStatus {
        phase: state.phase.as_str().into(),
        since: Some(time(state.since)),
        observed_generation: state.generation,
        conditions: conditions(
            &previous.conditions,
            vec![
                valid(now),
                condition(
                    "Enforced",
                    if state.enforced.is_some() { "True" } else { "False" },
                    state.phase.as_str(),
                    &enforced_message,
                    now,
                ),
                condition(
                    "Conflict",
                    "False",
                    "Owned",
                    "every object is palisade's for this resource",
                    now,
                ),
                if drift {
                    condition(
                        "Drift",
                        "True",
                        "CompiledObjectsChanged",
                        &format!(
                            "the cluster's intents now compile to other objects for this namespace than generation {} \
                             enforces (another namespace's Intents or the Project changed): they are audited, and \
                             enforced once a new generation of this resource is approved",
                            state.generation
                        ),
                        now,
                    )
                } else {
                    condition(
                        "Drift",
                        "False",
                        "AsEnforced",
                        "the enforced objects are what the intents compile to",
                        now,
                    )
                },
            ],
        ),
        would_drop: state.would_drop.clone(),
        enforced_generation: state.enforced,
        window_start: Some(time(state.window_start)),
        all_services_seen: state.all_services_seen,
        enforced_digests,
    };
    write_status(&api, &name, &status, ctx.dry_run).await?;
    tracing::info!(
        namespace = %namespace,
        phase = state.phase.as_str(),
        generation = state.generation,
        enforced = ?state.enforced,
        actions = actions.len(),
        applied = outcome.applied,
        deleted = outcome.deleted,
        "reconciled"
    );
    ctx.metrics.set_phase(&namespace, state.phase);
    ctx.metrics.ready.store(true, std::sync::atomic::Ordering::Relaxed);
    Ok(Requeue::requeue(Duration::from_secs(60)))
}

/// The namespace's CronJobs: the evidence window must cover one period of
/// each. A CronJob API that is not served (404) has none; any other failure
/// stops the reconcile, since a gate that cannot see the jobs cannot pass.
/// The namespace's evidence report, from the store's window or the
/// followed feed; none without either
async fn evidence_report(
    ctx: &Context,
    namespace: &str,
    compiled: &Compiled,
    state: &State,
    now: i64,
) -> Result<Option<EvidenceReport>, Error> {
    if ctx.store.is_none() && ctx.feed.is_none() {
        return Ok(None);
    }
    // Read before the feed is locked: the API call may take a while.
    let cron_jobs = cron_jobs(&ctx.client, namespace).await?;
    let enforce: Vec<(&dyn Dialect, &[Manifest])> = compiled
        .targets
        .iter()
        .map(|d| (*d, compiled.enforce.as_slice()))
        .collect();
    let since_ms = state.window_start.saturating_mul(1000);
    // The project's minimum window and waivers: the verdict `palisade audit` prints.
    let requirements = palisade_evidence::Requirements::new(compiled.ws.repository.project.as_ref())
        .with_max_gap(compiled.policy.max_gap_seconds, "maxGapSeconds")
        .since(since_ms)
        .with_cron_jobs(Some(&ClusterModel {
            cron_jobs,
            ..ClusterModel::default()
        }));
    let judged = Judged {
        namespace,
        ir: &compiled.ws.ir,
        enforce: &enforce,
        now_ms: now.saturating_mul(1000),
        requirements: &requirements,
    };
    if let Some(store) = &ctx.store {
        let evidence = store.evidence(since_ms, judged.now_ms).await?;
        // The window starts again after a gap: what was lost in it is
        // what was lost since the last one.
        let lost = evidence.reads.iter().any(|r| r.lost > 0 || r.malformed > 0);
        return Ok(Some(feed::report(&evidence, lost, &judged)));
    }
    let Some(feed) = &ctx.feed else { return Ok(None) };
    let feed = feed.lock().await;
    let before = ctx.lost_seen.lock().await.get(namespace).copied().unwrap_or(0);
    let report = feed.report(
        namespace,
        judged.ir,
        judged.enforce,
        judged.now_ms,
        before,
        judged.requirements,
    );
    ctx.lost_seen.lock().await.insert(namespace.to_string(), feed.lost);
    Ok(Some(report))
}

async fn cron_jobs(client: &Client, namespace: &str) -> Result<Vec<CronJob>, Error> {
    let api: Api<k8s_openapi::api::batch::v1::CronJob> = Api::namespaced(client.clone(), namespace);
    let listed = match api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(kube::Error::Api(e)) if e.code == 404 => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    Ok(listed
        .into_iter()
        .filter_map(|job| {
            let spec = job.spec?;
            Some(CronJob {
                namespace: namespace.to_string(),
                name: job.metadata.name?,
                schedule: spec.schedule,
                time_zone: spec.time_zone,
            })
        })
        .collect())
}

/// Deleting an Intents resource: audit objects go first, then enforcement;
/// only objects proved this resource's (its UID) are deleted
async fn cleanup(intents: &Intents, ctx: &Context) -> Result<Requeue, Error> {
    let namespace = intents.namespace_required()?;
    let owner = Owner::new(namespace, intents.name_required()?, intents.uid_required()?);
    let kinds = engine::prune_kinds(namespace);
    let applier = Applier::new(ctx.client.clone(), ctx.dry_run);
    for stage in [crate::apply::Stage::Audit, crate::apply::Stage::Enforce] {
        applier.prune(&owner, stage, namespace, &kinds, &[]).await?;
    }
    Ok(Requeue::await_change())
}

fn valid(now: i64) -> Condition {
    condition(
        "Valid",
        "True",
        "Compiled",
        "the cluster's intents compile for the project's targets",
        now,
    )
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

/// `fresh`, each keeping the transition time it had while its status is
/// unchanged (so an unchanged status writes the same object again)
fn conditions(previous: &[Condition], fresh: Vec<Condition>) -> Vec<Condition> {
    fresh
        .into_iter()
        .map(|mut c| {
            if let Some(before) = previous.iter().find(|p| p.kind == c.kind && p.status == c.status) {
                c.last_transition_time.clone_from(&before.last_transition_time);
            }
            c
        })
        .collect()
}

async fn write_status(api: &Api<Intents>, name: &str, status: &RolloutStatus, dry_run: bool) -> Result<(), Error> {
    // palisade owns the status: force takes fields another writer set.
    let params = PatchParams {
        dry_run,
        ..PatchParams::apply(crate::apply::FIELD_MANAGER).force()
    };
    let patch = serde_json::json!({
        "apiVersion": "palisade.dev/v1alpha1",
        "kind": "Intents",
        "status": status,
    });
    api.patch_status(name, &params, &Patch::Apply(&patch)).await?;
    Ok(())
}

/// Used by `kube::runtime` to name the controller in Events
pub fn reporter(identity: &str) -> kube::runtime::events::Reporter {
    kube::runtime::events::Reporter {
        controller: "palisade-controller".into(),
        instance: Some(identity.into()),
    }
}
