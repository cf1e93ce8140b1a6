//! `palisade explain DIR "frontend -> backend tcp/8080"`: for each target,
//! allowed or denied, the intent line responsible and the emitted rule.

use crate::{workspace, Exit};
use palisade_compiler::{
    ir::Ir,
    model::{synthesize, ClusterModel, Connection, Endpoint, External, Request},
    semantics,
};
use palisade_intents::Diags;
use palisade_intents::{
    syntax::{Entity, PeerSyntax, PortNumber},
    terse, Diag,
};
use palisade_targets::Mode;

/// Arguments of `palisade explain`
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    intents: workspace::IntentsArgs,
    /// The connection, in the terse form: `frontend -> backend tcp/8080`
    /// (`ns/service`, an FQDN, an address or `world` on either side)
    connection: String,
    /// HTTP method, to ask about L7 rules too
    #[arg(long, requires = "path")]
    method: Option<String>,
    /// HTTP path, to ask about L7 rules too
    #[arg(long, requires = "method")]
    path: Option<String>,
}

/// Explain and print
pub fn run(args: &Args, sink: &mut Diags) -> Exit {
    let Some((ws, dialects)) = workspace::load_with_targets(&args.intents.dir, None, &args.intents.target, sink) else {
        return Exit::Input;
    };
    let bad = |message: String| {
        Diag::error("bad_connection", message)
            .help("write e.g. `frontend -> backend tcp/8080` or `shop/backend -> api.stripe.com tcp/443`")
    };
    let rule = match terse::parse(&args.connection) {
        Ok(r) => r,
        Err(errors) => {
            sink.push(bad(errors.first().map_or_else(String::new, |e| e.message.clone())));
            return Exit::Input;
        }
    };
    let (Some(from), Some(to), Some(port)) = (rule.from.first(), rule.to.first(), rule.ports.first()) else {
        sink.push(bad("name one source, one destination and one port".into()));
        return Exit::Input;
    };
    let mut model = synthesize(&ws.ir);
    for peer in [&from.value, &to.value] {
        if let Some(ext) = outside(&ws.ir, peer) {
            if !model.externals.contains(&ext) {
                model.externals.push(ext);
            }
        }
    }
    let number = match &port.value.port {
        PortNumber::Single(n) => Some(*n),
        PortNumber::Named(name) => ws
            .ir
            .namespaces
            .values()
            .flat_map(|n| n.services.values())
            .find_map(|s| s.ports.get(name))
            .map(|p| p.first),
        PortNumber::Range(a, _) => Some(*a),
    };
    let (Some(source), Some(destination), Some(number)) = (
        endpoint(&ws.ir, &model, &from.value),
        endpoint(&ws.ir, &model, &to.value),
        number,
    ) else {
        sink.push(bad(format!(
            "`{}` names a service, namespace or port the intents do not declare",
            args.connection
        )));
        return Exit::Input;
    };
    let request = args
        .method
        .as_ref()
        .zip(args.path.as_ref())
        .map(|(m, p)| Request::new(m, p.clone()));
    let conn = Connection {
        from: source,
        to: destination,
        protocol: port.value.protocol,
        port: number,
        request: request.as_ref(),
    };
    // Rendered before anything is printed: a rendering no evaluator can read
    // is an error, not a line of denials.
    let (rendered, diags) = workspace::render(&ws, &dialects, Mode::Enforce);
    sink.extend(diags.clone());
    for (_, manifests) in &rendered {
        let problems = palisade_engine::manifests::rendered_problems(manifests);
        if problems.has_errors() {
            sink.extend(problems.clone());
            return Exit::Input;
        }
    }
    let decision = semantics::decide(&ws.ir, &conn);
    println!("{}", conn.describe());
    let intents: Vec<String> = decision
        .egress_by
        .iter()
        .chain(&decision.ingress_by)
        .map(|e| format!("{} ({})", e.source.text, e.source.loc))
        .collect();
    let mut unique = Vec::new();
    for i in intents {
        if !unique.contains(&i) {
            unique.push(i);
        }
    }
    println!("  intents: {}", if decision.allowed { "allowed" } else { "denied" });
    for line in &unique {
        println!("    by {line}");
    }
    if !decision.allowed {
        println!("    no intent allows it");
    }
    // Each target's manifests are read once; the overlays' evaluators also
    // tell which connections go through the egress gateway
    let evaluators: Vec<(
        &'static dyn palisade_targets::Dialect,
        Box<dyn palisade_targets::Evaluator + '_>,
    )> = rendered
        .iter()
        .filter_map(|(id, m)| palisade_targets::dialect(id).map(|d| (d, d.evaluator(m))))
        .collect();
    let overlay_refs: Vec<&dyn palisade_targets::Evaluator> = evaluators
        .iter()
        .filter(|(d, _)| d.capabilities().overlay)
        .map(|(_, e)| e.as_ref())
        .collect();
    for (dialect, evaluator) in &evaluators {
        let overlay = dialect.capabilities().overlay;
        // An L3/L4 target sees a connection the overlay sends through the
        // egress gateway as its two legs (caller -> gateway, gateway -> host),
        // as verify judges it, never as the caller's own packets to the host
        let legs = if overlay {
            vec![conn]
        } else {
            palisade_targets::verify::l3l4_legs(&ws.ir, &model, &conn, &overlay_refs)
        };
        let verdicts: Vec<_> = legs.iter().map(|leg| evaluator.evaluate(&model, leg)).collect();
        let allowed = verdicts.iter().all(|v| v.allowed);
        let kind = if overlay { " (overlay)" } else { "" };
        let through = if legs.len() > 1 {
            " (through the egress gateway)"
        } else {
            ""
        };
        println!(
            "  {}{kind}: {}{through}",
            dialect.id(),
            if allowed { "allowed" } else { "denied" }
        );
        for rule in verdicts.iter().flat_map(|v| &v.decided_by) {
            println!("    by {rule}");
        }
    }
    Exit::Ok
}

