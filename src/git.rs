//! Reading an intents folder at a git revision straight from the object
//! database: no checkout, so it works in a bare clone and leaves a dirty work
//! tree alone. The rules are the folder walk's (intents/src/walk.rs): each
//! blob is triaged as a file on disk would be, and links are followed inside
//! the repository's tree, so a revision never reads less than its checkout.

use git2::{ObjectType, Oid, Repository, Tree};
use palisade_intents::{
    walk::{triage, Triage},
    Diag, Diags, RawFile,
};
use std::{
    collections::HashSet,
    path::{Component, Path},
};

/// git's mode of a symbolic link entry: the blob holds the target path
const LINK_MODE: i32 = 0o120_000;
/// git's mode of a submodule entry (a commit of another repository)
const SUBMODULE_MODE: i32 = 0o160_000;
/// Links followed while resolving one path before it counts as a loop
/// (Linux gives up after 40, `MAXSYMLINKS`)
const MAX_HOPS: usize = 40;
/// What triage needs to see of a file's start (walk.rs's `HEAD_BYTES`)
const HEAD_BYTES: usize = 64 * 1024;

/// The intent files under `dir` as they are at `rev` (sorted by path,
/// relative to `dir`), or every error: a file refused by triage, a link that
/// loops, dangles or leaves the repository, a submodule
pub fn read_tree_at(dir: &Path, rev: &str) -> Result<Vec<RawFile>, Diags> {
    let one = |diag: Diag| {
        let mut diags = Diags::new();
        diags.push(diag);
        diags
    };
    let fail = |what: String, e: git2::Error| {
        Diag::error("git", format!("{what}: {}", e.message()))
            .help("pass a folder inside a git repository and a revision it has (`HEAD`, `main`, a commit)")
    };
    let repo = Repository::discover(dir)
        .map_err(|e| one(fail(format!("`{}` is not in a git repository", dir.display()), e)))?;
    let relative = match repo.workdir() {
        Some(workdir) => {
            let (Ok(dir), Ok(workdir)) = (dir.canonicalize(), workdir.canonicalize()) else {
                return Err(one(Diag::error("git", format!("cannot resolve `{}`", dir.display()))));
            };
            dir.strip_prefix(&workdir).map(Path::to_path_buf).unwrap_or_default()
        }
        None => Default::default(), // a bare clone: the intents are at the root of its tree
    };
    let root = repo
        .revparse_single(rev)
        .and_then(|o| o.peel_to_tree())
        .map_err(|e| one(fail(format!("no revision `{rev}`"), e)))?;
    let prefix: Vec<String> = relative
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let mut reader = Reader {
        repo: &repo,
        root: root.clone(),
        rev,
        files: Vec::new(),
        seen: HashSet::new(),
        diags: Diags::new(),
    };
    let (canonical, top) = if prefix.is_empty() {
        (prefix, root)
    } else {
        match reader.resolve(&prefix) {
            Ok((canonical, Target::Tree(tree))) => (canonical, tree),
            _ => {
                return Err(one(Diag::error(
                    "git",
                    format!("`{}` is not a folder at `{rev}`", relative.display()),
                )
                .help("pass a folder that the revision has")));
            }
        }
    };
    let mut ancestors = Vec::new();
    reader.folder(&top, "", canonical, &mut ancestors);
    reader.finish()
}

/// What a path of the tree leads to, links resolved
enum Target<'r> {
    Tree(Tree<'r>),
    Blob(Oid),
    Submodule,
}

/// Why a link cannot be followed
enum Broken {
    /// it points at nothing in the tree
    Missing,
    /// absolute, or `..` above the repository's top
    Outside,
    /// links that lead to each other
    Loop,
    /// its target is not a path (not UTF-8)
    Unreadable,
}

struct Reader<'r> {
    repo: &'r Repository,
    root: Tree<'r>,
    rev: &'r str,
    files: Vec<RawFile>,
    /// repository paths of the blobs read, so a file linked twice is read once
    seen: HashSet<Vec<String>>,
    diags: Diags,
}

