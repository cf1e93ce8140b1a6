//! palisade-engine: the facade between the dialects and evidence on one
//! side and the command line and the controller on the other (as
//! cedar-policy's API crate, or rust-analyzer's `ide`). Both callers load a
//! workspace, resolve its targets, render and stage through these functions,
//! so the same intents give the same objects whoever compiles them. Nothing
//! here prints: diagnostics are returned, and the caller prints them once.
//!
//! - [`Workspace`]: intents read from a folder, from files or from custom resources, compiled
//! - [`TargetSet`]: one resolution of `--target`, the project's `targets`, `all` and overlays
//! - [`explain`]: one connection, as the intents and each target decide it and why
//! - [`manifests`]: manifests and cluster dumps read from files, with their places
//! - [`migration`]: import of existing policies into intents, for `import` and `migrate`
//! - [`plan`]: what a change opens and closes, and the diff of the manifests
//! - [`map`]: the service map model
//! - [`output`]: the output layout (write, `--check`, read back) and the one staged writer
//! - [`stage`]: the rollout's calls on the cluster, grouped by owner and ordered so that protection never lapses
//! - [`render`]: every target's manifests for one mode, or every refusal

pub mod explain;
pub mod manifests;
pub mod map;
pub mod migration;
pub mod output;
pub mod plan;
pub mod render;
pub mod stage;
pub mod targets;
pub mod workspace;

pub use render::{render, render_each, Rendered};
pub use targets::TargetSet;
pub use workspace::Workspace;
