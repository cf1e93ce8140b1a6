//! One connection explained: what the intents say and what each target's
//! manifests do, with the intent lines and rules that decide it, and where
//! a port is allowed for some HTTP requests only, which ones (from the
//! relation of the layer, so the answer covers every request, not the one
//! asked about).

use crate::Workspace;
use palisade_compiler::{
    ir::Ir,
    model::{synthesize, ClusterModel, Connection, Endpoint, External, Request},
    semantics,
};
use palisade_intents::{
    diag::did_you_mean,
    syntax::{Entity, PeerSyntax, PortNumber},
    terse, Diag,
};
use palisade_relation::{change::between, reference, report, Services, Sides, Universe};
use palisade_targets::{Dialect, Evaluator, Manifest};

/// What is asked: `frontend -> backend tcp/8080`, and an HTTP request
pub struct Question<'a> {
    /// the connection in the terse form
    pub connection: &'a str,
    /// an HTTP method and path, to ask about L7 rules too
    pub request: Option<(&'a str, &'a str)>,
}

/// The answer of one layer: the intents or one target
#[derive(Debug, serde::Serialize)]
pub struct Verdict {
    /// `intents`, `cilium`, `istio (overlay)`
    pub layer: String,
    /// whether the connection passes this layer
    pub allowed: bool,
    /// where the port passes for some HTTP requests only: those (`tcp/8080 GET /products/*`)
    pub only: Option<String>,
    /// the L3/L4 layer sees the connection as its two legs through the egress gateway
    pub through_gateway: bool,
    /// an overlay, enforced with each L3/L4 target
    pub overlay: bool,
    /// the intent lines or rules that decide it
    pub by: Vec<String>,
}

/// How the layers agree
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// the intents and every target let it through
    Allowed,
    /// the intents and every target stop it
    Denied,
    /// a target with its overlays decides otherwise than the intents: `verify` reports it
    Disagree,
}

/// A connection explained
#[derive(Debug, serde::Serialize)]
pub struct Explanation {
    /// the connection in the intents' terms (`shop/backend -> api.stripe.com tcp/443`)
    pub connection: String,
    /// what the intents say
    pub intents: Verdict,
    /// what each target's manifests do
    pub targets: Vec<Verdict>,
    /// how they agree
    pub outcome: Outcome,
}

