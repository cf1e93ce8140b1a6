//! `palisade::allow_all`
//!
//! What it finds: edges shaped like "allow everything": from `world` on every
//! port, to `world` or `0.0.0.0/0` on every port, or from a whole namespace to
//! a whole namespace on every port.
//!
//! Why it matters: such an edge undoes the default deny for its side; it is
//! usually a placeholder that outlived the migration.
//!
//! Instead: name the ports, and the services rather than the namespace.

use crate::ir::{Ir, Peer};
use palisade_intents::{syntax::Entity, Diag, Diags};

pub(super) fn check(ir: &Ir, diags: &mut Diags) {
    for edge in ir.edges.iter().filter(|e| e.ports.is_empty() && !e.from_baseline) {
        let everything = |p: &Peer| match p {
            Peer::Entity(Entity::World) => true,
            Peer::Cidr { net, except } => net.prefix_len() == 0 && except.is_empty(),
            _ => false,
        };
        let shape = if everything(&edge.from) {
            Some("from anywhere outside the cluster on every port")
        } else if everything(&edge.to) {
            Some("to anywhere outside the cluster on every port")
        } else if matches!((&edge.from, &edge.to), (Peer::Namespace(_), Peer::Namespace(_))) {
            Some("between whole namespaces on every port")
        } else {
            None
        };
        if let Some(shape) = shape {
            diags.push(
                Diag::warning("allow_all", format!("`{}` allows everything {shape}", edge.describe()))
                    .at(&edge.source.loc)
                    .help("name the ports (e.g. `tcp/443`) and the services instead of whole namespaces"),
            );
        }
    }
}
