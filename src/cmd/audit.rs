//! `palisade audit DIR --flows FILE`: the promotion gate. Every observed
//! conversation is decided by each target's enforce manifests; what they would
//! drop is listed per workload pair with the allow line that admits it. The
//! evidence itself is judged by the same verdict `rollout --stage auto` and
//! the controller use: every service seen or waived, a window of at least the
//! minimum that covers each CronJob's period, no gap over `--max-gap`. Exit 3
//! when enforcing would drop something that works today, or when the evidence
//! is not enough to tell.

use crate::{flows::FlowArgs, workspace, Exit};
use clap::ValueEnum;
use palisade_compiler::model::ClusterModel;
use palisade_evidence::{
    audit::{Blocker, Group, Summary, Tally, WouldDrop},
    cron::human,
    plural, AuditOptions, AuditReport, Evidence, Requirements, Verdict,
};
use palisade_intents::{Diag, Diags};
use palisade_targets::{Dialect, Manifest, Mode};
use std::{collections::BTreeMap, io::Write};

/// Arguments of `palisade audit`
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    intents: workspace::IntentsArgs,
    #[command(flatten)]
    flows: FlowArgs,
    /// text, markdown (a pull-request or ticket comment) or json
    #[arg(long, short, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// Suggest allow lines for flows the layer drops today as well
    ///
    /// By default only what works today gets a line to paste: what is
    /// dropped today is often dropped on purpose. The summary counts both.
    #[arg(long)]
    suggest_dropped: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Markdown,
    Json,
}

