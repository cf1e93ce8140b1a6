//! Intents in, IR out: the first step of every command and of every reconcile

use palisade_compiler::ir::Ir;
use palisade_intents::{Diag, Diags, RawFile, Repository};
use std::path::Path;

/// A loaded and compiled set of intents
pub struct Workspace {
    /// what was read
    pub repository: Repository,
    /// the IR
    pub ir: Ir,
    /// warnings found on the way
    pub warnings: Diags,
}

impl Workspace {
    /// The intents folder `dir`, as it is on disk
    ///
    /// A folder inside a project (`intents/`, or `.` run from there) that
    /// holds no project document stands for the project around it: the
    /// nearest folder above with a `palisade.yaml`, up to the repository's
    /// root. Its profile and targets decide what the intents compile to, so
    /// checking the folder alone would judge other manifests than the
    /// project's.
    pub fn load_dir(dir: &Path) -> Result<Workspace, Diags> {
        let mut repository = palisade_intents::load_dir(dir);
        let mut origin = dir.to_path_buf();
        if repository.as_ref().is_ok_and(|r| r.project.is_none()) {
            if let Some(root) = enclosing_project(dir) {
                repository = palisade_intents::load_dir(&root);
                origin = root;
            }
        }
        Self::compile(repository?, &format!("under `{}`", origin.display()))
    }

    /// Files already read (from git, or custom resources written as files);
    /// `origin` says where they came from in the error that none holds intents
    pub fn from_files(files: Vec<RawFile>, origin: &str) -> Result<Workspace, Diags> {
        let repository = palisade_intents::load_files(files)?;
        Self::compile(repository, origin)
    }

    /// The base of a comparison (`plan --base`), read from files: a
    /// revision without intents yet, a repository's first pull request, is
    /// a workspace without namespaces rather than an error
    pub fn base_from_files(files: Vec<RawFile>) -> Result<Workspace, Diags> {
        let repository = palisade_intents::load_files(files)?;
        let (ir, warnings) = palisade_compiler::compile(&repository)?;
        Ok(Workspace {
            repository,
            ir,
            warnings,
        })
    }

    fn compile(repository: Repository, origin: &str) -> Result<Workspace, Diags> {
        if repository.intents.is_empty() {
            let mut diags = Diags::new();
            diags.push(
                Diag::error("no_intents", format!("no `kind: Intents` documents found {origin}"))
                    .help("pass the folder that holds the intents YAML files (see examples/)"),
            );
            return Err(diags);
        }
        let (ir, warnings) = palisade_compiler::compile(&repository)?;
        Ok(Workspace {
            repository,
            ir,
            warnings,
        })
    }

    /// The Intents of `namespace`: its name, and the file (or resource) it came from
    pub fn intents_of(&self, namespace: &str) -> Option<(&str, &str)> {
        self.repository
            .intents
            .iter()
            .find(|i| i.namespace.value == namespace)
            .map(|i| (i.name.value.as_str(), i.namespace.loc.file.path.as_str()))
    }
}

/// The project file names the walk up from a folder looks for
const PROJECT_FILES: [&str; 2] = ["palisade.yaml", "palisade.yml"];

/// The nearest folder above `dir` holding a project file, as a path from
/// where `dir` is named (`intents` -> `.`, `.` -> `..`), so diagnostics keep
/// pointing from the working directory; the walk stops at a git repository's
/// root, never reading a project of an unrelated folder above it
fn enclosing_project(dir: &Path) -> Option<std::path::PathBuf> {
    let mut at = std::fs::canonicalize(dir).ok()?;
    let mut up = std::path::PathBuf::from(dir);
    loop {
        if at.join(".git").exists() {
            return None;
        }
        at = at.parent()?.to_path_buf();
        up = parent_of(&up);
        if PROJECT_FILES.iter().any(|name| at.join(name).is_file()) {
            return Some(up);
        }
    }
}

/// `path/..`, written short where `path` ends in a plain folder name
fn parent_of(path: &Path) -> std::path::PathBuf {
    use std::path::Component;
    match path.components().next_back() {
        Some(Component::Normal(_)) => match path.parent() {
            Some(parent) if parent.as_os_str().is_empty() => ".".into(),
            Some(parent) => parent.to_path_buf(),
            None => path.join(".."),
        },
        Some(Component::CurDir) if path.components().count() == 1 => "..".into(),
        _ => path.join(".."),
    }
}