/// Explain `question` on the intents of `ws` and their `rendered` manifests
pub fn explain(ws: &Workspace, rendered: &[(&str, Vec<Manifest>)], question: &Question) -> Result<Explanation, Diag> {
    let ir = &ws.ir;
    let rule = terse::parse(question.connection)
        .map_err(|errors| bad(errors.first().map_or_else(String::new, |e| e.message.clone())))?;
    let (Some(from), Some(to), Some(port)) = (rule.from.first(), rule.to.first(), rule.ports.first()) else {
        return Err(bad("name one source, one destination and one port".into()));
    };
    let mut model = synthesize(ir);
    for peer in [&from.value, &to.value] {
        if let Some(ext) = outside(ir, peer) {
            if !model.externals.contains(&ext) {
                model.externals.push(ext);
            }
        }
    }
    let number = port_number(ir, &port.value.port)?;
    let source = endpoint(ir, &model, &from.value)?;
    let destination = endpoint(ir, &model, &to.value)?;
    let request = question
        .request
        .map(|(method, path)| Request::new(method, path.to_string()));
    let conn = Connection {
        from: source,
        to: destination,
        protocol: port.value.protocol,
        port: number,
        request: request.as_ref(),
    };
    let universe = Universe::new(&model, !model.requests.is_empty());
    let restriction = |sides: Option<Sides>, allowed: bool| {
        (allowed && conn.request.is_none())
            .then(|| sides.and_then(|s| only_some_requests(&universe, &s, &conn)))
            .flatten()
    };
    let decision = semantics::Semantics::in_model(ir, &model).decide(&conn);
    let intents = Verdict {
        layer: "intents".into(),
        allowed: decision.allowed,
        only: restriction(Some(reference::sides(ir, &universe)), decision.allowed),
        through_gateway: false,
        overlay: false,
        by: unique(
            decision
                .egress_by
                .iter()
                .chain(&decision.ingress_by)
                .map(|e| format!("{} ({})", e.source.text, e.source.loc))
                .chain(
                    decision
                        .guardrails
                        .iter()
                        .map(|g| format!("guardrail {} ({})", g.source.text, g.source.loc)),
                ),
        ),
    };
    let evaluators: Vec<(&'static dyn Dialect, Box<dyn Evaluator + '_>)> = rendered
        .iter()
        .filter_map(|(id, m)| palisade_targets::dialect(id).map(|d| (d, d.evaluator(m))))
        .collect();
    let overlays: Vec<&dyn Evaluator> = evaluators
        .iter()
        .filter(|(d, _)| d.capabilities().overlay)
        .map(|(_, e)| e.as_ref())
        .collect();
    let targets: Vec<Verdict> = evaluators
        .iter()
        .map(|(dialect, evaluator)| {
            let overlay = dialect.capabilities().overlay;
            // An L3/L4 target sees a connection the overlay sends through the
            // egress gateway as its two legs (caller -> gateway, gateway ->
            // host), as verify judges it, never as the caller's own packets
            let legs = if overlay {
                vec![conn]
            } else {
                palisade_targets::verify::l3l4_legs(ir, &model, &conn, &overlays)
            };
            let verdicts: Vec<_> = legs.iter().map(|leg| evaluator.evaluate(&model, leg)).collect();
            let allowed = verdicts.iter().all(|v| v.allowed);
            let through_gateway = legs.len() > 1;
            Verdict {
                layer: if overlay {
                    format!("{} (overlay)", dialect.id())
                } else {
                    dialect.id().to_string()
                },
                allowed,
                only: restriction(
                    (!through_gateway).then(|| evaluator.sides(&universe)).flatten(),
                    allowed,
                ),
                through_gateway,
                overlay,
                by: unique(verdicts.iter().flat_map(|v| &v.decided_by).map(ToString::to_string)),
            }
        })
        .collect();
    // Each L3/L4 target is enforced with every overlay: a combination lets
    // the connection through when all its layers do
    let overlays_allow = targets.iter().filter(|t| t.overlay).all(|t| t.allowed);
    let mut combinations = targets
        .iter()
        .filter(|t| !t.overlay)
        .map(|t| t.allowed && overlays_allow);
    let disagree = if targets.iter().any(|t| !t.overlay) {
        combinations.any(|allowed| allowed != intents.allowed)
    } else {
        !targets.is_empty() && overlays_allow != intents.allowed
    };
    let outcome = if disagree {
        Outcome::Disagree
    } else if intents.allowed {
        Outcome::Allowed
    } else {
        Outcome::Denied
    };
    Ok(Explanation {
        connection: format!(
            "{} -> {} {}/{number}{}",
            peer_text(ir, &from.value, &conn.from),
            peer_text(ir, &to.value, &conn.to),
            port.value.protocol.as_str(),
            question.request.map(|(m, p)| format!(" {m} {p}")).unwrap_or_default()
        ),
        intents,
        targets,
        outcome,
    })
}

fn bad(message: String) -> Diag {
    Diag::error("bad_connection", message)
        .help("write e.g. `frontend -> backend tcp/8080` or `shop/backend -> api.stripe.com tcp/443`")
}

/// Where the layer lets the connection's port through for some requests
/// only, those requests. Only the requests the intents name are asked
/// about: a layer may read "any other request" as unknown (Istio does,
/// as for a connection without a request), which says nothing of a request
/// someone sends.
fn only_some_requests(universe: &Universe, sides: &Sides, conn: &Connection) -> Option<String> {
    let from = universe.class_of(&conn.from)?;
    let to = universe.class_of(&conn.to)?;
    let named: Vec<u32> = (1..=universe.request_count()).collect();
    let port = Services::requests(conn.protocol, conn.port, conn.port, &named);
    let passes = between(sides, universe, from, to).intersection(&port);
    (!passes.is_empty() && passes != port).then(|| report::services(universe, &passes))
}

fn unique(lines: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in lines {
        if !out.contains(&line) {
            out.push(line);
        }
    }
    out
}

/// The number of a port: a named port is looked up on the services that declare it
fn port_number(ir: &Ir, port: &PortNumber) -> Result<u16, Diag> {
    match port {
        PortNumber::Single(n) | PortNumber::Range(n, _) => Ok(*n),
        PortNumber::Named(name) => ir
            .namespaces
            .values()
            .flat_map(|n| n.services.values())
            .find_map(|s| s.ports.get(name))
            .map(|p| p.first)
            .ok_or_else(|| bad(format!("no service declares a port named `{name}`"))),
    }
}

