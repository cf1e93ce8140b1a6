//! `palisade compile DIR`: intents → manifests, on stdout or into a folder.
//!
//! The folder is rendered into a temporary sibling and moved into place only
//! when every target rendered, so a failed run never leaves partial output.

use crate::{
    report::{self, ErrorFormat},
    workspace, Exit,
};
use clap::ValueEnum;
use palisade_intents::{Diag, Diags};
use palisade_targets::{manifest, Manifest, Mode};
use std::{
    io::Write,
    path::{Path, PathBuf},
};

/// Arguments of `palisade compile`
#[derive(clap::Args)]
pub struct Args {
    /// The intents folder (holds palisade.yaml and the Intents files)
    dir: PathBuf,
    /// Targets, comma-separated or `all` (default: the project's, else kubernetes)
    #[arg(long, short)]
    target: Vec<String>,
    /// enforce: drop what is not allowed; audit: observe only
    #[arg(long, value_enum, default_value_t = ModeArg::Enforce)]
    mode: ModeArg,
    /// Write OUT/<target>/<namespace>/<kind>-<name>.yaml and a kustomization.yaml
    /// per target, instead of one YAML stream on stdout
    #[arg(long, short)]
    out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    Enforce,
    Audit,
}

/// Compile and write
pub fn run(args: &Args, format: ErrorFormat) -> Exit {
    let Some((ws, dialects)) = workspace::load_with_targets(&args.dir, &args.target, format) else {
        return Exit::Input;
    };
    let mode = match args.mode {
        ModeArg::Enforce => Mode::Enforce,
        ModeArg::Audit => Mode::Audit,
    };
    let (rendered, diags) = workspace::render(&ws, &dialects, mode);
    report::print(&diags, format);
    if diags.has_errors() {
        return Exit::Input;
    }
    match &args.out {
        None => {
            let stream: String = rendered.iter().map(|(_, m)| manifest::to_stream(m)).collect();
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(stream.as_bytes()).and_then(|()| stdout.flush()) {
                // A closed pipe (`| head`) is the reader's choice, not an error.
                Ok(()) => Exit::Ok,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Exit::Ok,
                Err(e) => io_failure(format, &format!("cannot write to stdout: {e}")),
            }
        }
        Some(out) => match write_folder(out, &rendered) {
            Ok(count) => {
                let ids: Vec<&str> = rendered.iter().map(|(id, _)| *id).collect();
                eprintln!(
                    "palisade: wrote {count} manifest(s) for {} to {}",
                    ids.join(", "),
                    out.display()
                );
                Exit::Ok
            }
            Err(e) => io_failure(format, &format!("cannot write `{}`: {e}", out.display())),
        },
    }
}

fn io_failure(format: ErrorFormat, message: &str) -> Exit {
    let mut diags = Diags::new();
    diags.push(Diag::error("io", message.to_string()));
    report::print(&diags, format);
    Exit::Input
}

/// Render into a temporary folder beside `out`, then swap each target folder in
fn write_folder(out: &Path, rendered: &[(&str, Vec<Manifest>)]) -> std::io::Result<usize> {
    std::fs::create_dir_all(out)?;
    let staging = tempfile::Builder::new().prefix(".palisade-").tempdir_in(out)?;
    let mut count = 0;
    for (target, manifests) in rendered {
        let root = staging.path().join(target);
        std::fs::create_dir_all(&root)?;
        let mut resources = Vec::new();
        for m in manifests {
            let namespace = if m.namespace().is_empty() {
                "_cluster"
            } else {
                m.namespace()
            };
            let relative = format!("{namespace}/{}", m.file_name());
            std::fs::create_dir_all(root.join(namespace))?;
            std::fs::write(root.join(&relative), m.to_yaml())?;
            resources.push(relative);
            count += 1;
        }
        resources.sort();
        let kustomization = format!(
            "# Rendered by palisade; edit the intents, not this folder.\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:{}\n",
            if resources.is_empty() { " []".to_string() } else { resources.iter().map(|r| format!("\n  - {r}")).collect() }
        );
        std::fs::write(root.join("kustomization.yaml"), kustomization)?;
    }
    for (target, _) in rendered {
        let destination = out.join(target);
        let old = staging.path().join(format!(".old-{target}"));
        if destination.exists() {
            std::fs::rename(&destination, &old)?;
        }
        std::fs::rename(staging.path().join(target), &destination)?;
    }
    Ok(count)
}