/// The outside address a peer stands for, if it is outside
fn outside(ir: &Ir, peer: &PeerSyntax) -> Option<External> {
    match peer {
        PeerSyntax::Fqdn { name, .. } => Some(External {
            ip: std::net::IpAddr::from([198, 51, 100, 250]),
            fqdn: Some(name.as_str().to_string()),
            kube_apiserver: false,
        }),
        PeerSyntax::Cidr { net, .. } => Some(External {
            ip: net.network(),
            fqdn: None,
            kube_apiserver: ir
                .profile
                .api_server
                .iter()
                .any(|a| a.cidrs.iter().any(|c| c.contains(&net.network()))),
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

/// The model endpoint a peer names: a service's representative pod, a
/// namespace's stranger pod, the DNS pod, or an outside address
fn endpoint<'m>(ir: &Ir, model: &'m ClusterModel, peer: &PeerSyntax) -> Option<Endpoint<'m>> {
    let pod = |ns: &str, name: &str| {
        model
            .pods
            .iter()
            .find(|p| p.namespace == ns && p.name == name)
            .map(Endpoint::Pod)
    };
    match peer {
        PeerSyntax::Service {
            namespace: Some(ns),
            name,
        } => pod(ns, name),
        PeerSyntax::Service { namespace: None, name } => {
            let mut owners = ir.namespaces.values().filter(|n| n.services.contains_key(name));
            let ns = owners.next()?;
            if owners.next().is_some() {
                return None; // ambiguous: ask for ns/service
            }
            pod(&ns.name, name)
        }
        PeerSyntax::Namespace(ns) => pod(ns, "stranger"),
        PeerSyntax::Entity(Entity::Dns) => pod(&ir.profile.dns.namespace, "dns"),
        other => {
            let ext = outside(ir, other)?;
            model.externals.iter().find(|e| **e == ext).map(Endpoint::External)
        }
    }
}
