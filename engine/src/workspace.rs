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
    pub fn load_dir(dir: &Path) -> Result<Workspace, Diags> {
        let repository = palisade_intents::load_dir(dir)?;
        Self::compile(repository, &format!("under `{}`", dir.display()))
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
