//! `palisade report DIR [--flows FILE] --out report.html`: compile, verify and
//! (with flows) audit, on one self-contained page: per namespace its posture,
//! services and edges with the rule each target rendered, what each target can
//! and cannot express here, the would-drop flows, and the service map.

use crate::{
    cmd::graph::{write_out, Observed},
    graph::{self, ServiceMap},
    workspace, Exit,
};
use palisade_evidence::AuditReport;
use palisade_intents::{Diag, Diags};
use palisade_targets::{Dialect, Manifest, Mode};
use serde::Serialize;
use std::path::PathBuf;

/// Arguments of `palisade report`
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    intents: workspace::IntentsArgs,
    #[command(flatten)]
    observed: Observed,
    /// The HTML file to write (default: stdout)
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Serialize)]
struct Page<'a> {
    title: String,
    targets: Vec<&'static str>,
    verification: Verification,
    expressible: Vec<Expressible>,
    namespaces: Vec<Namespace<'a>>,
    audit: Option<&'a AuditReport>,
    would_drop: usize,
    /// the audit's table of drops starts open when it is short
    audit_open: bool,
    audit_pairs: usize,
    style: &'static str,
    script: &'static str,
    data: String,
}

#[derive(Serialize)]
struct Verification {
    passed: bool,
    compared: usize,
    mismatches: Vec<String>,
}

/// One target: what it can say at all, and what it refuses of these intents
#[derive(Serialize)]
struct Expressible {
    target: &'static str,
    in_project: bool,
    objects: usize,
    fqdn: &'static str,
    l7: bool,
    audit: &'static str,
    refusals: Vec<Refusal>,
}

#[derive(Serialize)]
struct Refusal {
    at: String,
    message: String,
    help: String,
}

#[derive(Serialize)]
struct Namespace<'a> {
    name: String,
    posture: String,
    services: Vec<Service>,
    edges: Vec<&'a graph::MapEdge>,
    /// the infrastructure its pods may reach (`dns`, `kube-api`...), per edge
    baseline: Vec<&'a graph::MapEdge>,
    /// short sections start open; long ones are one click away
    open: bool,
    /// for the folded section's title
    service_count: usize,
    edge_count: usize,
}

/// Sections with more rows than this start collapsed
const OPEN_ROWS: usize = 12;

#[derive(Serialize)]
struct Service {
    name: String,
    selector: String,
    ports: String,
}

/// Build the page
pub fn run(args: &Args, sink: &mut Diags) -> Exit {
    let Some((ws, dialects, rendered)) = workspace::load_and_render(&args.intents, Mode::Enforce, sink) else {
        return Exit::Input;
    };
    let audit = match args.observed.audit(&ws, &rendered, sink) {
        Ok(audit) => audit,
        Err(exit) => return exit,
    };
    let map = ServiceMap::new(&ws.ir, &rendered, audit.as_ref());
    let model = palisade_compiler::model::synthesize(&ws.ir);
    let borrowed: Vec<(&dyn Dialect, &[Manifest])> = rendered
        .iter()
        .filter_map(|(id, m)| palisade_targets::dialect(id).map(|d| (d, m.as_slice())))
        .collect();
    let verified = palisade_targets::verify::verify(&ws.ir, &model, &borrowed);
    let page = Page {
        title: format!("palisade report: {}", args.intents.dir.display()),
        targets: dialects.iter().map(|d| d.id()).collect(),
        verification: Verification {
            passed: verified.mismatches.is_empty(),
            compared: verified.compared,
            mismatches: verified.mismatches.iter().map(ToString::to_string).collect(),
        },
        expressible: expressible(&ws, &rendered),
        namespaces: ws.ir.namespaces.values().map(|ns| namespace(ns, &map)).collect(),
        would_drop: audit
            .as_ref()
            .map_or(0, |a| a.groups.iter().filter(|g| g.works_today).count()),
        audit_open: audit.as_ref().is_none_or(|a| a.groups.len() <= OPEN_ROWS),
        audit_pairs: audit.as_ref().map_or(0, |a| a.groups.len()),
        audit: audit.as_ref(),
        style: graph::GRAPH_CSS,
        script: graph::GRAPH_JS,
        data: map.embedded_json(),
    };
    let html = graph::engine().and_then(|engine| engine.render_template(TEMPLATE, &page));
    match html {
        Ok(html) => write_out(args.out.as_deref(), &html, sink),
        Err(e) => {
            sink.push(Diag::error("bad_template", format!("the report does not render: {e}")));
            Exit::Input
        }
    }
}

const TEMPLATE: &str = include_str!("../templates/report.html.hbs");

/// One namespace's section: its services (named ports with their numbers),
/// its edges and its baseline
fn namespace<'a>(ns: &palisade_compiler::ir::NamespaceIr, map: &'a ServiceMap) -> Namespace<'a> {
    let from_here = |e: &&graph::MapEdge| e.from.split_once('/').is_some_and(|(n, _)| n == ns.name);
    let (baseline, edges): (Vec<&graph::MapEdge>, Vec<&graph::MapEdge>) =
        map.edges.iter().filter(from_here).partition(|e| e.baseline);
    let services: Vec<Service> = ns
        .services
        .values()
        .map(|s| Service {
            name: s.name.clone(),
            selector: s
                .selector
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", "),
            ports: s.ports.values().map(graph::port_text).collect::<Vec<_>>().join(", "),
        })
        .collect();
    Namespace {
        name: ns.name.clone(),
        posture: graph::posture_name(ns.posture),
        open: services.len() + edges.len() <= OPEN_ROWS,
        service_count: services.len(),
        edge_count: edges.len(),
        services,
        edges,
        baseline,
    }
}

/// Every dialect, rendered on its own: the project's targets and the others,
/// so the page says what a move to another target would refuse
fn expressible(ws: &workspace::Workspace, rendered: &[(&'static str, Vec<Manifest>)]) -> Vec<Expressible> {
    palisade_targets::DIALECTS
        .iter()
        .map(|dialect| {
            let in_project = rendered.iter().find(|(id, _)| *id == dialect.id());
            let (objects, refusals) = match in_project {
                Some((_, manifests)) => (manifests.len(), Vec::new()),
                None => {
                    let alone = palisade_engine::TargetSet::of(vec![*dialect]);
                    match palisade_engine::render::render_ir(&ws.ir, &alone, Mode::Enforce, |m| m.len()) {
                        (rendered, diags) if !diags.has_errors() => (rendered.iter().map(|(_, n)| n).sum(), Vec::new()),
                        (_, diags) => (
                            0,
                            diags
                                .iter()
                                .filter(|d| d.is_error())
                                .map(|d| Refusal {
                                    at: d.loc().map(ToString::to_string).unwrap_or_default(),
                                    message: d.message().to_string(),
                                    help: d.help_text().unwrap_or_default().to_string(),
                                })
                                .collect(),
                        ),
                    }
                }
            };
            let capabilities = dialect.capabilities();
            Expressible {
                target: dialect.id(),
                in_project: in_project.is_some(),
                objects,
                fqdn: capabilities.fqdn.describe(),
                l7: capabilities.l7_http,
                audit: capabilities.audit,
                refusals,
            }
        })
        .collect()
}
