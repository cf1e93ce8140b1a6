//! The intents arguments every command shares, and the engine's pipeline
//! steps with their diagnostics printed (once, here, in the caller's format).

use palisade_engine::TargetSet;
pub use palisade_engine::{Rendered, Workspace};
use palisade_intents::Diags;
use palisade_targets::{Dialect, Manifest, Mode};
use std::path::Path;

/// Where the intents are and which targets to render: the arguments every
/// command that reads intents shares
#[derive(clap::Args)]
pub struct IntentsArgs {
    /// The intents folder (holds palisade.yaml and the Intents files), or a
    /// folder inside the project
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: std::path::PathBuf,
    #[command(flatten)]
    pub targets: TargetArgs,
}

/// The targets to render: one definition for every command, including
/// `explain`, whose intents folder cannot default (its connection follows it)
#[derive(clap::Args)]
pub struct TargetArgs {
    /// Targets, comma-separated; `all` is every target the project names,
    /// or every target palisade has when it names none (default: the
    /// project's, else kubernetes)
    #[arg(long, short, value_name = "TARGET", value_parser = crate::values::targets())]
    pub target: Vec<String>,
}

/// Load and compile `dir` (at a git revision when `rev` is given); on errors,
/// print them and return `None`
pub fn load(dir: &Path, rev: Option<&str>, sink: &mut Diags) -> Option<Workspace> {
    let loaded = match rev {
        None => Workspace::load_dir(dir),
        Some(rev) => crate::git::read_tree_at(dir, rev)
            .and_then(|files| Workspace::from_files(files, &format!("under `{}` at {rev}", dir.display()))),
    };
    printed(loaded, sink)
}

/// Load `dir` at the base revision of a comparison, where no intents yet
/// (a repository's first pull request) is an empty workspace, not an error
pub fn load_base(dir: &Path, rev: &str, requested: &[String], sink: &mut Diags) -> Option<(Workspace, TargetSet)> {
    let ws = printed(
        crate::git::read_tree_at(dir, rev).and_then(Workspace::base_from_files),
        sink,
    )?;
    let targets = printed(TargetSet::resolve(ws.repository.project.as_ref(), requested), sink)?;
    Some((ws, targets))
}

/// Load `dir` and resolve the targets asked for; on errors, print them
pub fn load_with_targets(
    dir: &Path,
    rev: Option<&str>,
    requested: &[String],
    sink: &mut Diags,
) -> Option<(Workspace, TargetSet)> {
    let ws = load(dir, rev, sink)?;
    let targets = printed(TargetSet::resolve(ws.repository.project.as_ref(), requested), sink)?;
    Some((ws, targets))
}

/// The intents of `args` as they are in the work tree, rendered in `mode` for
/// the chosen targets; on errors (loading or refusals), print them and return
/// `None`
pub fn load_and_render(args: &IntentsArgs, mode: Mode, sink: &mut Diags) -> Option<(Workspace, TargetSet, Rendered)> {
    let (ws, targets) = load_with_targets(&args.dir, None, &args.targets.target, sink)?;
    let (rendered, diags) = render(&ws, &targets, mode);
    if diags.has_errors() {
        sink.extend(diags.clone());
        return None;
    }
    Some((ws, targets, rendered))
}

/// Leave a command's big structures to the end of the process: the OS takes
/// their memory back at once, where their destructors take most of a second
/// on 10,000 services (a plan holds two revisions' manifests)
pub fn leave<T>(value: T) {
    std::mem::forget(value);
}

/// Every dialect's manifests, or every refusal: warnings (checks, CNI,
/// degradations) come back either way
pub fn render(ws: &Workspace, targets: &[&'static dyn Dialect], mode: Mode) -> (Rendered, Diags) {
    render_each(ws, targets, mode, |manifests| manifests)
}

/// [`render`], turning each target's manifests into what the caller keeps as
/// soon as they are rendered
pub fn render_each<T>(
    ws: &Workspace,
    targets: &[&'static dyn Dialect],
    mode: Mode,
    keep: impl FnMut(Vec<Manifest>) -> T,
) -> (Vec<(&'static str, T)>, Diags) {
    let spinner = crate::progress::spinner("rendering", ws.ir.edges.len() > 5_000);
    if let Some(spinner) = &spinner {
        spinner.set_message(format!("rendering {} edges", ws.ir.edges.len()));
    }
    let out = palisade_engine::render_each(ws, &TargetSet::of(targets.to_vec()), mode, keep);
    if let Some(spinner) = spinner {
        spinner.finish_and_clear();
    }
    out
}

/// The value, or its diagnostics printed and `None`
fn printed<T>(result: Result<T, Diags>, sink: &mut Diags) -> Option<T> {
    result.map_err(|diags| sink.extend(diags.clone())).ok()
}