impl<'r> Reader<'r> {
    fn finish(mut self) -> Result<Vec<RawFile>, Diags> {
        if self.diags.has_errors() {
            return Err(self.diags);
        }
        self.files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(self.files)
    }

    /// `canonical` is the folder's path in the repository, links resolved;
    /// `ancestors` those of the folders being walked (with the path shown),
    /// to tell a link that loops from one that merely leads elsewhere
    fn folder(
        &mut self,
        tree: &Tree<'r>,
        shown: &str,
        canonical: Vec<String>,
        ancestors: &mut Vec<(Vec<String>, String)>,
    ) {
        ancestors.push((canonical.clone(), shown.to_string()));
        for entry in tree.iter() {
            let Some(name) = entry.name() else {
                self.diags.push(
                    Diag::error(
                        "not_read",
                        format!("a name in `{shown}` at `{}` is not UTF-8", self.rev),
                    )
                    .help("rename it; intents are read from UTF-8 paths"),
                );
                continue;
            };
            // Names starting with `.` are how a file or folder is kept out on purpose.
            if name.starts_with('.') {
                continue;
            }
            let path = if shown.is_empty() {
                name.to_string()
            } else {
                format!("{shown}/{name}")
            };
            let mut child = canonical.clone();
            child.push(name.to_string());
            let target = match entry.filemode() {
                LINK_MODE => match self.link(&entry, &canonical) {
                    Ok((resolved, target)) => {
                        child = resolved;
                        target
                    }
                    Err((text, why)) => {
                        self.broken(&path, &text, why);
                        continue;
                    }
                },
                SUBMODULE_MODE => Target::Submodule,
                _ => match entry.kind() {
                    Some(ObjectType::Tree) => match entry.to_object(self.repo).and_then(|o| o.peel_to_tree()) {
                        Ok(tree) => Target::Tree(tree),
                        Err(e) => {
                            self.unreadable(&path, &e);
                            continue;
                        }
                    },
                    Some(ObjectType::Blob) => Target::Blob(entry.id()),
                    _ => Target::Submodule,
                },
            };
            self.target(target, &path, child, ancestors);
        }
        ancestors.pop();
    }

    fn target(
        &mut self,
        target: Target<'r>,
        path: &str,
        canonical: Vec<String>,
        ancestors: &mut Vec<(Vec<String>, String)>,
    ) {
        match target {
            Target::Tree(tree) => {
                // A folder that holds the link (or is it) would be walked forever.
                if let Some((_, looped)) = ancestors.iter().find(|(a, _)| *a == canonical) {
                    self.diags.push(palisade_intents::walk::link_loop(path, looped));
                    return;
                }
                self.folder(&tree, path, canonical, ancestors);
            }
            Target::Blob(oid) => {
                if !self.seen.insert(canonical) {
                    return;
                }
                let blob = match self.repo.find_blob(oid) {
                    Ok(blob) => blob,
                    Err(e) => {
                        self.unreadable(path, &e);
                        return;
                    }
                };
                let bytes = blob.content();
                match triage(path, &bytes[..bytes.len().min(HEAD_BYTES)]) {
                    Triage::Read => self.files.push(RawFile {
                        path: path.to_string(),
                        bytes: bytes.to_vec(),
                    }),
                    Triage::Skip => {}
                    Triage::Refuse(diag) => self.diags.push(diag),
                }
            }
            Target::Submodule => self.diags.push(
                Diag::error(
                    "not_read",
                    format!(
                        "`{path}` is a git submodule: its files are not in this repository at `{}`",
                        self.rev
                    ),
                )
                .help("move the intents into this repository, or rename the entry to start with `.` to keep it out"),
            ),
        }
    }

    /// The repository path and target of the link `entry` in the folder `dir`
    fn link(&self, entry: &git2::TreeEntry<'_>, dir: &[String]) -> Result<(Vec<String>, Target<'r>), (String, Broken)> {
        let blob = self
            .repo
            .find_blob(entry.id())
            .map_err(|_| (String::new(), Broken::Unreadable))?;
        let text = std::str::from_utf8(blob.content())
            .map_err(|_| (String::from_utf8_lossy(blob.content()).into_owned(), Broken::Unreadable))?
            .to_string();
        if text.starts_with('/') {
            return Err((text, Broken::Outside));
        }
        let mut path = dir.to_vec();
        path.extend(text.split('/').map(str::to_string));
        self.resolve(&path).map_err(|why| (text, why))
    }

