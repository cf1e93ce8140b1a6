//! Resolution of `kind: Guardrails`: the platform team's rules → the IR's
//! guardrail tiers. Names are looked up here (`ns/service` needs the service
//! of a namespace's intents, `kube-api` the profile's API server), and each
//! peer becomes pods by labels in namespaces by labels, or something outside
//! the cluster. The meaning is `semantics`'; this module only resolves.

use crate::ir::{Guardrail, GuardrailPeer, GuardrailsIr, Ir, Peer, Port, Source};
use palisade_intents::{
    model::{self, Guardrails, Located},
    syntax::{Entity, PeerSyntax, PortNumber},
    types::Labels,
    Diag, Diags,
};

/// The label every namespace carries with its own name
pub const NAMESPACE_LABEL: &str = "kubernetes.io/metadata.name";

/// The labels that select one namespace by name
pub fn namespace_named(name: &str) -> Labels {
    Labels::from([(NAMESPACE_LABEL.to_string(), name.to_string())])
}

/// Resolve every Guardrails document, in file order
pub(crate) fn resolve(ir: &Ir, documents: &[Guardrails], diags: &mut Diags) -> GuardrailsIr {
    let mut out = GuardrailsIr::default();
    for document in documents {
        if out.source.is_none() {
            out.source = Some(Source {
                loc: document.name.loc.clone(),
                text: format!("Guardrails {}", document.name.value),
            });
        }
        out.admin
            .extend(document.rules.iter().filter_map(|r| rule(ir, r, diags)));
        out.baseline
            .extend(document.baseline.iter().filter_map(|r| rule(ir, r, diags)));
    }
    out
}

fn rule(ir: &Ir, rule: &model::GuardrailRule, diags: &mut Diags) -> Option<Guardrail> {
    let before = diags.len();
    let mut side = |peers: &[Located<model::GuardrailPeer>]| -> Vec<GuardrailPeer> {
        peers.iter().flat_map(|p| peer(ir, p, diags)).collect()
    };
    let from = side(&rule.from);
    let to = side(&rule.to);
    let mut ports = Vec::new();
    for spec in &rule.ports {
        ports.push(match &spec.value.port {
            PortNumber::Single(n) => Port::single(spec.value.protocol, *n),
            PortNumber::Range(a, b) => Port {
                protocol: spec.value.protocol,
                first: *a,
                last: *b,
                name: None,
            },
            // A guardrail's named port is each destination pod's own (as
            // ClusterNetworkPolicy's `destinationNamedPort`)
            PortNumber::Named(name) => Port {
                protocol: spec.value.protocol,
                first: 0,
                last: 0,
                name: Some(name.clone()),
            },
        });
    }
    let outside = |peers: &[GuardrailPeer]| peers.iter().all(|p| matches!(p, GuardrailPeer::Outside(_)));
    if diags.len() == before && outside(&from) && outside(&to) {
        diags.push(
            Diag::error("bad_guardrail", "this guardrail names no pods on either side")
                .at(&rule.loc)
                .help(
                    "a guardrail decides connections of pods: name pods or namespaces as its sources or destinations",
                ),
        );
    }
    (diags.len() == before).then(|| Guardrail {
        action: rule.action.value,
        from,
        to,
        ports,
        source: Source {
            loc: rule.loc.clone(),
            text: rule.text.clone(),
        },
    })
}

/// One peer as written → the peers it stands for (`dns` is the DNS pods and,
/// where the cluster has one, the node-local cache's address)
fn peer(ir: &Ir, written: &Located<model::GuardrailPeer>, diags: &mut Diags) -> Vec<GuardrailPeer> {
    let profile = &ir.profile;
    let pods = |namespaces: Labels, pods: Labels| GuardrailPeer::Pods { namespaces, pods };
    match &written.value {
        model::GuardrailPeer::Namespaces {
            namespaces,
            pods: labels,
        } => vec![pods(namespaces.clone(), labels.clone())],
        model::GuardrailPeer::Metadata => vec![GuardrailPeer::Outside(Peer::Cidr {
            net: profile.metadata,
            except: Vec::new(),
        })],
        model::GuardrailPeer::Peer(syntax) => match syntax {
            PeerSyntax::Namespace(ns) => vec![pods(namespace_named(ns), Labels::new())],
            PeerSyntax::Selector {
                namespace: Some(ns),
                labels,
            } => vec![pods(namespace_named(ns), labels.clone())],
            PeerSyntax::Selector {
                namespace: None,
                labels,
            } => vec![pods(Labels::new(), labels.clone())],
            PeerSyntax::Service {
                namespace: Some(ns),
                name,
            } => match ir.service(ns, name) {
                Some(service) => vec![pods(namespace_named(ns), service.selector.clone())],
                None => {
                    diags.push(
                        Diag::error("unknown_service", format!("no intents declare service `{name}` in `{ns}`"))
                            .at(&written.loc)
                            .help(format!("declare it in the Intents of `{ns}`, or select its pods: `{{ namespace: {ns}, selector: {{...}} }}`")),
                    );
                    Vec::new()
                }
            },
            // the loader refuses a bare service name in a guardrail
            PeerSyntax::Service { namespace: None, .. } => Vec::new(),
            PeerSyntax::Fqdn { name, via, .. } => vec![GuardrailPeer::Outside(Peer::Fqdn {
                name: name.clone(),
                via: *via,
            })],
            PeerSyntax::Cidr { net, except } => vec![GuardrailPeer::Outside(Peer::Cidr {
                net: *net,
                except: except.clone(),
            })],
            PeerSyntax::Entity(Entity::World) => vec![GuardrailPeer::Outside(Peer::Entity(Entity::World))],
            PeerSyntax::Entity(Entity::KubeApi) if profile.api_server.is_none() => {
                diags.push(crate::resolve::missing_profile(
                    &written.loc,
                    "kube-api",
                    "apiServer: { cidrs: [<endpoint IP>/32], ports: [tcp/6443] }",
                ));
                Vec::new()
            }
            PeerSyntax::Entity(Entity::KubeApi) => vec![GuardrailPeer::Outside(Peer::Entity(Entity::KubeApi))],
            PeerSyntax::Entity(Entity::Dns) => {
                let mut out = vec![pods(
                    namespace_named(&profile.dns.namespace),
                    profile.dns.selector.clone(),
                )];
                out.extend(profile.node_local_dns.map(|net| {
                    GuardrailPeer::Outside(Peer::Cidr {
                        net,
                        except: Vec::new(),
                    })
                }));
                out
            }
        },
    }
}
