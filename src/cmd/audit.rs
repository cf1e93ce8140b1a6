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
use palisade_evidence::{cron::human, AuditOptions, AuditReport, Evidence, Requirements, Verdict};
use palisade_intents::{Diag, Diags};
use palisade_targets::{Dialect, Manifest, Mode};
use std::collections::BTreeMap;

/// Arguments of `palisade audit`
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    intents: workspace::IntentsArgs,
    #[command(flatten)]
    flows: FlowArgs,
    /// text, markdown (a pull-request or ticket comment) or json
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    #[command(flatten)]
    gap: crate::flows::GapArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Markdown,
    Json,
}

/// The audit of `evidence` against the enforce manifests `rendered` from `ws`
pub(crate) fn judge(
    ws: &workspace::Workspace,
    rendered: &[(&'static str, Vec<Manifest>)],
    evidence: &Evidence,
    cluster: Option<&ClusterModel>,
    max_gap_minutes: i64,
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
    palisade_evidence::audit(
        evidence,
        &ws.ir,
        &files,
        cluster,
        &borrowed,
        AuditOptions { max_gap_minutes },
    )
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
    let report = judge(ws, rendered, evidence, cluster, max_gap_minutes);
    let evidence = verdict(ws, evidence, cluster, max_gap_minutes);
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
        "evidence: window {window}, minimum {}; {} service{} seen",
        human(verdict.min_window_seconds),
        verdict.seen.len(),
        if verdict.seen.len() == 1 { "" } else { "s" }
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

const TEMPLATE: &str = include_str!("../templates/audit.md.hbs");

/// Audit and print
pub fn run(args: &Args, sink: &mut Diags) -> Exit {
    let Some((ws, _, rendered)) = workspace::load_and_render(&args.intents, Mode::Enforce, sink) else {
        return Exit::Input;
    };
    let Some((evidence, cluster)) = args.flows.read_for_gate(sink) else {
        return Exit::Input;
    };
    let result = gate(&ws, &rendered, &evidence, cluster.as_ref(), args.gap.max_gap);
    let text = match args.output {
        Output::Text => text(&result.report) + "\n" + &verdict_text(&result.evidence),
        Output::Json => serde_json::to_string_pretty(&result).unwrap_or_default() + "\n",
        Output::Markdown => {
            let mut engine = handlebars::Handlebars::new();
            engine.register_escape_fn(handlebars::no_escape);
            match engine.render_template(TEMPLATE, &result) {
                Ok(text) => text,
                Err(e) => {
                    sink.push(Diag::error(
                        "bad_template",
                        format!("the audit report does not render: {e}"),
                    ));
                    return Exit::Input;
                }
            }
        }
    };
    print!("{text}");
    if result.passes {
        Exit::Ok
    } else {
        Exit::WouldDrop
    }
}

fn text(report: &AuditReport) -> String {
    let breaking = report.groups.iter().filter(|g| g.works_today).count();
    let mut out = format!(
        "palisade audit: {} connections judged against the enforce manifests of {}\n",
        report.judged,
        report.targets.join(", ")
    );
    if report.groups.is_empty() {
        out.push_str("nothing observed would be dropped\n");
    } else {
        out.push_str(&format!(
            "{breaking} workload pair{} would lose traffic that works today{}:\n",
            if breaking == 1 { "" } else { "s" },
            match report.groups.len() - breaking {
                0 => String::new(),
                n => format!(" ({n} more already dropped today)"),
            }
        ));
    }
    for group in &report.groups {
        let when = match (&group.first_seen, &group.last_seen) {
            (Some(a), Some(b)) if a == b => format!(", at {a}"),
            (Some(a), Some(b)) => format!(", {a} .. {b}"),
            _ => String::new(),
        };
        let state = if group.works_today {
            ""
        } else {
            " [already dropped today]"
        };
        out.push_str(&format!(
            "\n  {} -> {}  ({} connection{}{when}){state}\n",
            group.source,
            group.destination,
            group.count,
            if group.count == 1 { "" } else { "s" }
        ));
        for d in &group.dropped {
            let request = d.request.as_deref().map(|r| format!(" {r}")).unwrap_or_default();
            out.push_str(&format!("    {}{request}: {} seen\n", d.port, d.count));
            for (target, rules) in &d.dropped_by {
                out.push_str(&format!("      {target} drops it: {}\n", rules.join("; ")));
            }
        }
        out.push_str(&format!(
            "    to admit it, add to {}:\n      - {}\n",
            group.add_to, group.intent
        ));
    }
    if !report.not_judged.is_empty() {
        out.push_str("\nnot judged:\n");
        for (why, n) in &report.not_judged {
            out.push_str(&format!("  {n} connection{}: {why}\n", if *n == 1 { "" } else { "s" }));
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
