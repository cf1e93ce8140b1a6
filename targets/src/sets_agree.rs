//! The one check every dialect's set tests make: on every connection of a
//! model (each modelled request too, where the destination is a pod), the
//! dialect's sets answer as its per-connection evaluator does, in a universe
//! with and without requests.

#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail by panicking")]

use crate::Evaluator;
use palisade_compiler::model::{ClusterModel, Connection, Endpoint};
use palisade_relation::{services::key, Universe};

/// Panics at the first connection the sets and the evaluator decide differently
pub(crate) fn sets_agree(evaluator: &dyn Evaluator, model: &ClusterModel) {
    for requests in [false, true] {
        let universe = Universe::new(model, requests);
        let sides = evaluator.sides(&universe).expect("sets");
        for conn in model.connections() {
            let from = universe.class_of(&conn.from).unwrap();
            let to = universe.class_of(&conn.to).unwrap();
            let mut asked = vec![(conn, 0)];
            if matches!(conn.to, Endpoint::Pod(_)) && requests {
                asked.extend((1u32..).zip(&model.requests).map(|(r, request)| {
                    (
                        Connection {
                            request: Some(request),
                            ..conn
                        },
                        r,
                    )
                }));
            }
            for (c, r) in asked {
                let symbolic = sides.allows(&universe, from, to, key(c.protocol, c.port, r));
                let enumerative = evaluator.allows(model, &c);
                assert_eq!(
                    symbolic,
                    enumerative,
                    "{} (requests: {requests}): sets {symbolic}, evaluator {enumerative}",
                    c.describe()
                );
            }
        }
    }
}