    /// Walk `path` (components, relative to the repository's top) from the
    /// root tree, following links on the way, to its canonical path
    fn resolve(&self, path: &[String]) -> Result<(Vec<String>, Target<'r>), Broken> {
        let mut pending: std::collections::VecDeque<String> = path.iter().cloned().collect();
        let mut stack: Vec<(String, Tree<'r>)> = Vec::new();
        let mut hops = 0;
        let mut last: Option<Target<'r>> = None;
        while let Some(part) = pending.pop_front() {
            if matches!(last, Some(Target::Blob(_) | Target::Submodule)) {
                return Err(Broken::Missing); // a file does not hold names
            }
            match part.as_str() {
                "" | "." => continue,
                ".." => {
                    stack.pop().ok_or(Broken::Outside)?;
                    last = None;
                    continue;
                }
                _ => {}
            }
            let tree = stack.last().map_or_else(|| self.root.clone(), |(_, t)| t.clone());
            let entry = tree.get_name(&part).ok_or(Broken::Missing)?;
            match entry.filemode() {
                LINK_MODE => {
                    hops += 1;
                    if hops > MAX_HOPS {
                        return Err(Broken::Loop);
                    }
                    let blob = self.repo.find_blob(entry.id()).map_err(|_| Broken::Unreadable)?;
                    let text = std::str::from_utf8(blob.content()).map_err(|_| Broken::Unreadable)?;
                    if text.starts_with('/') {
                        return Err(Broken::Outside);
                    }
                    // Relative to the folder that holds the link: the stack as it is.
                    for part in text.split('/').rev() {
                        pending.push_front(part.to_string());
                    }
                    last = None;
                }
                SUBMODULE_MODE => {
                    stack.push((part, tree.clone()));
                    last = Some(Target::Submodule);
                }
                _ => match entry.kind() {
                    Some(ObjectType::Tree) => {
                        let sub = entry
                            .to_object(self.repo)
                            .and_then(|o| o.peel_to_tree())
                            .map_err(|_| Broken::Unreadable)?;
                        stack.push((part, sub));
                        last = None;
                    }
                    Some(ObjectType::Blob) => {
                        let id = entry.id();
                        stack.push((part, tree.clone()));
                        last = Some(Target::Blob(id));
                    }
                    _ => return Err(Broken::Unreadable),
                },
            }
        }
        let canonical = stack.iter().map(|(name, _)| name.clone()).collect();
        let target = match last {
            Some(target) => target,
            None => Target::Tree(stack.pop().map_or_else(|| self.root.clone(), |(_, t)| t)),
        };
        Ok((canonical, target))
    }

    fn broken(&mut self, path: &str, target: &str, why: Broken) {
        let (code, message, help) = match why {
            Broken::Missing => (
                "bad_link",
                format!(
                    "`{path}` is a link to `{target}`, which is not in the repository at `{}`",
                    self.rev
                ),
                "fix or remove the link, or commit what it points at",
            ),
            Broken::Outside => (
                "bad_link",
                format!(
                    "`{path}` is a link to `{target}`, outside the repository: at `{}` only its tree can be read",
                    self.rev
                ),
                "commit the file into the repository and link to it with a relative path, or copy it in",
            ),
            Broken::Loop => (
                "link_loop",
                format!("`{path}` is a link to `{target}`, and the links from there lead back: a loop"),
                "remove one of the links",
            ),
            Broken::Unreadable => (
                "bad_link",
                format!("`{path}` is a link whose target cannot be read at `{}`", self.rev),
                "fix or remove the link",
            ),
        };
        self.diags.push(Diag::error(code, message).help(help));
    }

    fn unreadable(&mut self, path: &str, e: &git2::Error) {
        self.diags.push(
            Diag::error(
                "git",
                format!("cannot read `{path}` at `{}`: {}", self.rev, e.message()),
            )
            .help("check that the repository is complete (`git fsck`)"),
        );
    }
}
