//! One module per subcommand: `Args` (what was typed) and `run`.

pub mod audit;
pub mod check;
pub mod compile;
pub mod completions;
pub mod controller;
pub mod crds;
pub mod discover;
pub mod evidence;
pub mod explain;
pub mod graph;
pub mod import;
pub mod lint;
pub mod migrate;
pub mod plan;
pub mod rbac;
pub mod report;
pub mod rollout;
pub mod schema;
pub mod simulate;
pub mod targets;
pub mod verify;
