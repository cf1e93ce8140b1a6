//! `palisade check DIR`: load, resolve and check intents; write nothing.

use crate::{
    report::{self, ErrorFormat},
    workspace, Exit,
};
use std::path::PathBuf;

/// Arguments of `palisade check`
#[derive(clap::Args)]
pub struct Args {
    /// The intents folder (holds palisade.yaml and the Intents files)
    dir: PathBuf,
    /// Targets to check the intents against (default: the project's)
    #[arg(long, short)]
    target: Vec<String>,
}

/// Check, print diagnostics, and say what was found
pub fn run(args: &Args, format: ErrorFormat) -> Exit {
    let Some(ws) = workspace::load(&args.dir, format) else {
        return Exit::Input;
    };
    let dialects = match workspace::targets(&ws, &args.target) {
        Ok(d) => d,
        Err(diags) => {
            report::print(&diags, format);
            return Exit::Input;
        }
    };
    let mut diags = ws.warnings.clone();
    let ids: Vec<&str> = dialects.iter().map(|d| d.id()).collect();
    diags.extend(palisade_compiler::checks::enforcement_warnings(&ws.ir, &ids));
    // A target that cannot express an intent is an error here too.
    for dialect in &dialects {
        if let Err(refusals) = dialect.emit(&ws.ir, palisade_targets::Mode::Enforce) {
            diags.extend(refusals);
        }
    }
    let diags = diags.sorted();
    report::print(&diags, format);
    if diags.has_errors() {
        return Exit::Input;
    }
    let services: usize = ws.ir.namespaces.values().map(|n| n.services.len()).sum();
    eprintln!(
        "palisade: {} namespace(s), {services} service(s), {} edge(s) checked for {}: ok",
        ws.ir.namespaces.len(),
        ws.ir.edges.len(),
        ids.join(", ")
    );
    Exit::Ok
}
