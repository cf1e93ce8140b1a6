//! palisade-intents: the intent language.
//!
//! Types (serde + schemars), YAML loading with source positions, the terse rule
//! syntax and diagnostics. Architecture invariant: this crate knows nothing of
//! the IR, the targets or Kubernetes clients; it reads text and says what the
//! user wrote, or precisely where it is wrong.

pub mod diag;
pub mod guardrails;
pub mod load;
pub mod loc;
pub mod model;
pub mod names;
pub mod positions;
pub mod schema;
pub mod syntax;
pub mod terse;
pub mod types;
mod validate;
pub mod walk;

pub use diag::{Diag, Diags, Severity};
pub use load::{load_dir, load_files, RawFile};
pub use loc::{Loc, SourceFile};
pub use model::{Located, Repository};
/// `7d`, `24h`, `90m`: the durations `evidence.minWindow` takes, for flags that take the same
pub use validate::parse_duration;
