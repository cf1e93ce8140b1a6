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
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// With --out: write nothing, exit 1 when OUT is not what the intents
    /// render (a CI step that keeps a committed folder in sync)
    #[arg(long, requires = "out")]
    check: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    Enforce,
    Audit,
}

/// Compile and write
pub fn run(args: &Args, format: ErrorFormat) -> Exit {
    let Some((ws, dialects)) =
        workspace::load_with_targets(&args.intents.dir, args.rev.as_deref(), &args.intents.target, format)
    else {
        return Exit::Input;
    };
    let mode = match args.mode {
        ModeArg::Enforce => Mode::Enforce,
        ModeArg::Audit => Mode::Audit,
    };
    let Some(out) = &args.out else {
        let exit = stream(&ws, &dialects, mode, format);
        // The process ends next; freeing the intents' trees gives nothing back.
        std::mem::forget(ws);
        return exit;
    };
    let (rendered, diags) = workspace::render(&ws, &dialects, mode);
    report::print(&diags, format);
    if diags.has_errors() {
        return Exit::Input;
    }
    if args.check {
        return check_folder(out, &rendered, format);
    }
    let exit = write(out, &rendered, format);
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
    format: ErrorFormat,
) -> Exit {
    let (rendered, diags) = workspace::render_each(ws, dialects, mode, |manifests| {
        palisade_targets::manifest::to_stream(&manifests)
    });
    report::print(&diags, format);
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
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Exit::Ok,
        Err(e) => io_failure(format, &format!("cannot write to stdout: {e}")),
    }
}

fn write(out: &Path, rendered: &[(&str, Vec<Manifest>)], format: ErrorFormat) -> Exit {
    match write_folder(out, rendered) {
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
    }
}

/// Compare OUT with what would be written, file by file
fn check_folder(out: &Path, rendered: &[(&str, Vec<Manifest>)], format: ErrorFormat) -> Exit {
    let staging = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => return io_failure(format, &format!("cannot create a temporary folder: {e}")),
    };
    if let Err(e) = write_folder(staging.path(), rendered) {
        return io_failure(format, &format!("cannot render into a temporary folder: {e}"));
    }
    let mut differences = Vec::new();
    for (target, _) in rendered {
        let expected = files(&staging.path().join(target));
        let actual = files(&out.join(target));
        for (path, text) in &expected {
            match actual.get(path) {
                None => differences.push(format!("missing: {target}/{path}")),
                Some(found) if found != text => differences.push(format!("differs: {target}/{path}")),
                Some(_) => {}
            }
        }
        differences.extend(
            actual
                .keys()
                .filter(|p| !expected.contains_key(*p))
                .map(|p| format!("not rendered by the intents: {target}/{p}")),
        );
    }
    if differences.is_empty() {
        eprintln!("palisade: {} is what the intents render", out.display());
        return Exit::Ok;
    }
    for d in &differences {
        println!("{d}");
    }
    eprintln!(
        "palisade: {} differs from what the intents render in {} file(s); run `palisade compile --out {}`",
        out.display(),
        differences.len(),
        out.display()
    );
    Exit::Input
}

/// Every file under `dir`, relative path → bytes
fn files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.insert(
                    path.strip_prefix(dir).unwrap_or(&path).to_string_lossy().to_string(),
                    bytes,
                );
            }
        }
    }
    out
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
