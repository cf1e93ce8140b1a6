//! `palisade check DIR`: load, resolve and check intents; write nothing.
//! `-o json|sarif` writes the diagnostics as one document on stdout for CI.

use crate::{
    report::{self, sarif, Output},
    workspace, Exit,
};
use palisade_intents::Diags;

/// Arguments of `palisade check`
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    intents: workspace::IntentsArgs,
    /// Read the intents as they are at this git revision (no checkout needed)
    #[arg(long)]
    rev: Option<String>,
    /// How the result is written: text (on stderr), or one document on stdout holding every diagnostic: json, or sarif (SARIF 2.1.0, for code scanning)
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT", default_value_t)]
    output: Output,
}

/// What a clean check covered
struct Checked {
    targets: Vec<&'static str>,
    namespaces: usize,
    services: usize,
    edges: usize,
}

/// Check, print diagnostics, and say what was found
pub fn run(args: &Args, sink: &mut Diags) -> Exit {
    let mut diags = Diags::new();
    let checked = check(args, &mut diags);
    let exit = match &checked {
        Some(_) if !diags.has_errors() => Exit::Ok,
        _ => Exit::Input,
    };
    match args.output {
        Output::Text => {
            sink.extend(diags);
            if let (Some(c), Exit::Ok) = (&checked, exit) {
                eprintln!(
                    "palisade: {} namespace(s), {} service(s), {} edge(s) checked for {}: ok",
                    c.namespaces,
                    c.services,
                    c.edges,
                    c.targets.join(", ")
                );
            }
        }
        Output::Json => report::document(&serde_json::json!({
            "ok": exit == Exit::Ok,
            "targets": checked.as_ref().map(|c| &c.targets),
            "namespaces": checked.as_ref().map(|c| c.namespaces),
            "services": checked.as_ref().map(|c| c.services),
            "edges": checked.as_ref().map(|c| c.edges),
            "diagnostics": diags.iter().map(report::diag_json).collect::<Vec<_>>(),
        })),
        Output::Sarif => {
            let entries: Vec<sarif::Entry> = diags.iter().map(sarif::Entry::of).collect();
            report::document(&sarif::log(Vec::new(), &entries));
        }
    }
    exit
}

/// Load, resolve and render in memory; `None` when loading stopped
fn check(args: &Args, diags: &mut Diags) -> Option<Checked> {
    let (ws, dialects) = workspace::load_with_targets(
        &args.intents.dir,
        args.rev.as_deref(),
        &args.intents.targets.target,
        diags,
    )?;
    // A target that cannot express an intent is an error here too.
    let (_, rendered) = workspace::render(&ws, &dialects, palisade_targets::Mode::Enforce);
    diags.extend(rendered);
    Some(Checked {
        targets: dialects.iter().map(|d| d.id()).collect(),
        namespaces: ws.ir.namespaces.len(),
        services: ws.ir.namespaces.values().map(|n| n.services.len()).sum(),
        edges: ws.ir.edges.len(),
    })
}
