//! The adversarial suite of issue 14: one module per defect class (and its
//! neighbours) that a security reviewer found, each asserting on palisade's
//! output under an evaluation that is not the compiler's own: a hand-checked
//! verdict table that cites the upstream documentation, the upstream schemas
//! and admission rules, or the external oracle.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod util;

mod calico;
mod cilium;
mod gateway;
mod input;
mod istio;
mod kubernetes;
mod names;
mod plumbing;
mod readers;
