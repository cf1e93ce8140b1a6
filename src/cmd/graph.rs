//! `palisade graph DIR [--flows FILE|DIR] [-o html|dot|mermaid]`: the service
//! map, with observed traffic coloured by verdict when flows are given.

use crate::{
    cmd::audit,
    flows::FlowArgs,
    graph::{self, ServiceMap},
    workspace, Exit,
};
use clap::ValueEnum;
use palisade_evidence::AuditReport;
use palisade_intents::{Diag, Diags};
use palisade_targets::{Manifest, Mode};
use std::path::PathBuf;

/// Arguments of `palisade graph`
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    intents: workspace::IntentsArgs,
    #[command(flatten)]
    observed: Observed,
    /// html (one self-contained page), dot (Graphviz) or mermaid (Markdown)
    #[arg(long, short, value_enum, default_value_t = Format::Html)]
    output: Format,
    /// Write here instead of stdout
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Optional flows, for the map and the report
#[derive(clap::Args)]
pub struct Observed {
    /// Observed traffic drawn on the map, coloured by verdict
    #[command(flatten)]
    pub flows: FlowArgs,
}

impl Observed {
    /// The audit of the flows, `Ok(None)` without flows, `Err` once reported
    pub fn audit(
        &self,
        ws: &workspace::Workspace,
        rendered: &[(&'static str, Vec<Manifest>)],
        sink: &mut Diags,
    ) -> Result<Option<AuditReport>, Exit> {
        if self.flows.flows.is_empty() {
            return Ok(None);
        }
        let (evidence, cluster) = self.flows.read(sink).ok_or(Exit::Input)?;
        Ok(Some(audit::judge(
            ws,
            rendered,
            &evidence,
            cluster.as_ref(),
            self.flows.max_gap,
        )))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Dot,
    Mermaid,
    Html,
}

/// Draw
pub fn run(args: &Args, sink: &mut Diags) -> Exit {
    let Some((ws, _, rendered)) = workspace::load_and_render(&args.intents, Mode::Enforce, sink) else {
        return Exit::Input;
    };
    let audit = match args.observed.audit(&ws, &rendered, sink) {
        Ok(audit) => audit,
        Err(exit) => return exit,
    };
    let map = ServiceMap::new(&ws.ir, &rendered, audit.as_ref());
    let text = match args.output {
        Format::Dot => map.dot(),
        Format::Mermaid => map.mermaid(),
        Format::Html => {
            let title = format!("palisade service map: {}", args.intents.dir.display());
            match graph::html_page(&map, &title) {
                Ok(page) => page,
                Err(e) => {
                    sink.push(Diag::error("bad_template", format!("the map does not render: {e}")));
                    return Exit::Input;
                }
            }
        }
    };
    write_out(args.out.as_deref(), &text, sink)
}

/// Write `text` to `out` (all or nothing) or to stdout
pub fn write_out(out: Option<&std::path::Path>, text: &str, sink: &mut Diags) -> Exit {
    let Some(path) = out else {
        print!("{text}");
        return Exit::Ok;
    };
    match palisade_engine::output::write_file(path, text) {
        Ok(()) => {
            eprintln!("palisade: wrote {}", path.display());
            Exit::Ok
        }
        Err(diag) => {
            sink.push(diag);
            Exit::Input
        }
    }
}