/// The outside address a peer stands for, if it is outside (FQDNs and
/// `world` get a documentation address: it is never shown as resolved)
fn outside(ir: &Ir, peer: &PeerSyntax) -> Option<External> {
    let api_server = |ip| {
        ir.profile
            .api_server
            .iter()
            .any(|a| a.cidrs.iter().any(|c| c.contains(&ip)))
    };
    match peer {
        PeerSyntax::Fqdn { name, .. } => Some(External {
            ip: std::net::IpAddr::from([198, 51, 100, 250]),
            fqdn: Some(name.as_str().to_string()),
            kube_apiserver: false,
        }),
        PeerSyntax::Cidr { net, .. } => Some(External {
            ip: net.network(),
            fqdn: None,
            kube_apiserver: api_server(net.network()),
        }),
        PeerSyntax::Entity(Entity::World) => Some(External {
            ip: std::net::IpAddr::from([203, 0, 113, 10]),
            fqdn: None,
            kube_apiserver: false,
        }),
        PeerSyntax::Entity(Entity::KubeApi) => {
            ir.profile
                .api_server
                .as_ref()
                .and_then(|a| a.cidrs.first())
                .map(|c| External {
                    ip: c.network(),
                    fqdn: None,
                    kube_apiserver: true,
                })
        }
        _ => None,
    }
}

/// The model endpoint a peer names: a service's representative pod, a pod
/// of the namespace that no intent names, the DNS pod, or an outside address
fn endpoint<'m>(ir: &Ir, model: &'m ClusterModel, peer: &PeerSyntax) -> Result<Endpoint<'m>, Diag> {
    let pod = |ns: &str, name: &str| {
        model
            .pods
            .iter()
            .find(|p| p.namespace == ns && p.name == name)
            .map(Endpoint::Pod)
    };
    let found = match peer {
        PeerSyntax::Service {
            namespace: Some(ns),
            name,
        } => pod(ns, name),
        PeerSyntax::Service { namespace: None, name } => {
            let owners: Vec<&str> = ir
                .namespaces
                .values()
                .filter(|n| n.services.contains_key(name))
                .map(|n| n.name.as_str())
                .collect();
            if let [_, _, ..] = owners.as_slice() {
                return Err(bad(format!("`{name}` is a service of {}", owners.join(", ")))
                    .help(format!("name one: `{}/{name}`", owners[0])));
            }
            owners.first().and_then(|ns| pod(ns, name))
        }
        PeerSyntax::Namespace(ns) => model
            .pods
            .iter()
            .find(|p| p.namespace == *ns && p.labels.contains_key("palisade.dev/stranger"))
            .map(Endpoint::Pod),
        PeerSyntax::Entity(Entity::Dns) => pod(&ir.profile.dns.namespace, "dns"),
        other => outside(ir, other).and_then(|ext| model.externals.iter().find(|e| **e == ext).map(Endpoint::External)),
    };
    found.ok_or_else(|| unknown(ir, peer))
}

/// A peer the intents do not declare, with the closest name they do
fn unknown(ir: &Ir, peer: &PeerSyntax) -> Diag {
    let (word, qualified) = match peer {
        PeerSyntax::Service { namespace, name } => (
            namespace
                .as_ref()
                .map_or_else(|| name.clone(), |ns| format!("{ns}/{name}")),
            namespace.is_some(),
        ),
        PeerSyntax::Namespace(ns) => (format!("{ns}/*"), true),
        _ => {
            return bad("an address or name the model cannot stand for".into())
                .help("name a service, `ns/*`, `world`, `kube-api`, `dns`, an FQDN or a CIDR")
        }
    };
    let mut names: Vec<String> = Vec::new();
    for namespace in ir.namespaces.values() {
        names.push(format!("{}/*", namespace.name));
        for service in namespace.services.keys() {
            names.push(format!("{}/{service}", namespace.name));
            if !qualified {
                names.push(service.clone());
            }
        }
    }
    let diag = bad(format!("`{word}` is not a service or namespace of the intents"));
    match did_you_mean(&word, names.iter().map(String::as_str)) {
        Some(hint) => diag.help(hint),
        None => diag.help("`palisade graph` lists the services; write `ns/service` where a name is ambiguous"),
    }
}

/// A peer in the intents' terms: services by `ns/name`, a namespace's
/// other pods as `ns/*`, outside names and entities as written (never an
/// address the model made up)
fn peer_text(ir: &Ir, peer: &PeerSyntax, endpoint: &Endpoint) -> String {
    match (peer, endpoint) {
        (PeerSyntax::Namespace(ns), _) => format!("{ns}/* (pods no intent names)"),
        (PeerSyntax::Entity(Entity::Dns), _) => format!("dns ({}/dns)", ir.profile.dns.namespace),
        (PeerSyntax::Entity(Entity::World), _) => "world".into(),
        (PeerSyntax::Entity(Entity::KubeApi), Endpoint::External(e)) => format!("kube-api ({})", e.ip),
        (PeerSyntax::Fqdn { name, .. }, _) => name.as_str().to_string(),
        (_, Endpoint::Pod(pod)) => pod.id(),
        (_, Endpoint::External(e)) => e.ip.to_string(),
    }
}
