//! The one check every dialect's set tests make: on every connection of a
//! model (each modelled request too, where the destination is a pod), the
//! dialect's sets answer as its per-connection evaluator does, in a universe
//! with and without requests.

#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail by panicking")]

use crate::Evaluator;
use palisade_compiler::model::{ClusterModel, Connection, Endpoint};
use palisade_intents::syntax::Protocol;
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

/// The sets' answer on one TCP connection, in a universe with requests:
/// `from` and `to` are pod ids (`ns/name`), names or addresses of the model,
/// `request` a method and path of the model's requests
pub(crate) fn sets_answer(
    evaluator: &dyn Evaluator,
    model: &ClusterModel,
    (from, to): (&str, &str),
    port: u16,
    request: Option<(&str, &str)>,
) -> bool {
    let universe = Universe::new(model, true);
    let sides = evaluator.sides(&universe).unwrap();
    let endpoint = |id: &str| -> Endpoint {
        match model.pods.iter().find(|p| p.id() == id) {
            Some(p) => Endpoint::Pod(p),
            None => Endpoint::External(
                model
                    .externals
                    .iter()
                    .find(|e| e.fqdn.as_deref() == Some(id) || e.ip.to_string() == id)
                    .unwrap_or_else(|| panic!("no endpoint {id}")),
            ),
        }
    };
    let r = request.map_or(0, |(m, p)| {
        (1u32..)
            .zip(&model.requests)
            .find(|(_, q)| q.method == m && q.path == p)
            .map(|(r, _)| r)
            .unwrap()
    });
    let (f, t) = (endpoint(from), endpoint(to));
    sides.allows(
        &universe,
        universe.class_of(&f).unwrap(),
        universe.class_of(&t).unwrap(),
        key(Protocol::Tcp, port, r),
    )
}