/// The audit of `evidence` against the enforce manifests `rendered` from
/// `ws`, suggesting lines only for what works today
pub(crate) fn judge(
    ws: &workspace::Workspace,
    rendered: &[(&'static str, Vec<Manifest>)],
    evidence: &Evidence,
    cluster: Option<&ClusterModel>,
    max_gap_minutes: i64,
) -> AuditReport {
    let options = AuditOptions {
        max_gap_minutes,
        ..AuditOptions::default()
    };
    judge_with(ws, rendered, evidence, cluster, options)
}

fn judge_with(
    ws: &workspace::Workspace,
    rendered: &[(&'static str, Vec<Manifest>)],
    evidence: &Evidence,
    cluster: Option<&ClusterModel>,
    options: AuditOptions,
) -> AuditReport {
    let files: BTreeMap<String, String> = ws
        .repository
        .intents
        .iter()
        .map(|i| (i.namespace.value.clone(), i.namespace.loc.file.path.clone()))
        .collect();
    let borrowed: Vec<(&dyn Dialect, &[Manifest])> = rendered
        .iter()
        .filter_map(|(id, m)| palisade_targets::dialect(id).map(|d| (d, m.as_slice())))
        .collect();
    palisade_evidence::audit(evidence, &ws.ir, &files, cluster, &borrowed, options)
}

/// The gate: what enforcing would drop, and whether the evidence suffices
#[derive(serde::Serialize)]
pub(crate) struct Gate {
    /// the audit
    #[serde(flatten)]
    pub report: AuditReport,
    /// the verdict on the evidence
    pub evidence: Verdict,
    /// nothing would be dropped and the evidence suffices
    pub passes: bool,
}

/// The evidence's verdict for every namespace of `ws`: the one `audit`,
/// `rollout --stage auto` and (per namespace) the controller judge by
pub(crate) fn verdict(
    ws: &workspace::Workspace,
    evidence: &Evidence,
    cluster: Option<&ClusterModel>,
    max_gap_minutes: i64,
) -> Verdict {
    let requirements = Requirements::new(ws.repository.project.as_ref())
        .with_max_gap(max_gap_minutes.saturating_mul(60), "--max-gap")
        .with_cron_jobs(cluster);
    palisade_evidence::sufficiency::judge(evidence, &ws.ir, cluster, None, &requirements)
}

/// The audit and the verdict; the gate passes only when both do
pub(crate) fn gate(
    ws: &workspace::Workspace,
    rendered: &[(&'static str, Vec<Manifest>)],
    evidence: &Evidence,
    cluster: Option<&ClusterModel>,
    max_gap_minutes: i64,
) -> Gate {
    let options = AuditOptions {
        max_gap_minutes,
        ..AuditOptions::default()
    };
    gate_with(ws, rendered, evidence, cluster, options)
}

fn gate_with(
    ws: &workspace::Workspace,
    rendered: &[(&'static str, Vec<Manifest>)],
    evidence: &Evidence,
    cluster: Option<&ClusterModel>,
    options: AuditOptions,
) -> Gate {
    let report = judge_with(ws, rendered, evidence, cluster, options);
    let evidence = verdict(ws, evidence, cluster, options.max_gap_minutes);
    Gate {
        passes: evidence.passes && !report.would_break(),
        report,
        evidence,
    }
}

/// The verdict as `audit` and `rollout` print it
pub(crate) fn verdict_text(verdict: &Verdict) -> String {
    let window = match (&verdict.window.first, &verdict.window.last) {
        (Some(a), Some(b)) => format!("{} ({a} .. {b})", human(verdict.window.seconds)),
        _ => "empty".to_string(),
    };
    let mut out = format!(
        "evidence: window {window}, minimum {}; {} seen",
        human(verdict.min_window_seconds),
        plural(verdict.seen.len(), "service")
    );
    if verdict.passes {
        out.push_str(": enough to judge by\n");
    } else {
        out.push_str(&format!(
            "\nthe evidence is not enough to judge by; missing:\n{}",
            verdict
                .missing
                .iter()
                .map(|m| format!("  - {}\n", m.message))
                .collect::<String>()
        ));
    }
    for job in &verdict.cron_jobs {
        if let Some(seconds) = job.seconds {
            out.push_str(&format!(
                "CronJob {} runs at least every {}\n",
                job.cron_job,
                human(seconds)
            ));
        }
    }
    for w in &verdict.waived {
        out.push_str(&format!("waived by the project: {} ({})\n", w.service, w.reason));
    }
    out
}

/// Whether the gate passes, and why, in one sentence: what `audit` prints
/// first and `rollout --stage auto` says when it decides
pub(crate) fn outcome(gate: &Gate) -> (&'static str, String) {
    let summary = &gate.report.summary;
    let drops = match (summary.would_drop.flows, summary.dropped_today.flows) {
        (0, 0) => "nothing observed would be dropped".to_string(),
        (0, dropped) => format!(
            "enforcing would drop nothing allowed today ({} dropped today already)",
            plural(dropped, "flow")
        ),
        (n, _) => format!("enforcing would drop {} allowed today", plural(n, "flow")),
    };
    let evidence = match (summary.would_drop.flows, gate.evidence.passes) {
        (0, true) => ", and the evidence is enough to judge by",
        (0, false) => ", but the evidence is not enough to judge by",
        (_, true) => "",
        (_, false) => ", and the evidence is not enough to judge by",
    };
    (if gate.passes { "passes" } else { "holds" }, drops + evidence)
}

const TEMPLATE: &str = include_str!("../templates/audit.md.hbs");

handlebars::handlebars_helper!(plural_helper: |n: u64, noun: str| plural(n, noun));

/// What the markdown template reads: the gate as JSON shows it, and the
/// sentences the text output opens with
#[derive(serde::Serialize)]
struct Page<'a> {
    #[serde(flatten)]
    gate: &'a Gate,
    outcome: &'static str,
    reason: String,
    suggest_dropped: bool,
}

fn markdown(gate: &Gate, suggest_dropped: bool) -> Result<String, handlebars::RenderError> {
    let mut engine = handlebars::Handlebars::new();
    engine.register_escape_fn(handlebars::no_escape);
    engine.register_helper("plural", Box::new(plural_helper));
    let (outcome, reason) = outcome(gate);
    let page = Page {
        gate,
        outcome,
        reason,
        suggest_dropped,
    };
    engine.render_template(TEMPLATE, &page)
}

/// Audit and print
pub fn run(args: &Args, sink: &mut Diags) -> Exit {
    let Some((ws, _, rendered)) = workspace::load_and_render(&args.intents, Mode::Enforce, sink) else {
        return Exit::Input;
    };
    let Some((evidence, cluster)) = args.flows.read_for_gate(sink) else {
        return Exit::Input;
    };
    let options = AuditOptions {
        max_gap_minutes: args.flows.max_gap,
        suggest_dropped: args.suggest_dropped,
    };
    let result = gate_with(&ws, &rendered, &evidence, cluster.as_ref(), options);
    let text = match args.output {
        Output::Text => Some(text(&result, args.suggest_dropped) + "\n" + &verdict_text(&result.evidence)),
        Output::Json => None,
        Output::Markdown => match markdown(&result, args.suggest_dropped) {
            Ok(text) => Some(text),
            Err(e) => {
                sink.push(Diag::error(
                    "bad_template",
                    format!("the audit report does not render: {e}"),
                ));
                return Exit::Input;
            }
        },
    };
    // The JSON of a week is hundreds of megabytes: written as it is
    // serialised, never held whole.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let written = match &text {
        Some(text) => out.write_all(text.as_bytes()),
        None => serde_json::to_writer_pretty(&mut out, &result)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n")),
    }
    .and_then(|()| out.flush());
    match written {
        // A closed pipe (`| head`) is the reader's choice, not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Exit::ClosedPipe,
        Err(e) => {
            sink.push(Diag::error("io", format!("cannot write the audit report: {e}")));
            Exit::Input
        }
        Ok(()) if result.passes => Exit::Ok,
        Ok(()) => Exit::WouldDrop,
    }
}

/// The summary, then each pair that would be dropped
fn text(gate: &Gate, suggest_dropped: bool) -> String {
    let report = &gate.report;
    let (outcome, reason) = outcome(gate);
    let mut out = format!("palisade audit: the gate {outcome}: {reason}\n");
    out.push_str(&summary(gate, suggest_dropped));
    // INVARIANT: `groups` and `would_drop` list the same pairs in the same order.
    let (working, dropped): (Vec<_>, Vec<_>) = report
        .groups
        .iter()
        .zip(&report.would_drop)
        .partition(|(g, _)| g.works_today);
    if !working.is_empty() {
        out.push_str(&format!(
            "\nwould drop, allowed today ({}):\n",
            plural(working.len(), "pair")
        ));
        out.extend(working.into_iter().map(group_text));
    }
    if !dropped.is_empty() {
        out.push_str(&format!(
            "\nall of it dropped today already ({}{}):\n",
            plural(dropped.len(), "pair"),
            if suggest_dropped {
                ""
            } else {
                "; no line suggested, --suggest-dropped asks for one"
            }
        ));
        out.extend(dropped.into_iter().map(group_text));
    }
    if !report.not_judged.is_empty() {
        out.push_str("\nnot judged:\n");
        for (why, n) in &report.not_judged {
            out.push_str(&format!("  {}: {why}\n", plural(*n, "flow")));
        }
    }
    if !report.warnings.is_empty() {
        out.push_str("\nevidence warnings:\n");
        for w in &report.warnings {
            out.push_str(&format!("  - {w}\n"));
        }
    }
    out
}

/// `3 flows of 2 pairs`, `none`
fn tally(t: Tally) -> String {
    if t.flows == 0 {
        "none".to_string()
    } else {
        format!("{} of {}", plural(t.flows, "flow"), plural(t.pairs, "pair"))
    }
}

/// The counts a reader wants before any detail
fn summary(gate: &Gate, suggest_dropped: bool) -> String {
    let s = &gate.report.summary;
    let mut out = format!(
        "  observed:       {} between {}, judged against the enforce manifests of {}\n",
        plural(s.observed.flows, "flow"),
        plural(s.observed.pairs, "workload pair"),
        gate.report.targets.join(", ")
    );
    let working = if s.would_drop.flows == 0 { "" } else { ", allowed today" };
    out.push_str(&format!("  would drop:     {}{working}\n", tally(s.would_drop)));
    let note = match (s.dropped_today.flows, suggest_dropped) {
        (0, _) => "",
        (_, false) => " (enforcing keeps dropping them; no line suggested)",
        (_, true) => " (enforcing keeps dropping them; lines suggested, as asked)",
    };
    out.push_str(&format!("  dropped today:  {}{note}\n", tally(s.dropped_today)));
    out.push_str(&offenders(s));
    let evidence = if gate.evidence.passes {
        "enough to judge by".to_string()
    } else {
        format!(
            "not enough to judge by ({} missing, listed at the end)",
            plural(gate.evidence.missing.len(), "piece")
        )
    };
    out.push_str(&format!("  evidence:       {evidence}\n"));
    out
}

/// The worst pairs, one a line, in aligned columns
fn offenders(s: &Summary) -> String {
    let pairs: Vec<(String, String)> = s
        .top
        .iter()
        .map(|o| (plural(o.flows, "flow"), format!("{} -> {}", o.source, o.destination)))
        .collect();
    let width =
        |column: fn(&(String, String)) -> &String| pairs.iter().map(|p| column(p).chars().count()).max().unwrap_or(0);
    let (flows_width, pair_width) = (width(|p| &p.0), width(|p| &p.1));
    let mut out = String::new();
    for (i, (o, (flows, pair))) in s.top.iter().zip(&pairs).enumerate() {
        let label = if i == 0 {
            "  top offenders:  "
        } else {
            "                  "
        };
        out.push_str(&format!(
            "{label}{flows:<flows_width$}  {pair:<pair_width$}  {}\n",
            o.ports.join(", ")
        ));
    }
    if s.would_drop.pairs > s.top.len() {
        out.push_str(&format!(
            "                  ... and {}\n",
            plural(s.would_drop.pairs - s.top.len(), "more pair")
        ));
    }
    out
}

/// One pair: its ports, what drops each, and the line that admits it
fn group_text((group, drop): (&Group, &WouldDrop)) -> String {
    let when = match (&group.first_seen, &group.last_seen) {
        (Some(a), Some(b)) if a == b => format!(", at {a}"),
        (Some(a), Some(b)) => format!(", {a} .. {b}"),
        _ => String::new(),
    };
    let mut out = format!(
        "\n  {} -> {}  ({}{when})\n",
        group.source,
        group.destination,
        plural(group.count, "flow")
    );
    for d in &group.dropped {
        let request = d.request.as_deref().map(|r| format!(" {r}")).unwrap_or_default();
        let today = match d.observed.get("dropped").copied().unwrap_or(0) {
            0 => String::new(),
            n if n == d.count => ", all dropped today".to_string(),
            n => format!(", {n} dropped today"),
        };
        out.push_str(&format!(
            "    {}{request}: {}{today}\n",
            d.port,
            plural(d.count, "flow")
        ));
        let port = format!("{}{request}", d.port);
        for b in drop.dropped_by.iter().filter(|b| b.ports.contains(&port)) {
            out.push_str(&format!("      {}\n", blocker_text(b)));
        }
    }
    if !group.intent.is_empty() {
        out.push_str(&format!(
            "    to admit it, add to {}:\n      - {}\n",
            group.add_to, group.intent
        ));
    }
    out
}

/// `cilium drops it: CiliumNetworkPolicy shop/backend default deny (egress)
/// (from intents/shop.yaml#backend-... and 3 more)`: a default-deny object
/// names every intent of its namespace, noise here (the JSON has them all)
fn blocker_text(b: &Blocker) -> String {
    let object = match &b.namespace {
        Some(ns) => format!("{} {ns}/{}", b.kind, b.name),
        None => format!("{} {}", b.kind, b.name),
    };
    let from = match &b.sources[..] {
        [] => String::new(),
        [one] => format!(" (from {one})"),
        [first, rest @ ..] => format!(" (from {first} and {} more)", rest.len()),
    };
    format!("{} drops it: {object} {}{from}", b.target, b.rule)
}
