//! Reading an intents folder at a git revision straight from the object
//! database: no checkout, so it works in a bare clone and leaves a dirty work
//! tree alone.

use git2::{ObjectType, Repository, TreeWalkMode, TreeWalkResult};
use palisade_intents::{Diag, RawFile};
use std::path::Path;

/// The YAML files under `dir` as they are at `rev` (hidden folders skipped),
/// with paths relative to `dir`
pub fn read_at(dir: &Path, rev: &str) -> Result<Vec<RawFile>, Diag> {
    let fail = |what: String, e: git2::Error| {
        Diag::error("git", format!("{what}: {}", e.message()))
            .help("pass a folder inside a git repository and a revision it has (`HEAD`, `main`, a commit)")
    };
    let repo =
        Repository::discover(dir).map_err(|e| fail(format!("`{}` is not in a git repository", dir.display()), e))?;
    let relative = match repo.workdir() {
        Some(workdir) => {
            let (Ok(dir), Ok(workdir)) = (dir.canonicalize(), workdir.canonicalize()) else {
                return Err(Diag::error("git", format!("cannot resolve `{}`", dir.display())));
            };
            dir.strip_prefix(&workdir).map(Path::to_path_buf).unwrap_or_default()
        }
        None => Default::default(), // a bare clone: the intents are at the root of its tree
    };
    let tree = repo
        .revparse_single(rev)
        .and_then(|o| o.peel_to_tree())
        .map_err(|e| fail(format!("no revision `{rev}`"), e))?;
    let tree = if relative.as_os_str().is_empty() {
        tree
    } else {
        tree.get_path(&relative)
            .and_then(|entry| entry.to_object(&repo))
            .and_then(|o| o.peel_to_tree())
            .map_err(|e| fail(format!("`{}` does not exist at `{rev}`", relative.display()), e))?
    };
    let mut files = Vec::new();
    let mut error = None;
    tree.walk(TreeWalkMode::PreOrder, |root, entry| {
        let name = entry.name().unwrap_or("");
        if name.starts_with('.') {
            return TreeWalkResult::Skip;
        }
        if entry.kind() == Some(ObjectType::Blob) && (name.ends_with(".yaml") || name.ends_with(".yml")) {
            match entry.to_object(&repo).and_then(|o| o.peel_to_blob()) {
                Ok(blob) => files.push(RawFile {
                    path: format!("{root}{name}"),
                    bytes: blob.content().to_vec(),
                }),
                Err(e) => error = Some(fail(format!("cannot read `{root}{name}` at `{rev}`"), e)),
            }
        }
        TreeWalkResult::Ok
    })
    .map_err(|e| fail(format!("cannot walk `{rev}`"), e))?;
    match error {
        Some(e) => Err(e),
        None => {
            files.sort_by(|a, b| a.path.cmp(&b.path));
            Ok(files)
        }
    }
}
