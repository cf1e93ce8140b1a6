//! `palisade check DIR`: load, resolve and check intents; write nothing.

use crate::{workspace, Exit};
use palisade_intents::Diags;

/// Arguments of `palisade check`
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    intents: workspace::IntentsArgs,
    /// Read the intents as they are at this git revision (no checkout needed)
    #[arg(long)]
    rev: Option<String>,
}

/// Check, print diagnostics, and say what was found
pub fn run(args: &Args, sink: &mut Diags) -> Exit {
    let Some((ws, dialects)) =
        workspace::load_with_targets(&args.intents.dir, args.rev.as_deref(), &args.intents.target, sink)
    else {
        return Exit::Input;
    };
    // A target that cannot express an intent is an error here too.
    let (_, diags) = workspace::render(&ws, &dialects, palisade_targets::Mode::Enforce);
    sink.extend(diags.clone());
    if diags.has_errors() {
        return Exit::Input;
    }
    let ids: Vec<&str> = dialects.iter().map(|d| d.id()).collect();
    let services: usize = ws.ir.namespaces.values().map(|n| n.services.len()).sum();
    eprintln!(
        "palisade: {} namespace(s), {services} service(s), {} edge(s) checked for {}: ok",
        ws.ir.namespaces.len(),
        ws.ir.edges.len(),
        ids.join(", ")
    );
    Exit::Ok
}
