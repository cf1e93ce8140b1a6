//! palisade-relation: connectivity as sets, so that verify, plan and the
//! equivalence checks answer for every connection at once instead of
//! enumerating probes.
//!
//! The representation, and why: endpoints are classes (a pod of the model
//! per label set, outside addresses by the partition the rules' blocks make,
//! names by name); a set of classes is a roaring bitmap, which stays small
//! for the one-service peers most rules name and for the whole-namespace or
//! everything sets a few name. Ports and requests are one ordered key, so a
//! set of them is a handful of intervals. A layer's relation is kept as
//! its two sides per pod ([`Sides`]): each side is an interval map from
//! services to classes. A rule touches only the sides of the pods it
//! selects, so building a relation costs about one bitmap operation per
//! rule and interval (near-linear in the rules), and comparing two
//! relations is comparing two interval maps per pod. Pairs of pods are
//! never enumerated unless a report asks for one.

pub mod change;
pub mod matrix;
pub mod reference;
pub mod report;
pub mod services;
pub mod sides;
pub mod universe;

pub use services::{Key, Services};
pub use sides::{Action, Direction, Rule, Side, SideSet, Sides, Tier};
pub use universe::{Class, ClassSet, Universe};
