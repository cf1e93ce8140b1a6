//! One module per subcommand: `Args` (what was typed) and `run`.

pub mod check;
pub mod compile;
pub mod schema;
pub mod targets;
