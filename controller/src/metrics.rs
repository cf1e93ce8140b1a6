//! Prometheus metrics and the health endpoints: `/metrics` (objects applied,
//! would-drop flows and the phase per namespace, failed reconciles by
//! reason, how long reconciles take), `/healthz` (the process answers),
//! `/readyz` (this replica leads and has reconciled).

use prometheus_client::{
    encoding::{text::encode, EncodeLabelSet},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{exponential_buckets, Histogram},
    },
    registry::Registry,
};
use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

/// Labels of the per-namespace metrics
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NamespaceLabels {
    /// the namespace
    pub namespace: String,
}

/// Labels of the failure metric
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// why (`Conflict`, `ApiError`, `InvalidIntents`, ...)
    pub reason: String,
}

/// Labels of the phase metric
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    /// the namespace
    pub namespace: String,
    /// the phase
    pub phase: String,
}

/// The controller's metrics
pub struct Metrics {
    registry: Registry,
    /// objects applied (server-side apply calls that succeeded)
    pub applied: Counter,
    /// would-drop flows per namespace, at the last evidence report
    pub would_drop: Family<NamespaceLabels, Gauge>,
    /// 1 for the namespace's current phase, 0 for the others
    pub phase: Family<PhaseLabels, Gauge>,
    /// reconciles that failed or stopped short, by reason
    pub failures: Family<ReasonLabels, Counter>,
    /// how long each reconcile took (seconds)
    pub reconcile_duration: Histogram,
    /// whether this replica leads and has reconciled once
    pub ready: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("palisade");
        let applied = Counter::default();
        let would_drop = Family::<NamespaceLabels, Gauge>::default();
        let phase = Family::<PhaseLabels, Gauge>::default();
        let failures = Family::<ReasonLabels, Counter>::default();
        // 5 ms to about 40 s: one namespace, or a cluster's worth of intents compiled
        let reconcile_duration = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        registry.register(
            "objects_applied",
            "Objects applied by server-side apply",
            applied.clone(),
        );
        registry.register(
            "would_drop_flows",
            "Observed flows enforcement would drop",
            would_drop.clone(),
        );
        registry.register(
            "rollout_phase",
            "The rollout phase of each namespace (1 = current)",
            phase.clone(),
        );
        registry.register(
            "reconcile_failures",
            "Reconciles that failed or stopped short, by reason",
            failures.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "How long a reconcile took",
            reconcile_duration.clone(),
        );
        Self {
            registry,
            applied,
            would_drop,
            phase,
            failures,
            reconcile_duration,
            ready: AtomicBool::new(false),
        }
    }
}

impl Metrics {
    /// Record a namespace's phase
    pub fn set_phase(&self, namespace: &str, phase: crate::rollout::Phase) {
        for p in ["Pending", "Auditing", "Ready", "Enforcing", "Blocked"] {
            let value = i64::from(p == phase.as_str());
            self.phase
                .get_or_create(&PhaseLabels {
                    namespace: namespace.into(),
                    phase: p.into(),
                })
                .set(value);
        }
    }

    /// Count one failure
    pub fn fail(&self, reason: &str) {
        self.failures
            .get_or_create(&ReasonLabels { reason: reason.into() })
            .inc();
    }

    /// The text exposition format
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String does not fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Serve `/metrics`, `/healthz` and `/readyz` on `address` until the process ends
pub async fn serve(address: std::net::SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<()> {
    use axum::{http::StatusCode, routing::get, Router};
    let for_metrics = metrics.clone();
    let app = Router::new()
        .route("/metrics", get(move || async move { for_metrics.render() }))
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || async move {
                if metrics.ready.load(Ordering::Relaxed) {
                    (StatusCode::OK, "ready")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "not leading or not reconciled yet")
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind(address).await?;
    axum::serve(listener, app).await
}
