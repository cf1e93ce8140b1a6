//! `palisade compile DIR`: intents → manifests, on stdout or into a folder.
//!
//! The folder is rendered into a temporary sibling and moved into place only
//! when every target rendered, so a failed run never leaves partial output.

use crate::{workspace, Exit};
use clap::ValueEnum;
use palisade_intents::{Diag, Diags};
use palisade_targets::{Manifest, Mode};
use std::{
    io::Write,
    path::{Path, PathBuf},
};

/// Arguments of `palisade compile`
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    intents: workspace::IntentsArgs,
    /// Read the intents as they are at this git revision (no checkout needed)
    #[arg(long)]
    rev: Option<String>,
    /// enforce: drop what is not allowed; audit: observe only
    #[arg(long, value_enum, default_value_t = ModeArg::Enforce)]
    mode: ModeArg,
    /// Write OUT/<target>/<namespace>/<kind>-<name>.yaml and a kustomization.yaml
    /// per target, instead of one YAML stream on stdout
    #[arg(long, value_name = "OUT")]
    out: Option<PathBuf>,
    /// With --out: write nothing, exit 2 when OUT is not what the intents
    /// render (a CI step that keeps a committed folder in sync)
    #[arg(long, requires = "out")]
    check: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ModeArg {
    Enforce,
    Audit,
}

/// Compile and write
pub fn run(args: &Args, sink: &mut Diags) -> Exit {
    let Some((ws, dialects)) = workspace::load_with_targets(
        &args.intents.dir,
        args.rev.as_deref(),
        &args.intents.targets.target,
        sink,
    ) else {
        return Exit::Input;
    };
    let mode = match args.mode {
        ModeArg::Enforce => Mode::Enforce,
        ModeArg::Audit => Mode::Audit,
    };
    let Some(out) = &args.out else {
        let exit = stream(&ws, &dialects, mode, sink);
        // The process ends next; freeing the intents' trees gives nothing back.
        std::mem::forget(ws);
        return exit;
    };
    let (rendered, diags) = workspace::render(&ws, &dialects, mode);
    sink.extend(diags.clone());
    if diags.has_errors() {
        return Exit::Input;
    }
    if args.check {
        return check_folder(out, &rendered, &rewrite_command(args, out), sink);
    }
    let exit = write(out, &rendered, sink);
    // The process ends next: freeing a large repository's manifests one small
    // object at a time costs a tenth of the compile and gives nothing back.
    std::mem::forget(rendered);
    std::mem::forget(ws);
    exit
}

/// One YAML stream on stdout, written only once every target rendered
fn stream(
    ws: &workspace::Workspace,
    dialects: &[&'static dyn palisade_targets::Dialect],
    mode: Mode,
    sink: &mut Diags,
) -> Exit {
    let (rendered, diags) = workspace::render_each(ws, dialects, mode, |manifests| {
        palisade_targets::manifest::to_stream(&manifests)
    });
    sink.extend(diags.clone());
    if diags.has_errors() {
        return Exit::Input;
    }
    let mut stdout = std::io::stdout().lock();
    let written = rendered
        .iter()
        .try_for_each(|(_, text)| stdout.write_all(text.as_bytes()))
        .and_then(|()| stdout.flush());
    match written {
        // A closed pipe (`| head`) is the reader's choice, not an error.
        Ok(()) => Exit::Ok,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Exit::ClosedPipe,
        Err(e) => io_failure(sink, &format!("cannot write to stdout: {e}")),
    }
}

fn write(out: &Path, rendered: &[(&str, Vec<Manifest>)], sink: &mut Diags) -> Exit {
    match palisade_engine::output::write_rendered(out, rendered) {
        Ok(count) => {
            let ids: Vec<&str> = rendered.iter().map(|(id, _)| *id).collect();
            eprintln!(
                "palisade: wrote {} for {} to {}",
                palisade_evidence::plural(count, "manifest"),
                ids.join(", "),
                out.display()
            );
            Exit::Ok
        }
        Err(diag) => {
            sink.push(diag);
            Exit::Input
        }
    }
}

/// The command that writes what `--check` compared: the same intents,
/// targets and mode, without `--check`
fn rewrite_command(args: &Args, out: &Path) -> String {
    let mut command = format!("palisade compile {}", args.intents.dir.display());
    if !args.intents.targets.target.is_empty() {
        command.push_str(&format!(" -t {}", args.intents.targets.target.join(",")));
    }
    if let Some(rev) = &args.rev {
        command.push_str(&format!(" --rev {rev}"));
    }
    if args.mode == ModeArg::Audit {
        command.push_str(" --mode audit");
    }
    command.push_str(&format!(" --out {}", out.display()));
    command
}

/// Compare OUT with what would be written, file by file
fn check_folder(out: &Path, rendered: &[(&str, Vec<Manifest>)], rewrite: &str, sink: &mut Diags) -> Exit {
    let differences = match palisade_engine::output::differences(out, rendered) {
        Ok(d) => d,
        Err(e) => return io_failure(sink, &format!("cannot read `{}`: {e}", out.display())),
    };
    if differences.is_empty() {
        eprintln!("palisade: {} is what the intents render", out.display());
        return Exit::Ok;
    }
    for d in &differences {
        println!("{d}");
    }
    eprintln!(
        "palisade: {} differs from what the intents render in {}; run `{rewrite}`",
        out.display(),
        palisade_evidence::plural(differences.len(), "file"),
    );
    Exit::Changed
}

fn io_failure(sink: &mut Diags, message: &str) -> Exit {
    let mut diags = Diags::new();
    diags.push(Diag::error("io", message.to_string()));
    sink.extend(diags.clone());
    Exit::Input
}
