//! Resolution: the intents of every file → one IR. Names are looked up across
//! files and namespaces here, so this is where unknown services, namespaces
//! and named ports are reported.

use crate::{
    ir::{Edge, Ir, NamespaceIr, Peer, Port, ServiceIr, Source},
    profile::ClusterProfile,
};
use ipnet::IpNet;
use palisade_intents::{
    diag::did_you_mean,
    model::{Intents, Located, Repository, Rule},
    syntax::{Entity, PeerSyntax, PortNumber, PortSpec},
    types::{Baseline, Posture, Via},
    Diag, Diags, Loc,
};
use std::collections::BTreeMap;

/// Resolve a loaded repository into the IR; errors and warnings go to `diags`
pub fn resolve(repository: &Repository, diags: &mut Diags) -> Ir {
    let profile = repository.project.as_ref().map_or_else(ClusterProfile::default, |p| {
        ClusterProfile::from_syntax(&p.cluster, diags)
    });
    let mut ir = Ir {
        profile,
        namespaces: BTreeMap::new(),
        edges: Vec::new(),
        calico_enterprise: repository.project.as_ref().is_some_and(|p| p.calico_enterprise),
        l7_degrade: repository.project.as_ref().and_then(|p| p.l7_degrade.clone()),
        guardrails: crate::ir::GuardrailsIr::default(),
    };
    for intents in &repository.intents {
        declare(&mut ir, intents, diags);
    }
    for intents in &repository.intents {
        let namespace = intents.namespace.value.clone();
        for rule in &intents.rules {
            let edges = Resolver {
                ir: &ir,
                namespace: &namespace,
                diags,
            }
            .rule(rule);
            ir.edges.extend(edges);
        }
    }
    let baseline_edges = baseline_edges(&ir, diags);
    ir.edges.extend(baseline_edges);
    ir.guardrails = crate::guardrails::resolve(&ir, &repository.guardrails, diags);
    ir
}

fn source(loc: &Loc, text: impl Into<String>) -> Source {
    Source {
        loc: loc.clone(),
        text: text.into(),
    }
}

/// Namespaces and services first, so rules may name services of later files
fn declare(ir: &mut Ir, intents: &Intents, diags: &mut Diags) {
    let name = intents.namespace.value.clone();
    let posture_source = source(
        &intents.posture.loc,
        format!("posture: {}", posture_word(intents.posture.value)),
    );
    let namespace = ir.namespaces.entry(name.clone()).or_insert_with(|| NamespaceIr {
        name: name.clone(),
        intents_name: intents.name.value.clone(),
        posture: intents.posture.value,
        posture_source: posture_source.clone(),
        baseline: BTreeMap::new(),
        services: BTreeMap::new(),
    });
    if intents.posture_written {
        if namespace.posture != intents.posture.value
            && namespace.posture_source.text.starts_with("posture")
            // Two files may hold their postures at the same offset: a place
            // is a file and an offset, or the file that sorts last wins silently
            && (namespace.posture_source.loc.file.path != intents.posture.loc.file.path
                || namespace.posture_source.loc.offset != intents.posture.loc.offset)
        {
            diags.push(
                Diag::error(
                    "conflicting_posture",
                    format!("namespace `{name}` is given two postures"),
                )
                .at(&intents.posture.loc)
                .help(format!(
                    "{} sets `{}`; set the posture in one Intents document",
                    namespace.posture_source.loc,
                    posture_word(namespace.posture)
                )),
            );
        }
        namespace.posture = intents.posture.value;
        namespace.posture_source = posture_source;
    }
    for b in &intents.baseline {
        namespace
            .baseline
            .entry(b.value)
            .or_insert_with(|| source(&b.loc, format!("baseline: {}", b.value.as_str())));
    }
    for decl in &intents.services {
        if let Some(existing) = namespace.services.get(&decl.name.value) {
            diags.push(
                Diag::error(
                    "duplicate_service",
                    format!("service `{}` is declared twice in namespace `{name}`", decl.name.value),
                )
                .at(&decl.name.loc)
                .help(format!(
                    "it is first declared at {}; keep one declaration",
                    existing.source.loc
                )),
            );
            continue;
        }
        let ports = decl
            .ports
            .iter()
            .filter_map(|(port_name, spec)| match spec.value.port {
                PortNumber::Single(n) => Some((
                    port_name.clone(),
                    Port {
                        protocol: spec.value.protocol,
                        first: n,
                        last: n,
                        name: Some(port_name.clone()),
                    },
                )),
                _ => None,
            })
            .collect();
        namespace.services.insert(
            decl.name.value.clone(),
            ServiceIr {
                namespace: name.clone(),
                name: decl.name.value.clone(),
                selector: decl.selector.value.clone(),
                service_account: decl.service_account.as_ref().map(|s| s.value.clone()),
                ports,
                baseline: decl
                    .baseline
                    .iter()
                    .map(|b| {
                        (
                            b.value,
                            source(&b.loc, format!("{}: baseline {}", decl.name.value, b.value.as_str())),
                        )
                    })
                    .collect(),
                source: source(&decl.name.loc, format!("service {}", decl.name.value)),
            },
        );
    }
}

fn posture_word(p: Posture) -> &'static str {
    match p {
        Posture::DefaultDeny => "default-deny",
        Posture::DefaultDenyIngress => "default-deny-ingress",
        Posture::None => "none",
    }
}

/// Baseline entries → edges to the infrastructure the profile describes
fn baseline_edges(ir: &Ir, diags: &mut Diags) -> Vec<Edge> {
    let mut edges = Vec::new();
    let namespace_baseline = ir.namespaces.values().flat_map(|ns| {
        ns.baseline
            .iter()
            .map(|(b, s)| (Peer::Namespace(ns.name.clone()), *b, s.clone()))
    });
    let per_service = ir
        .namespaces
        .values()
        .flat_map(|ns| ns.services.values())
        .flat_map(|svc| {
            svc.baseline.iter().map(|(b, s)| {
                (
                    Peer::Service {
                        namespace: svc.namespace.clone(),
                        name: svc.name.clone(),
                    },
                    *b,
                    s.clone(),
                )
            })
        });
    for (from, baseline, source) in namespace_baseline.chain(per_service) {
        let profile = &ir.profile;
        let (to, ports) = match baseline {
            Baseline::Dns => (Peer::Entity(Entity::Dns), profile.dns.ports.clone()),
            Baseline::KubeApi => match &profile.api_server {
                Some(api) => (Peer::Entity(Entity::KubeApi), api.ports.clone()),
                None => {
                    diags.push(missing_profile(
                        &source.loc,
                        "kube-api",
                        "apiServer: { cidrs: [<endpoint IP>/32], ports: [tcp/6443] }",
                    ));
                    continue;
                }
            },
            Baseline::Metadata => (
                Peer::Cidr {
                    net: profile.metadata,
                    except: Vec::new(),
                },
                profile.metadata_ports.clone(),
            ),
            Baseline::Telemetry => {
                match &profile.telemetry {
                    Some(t) => (
                        Peer::Pods {
                            namespace: t.namespace.clone(),
                            selector: t.selector.clone(),
                        },
                        t.ports.clone(),
                    ),
                    None => {
                        diags.push(missing_profile(&source.loc, "telemetry", "telemetry: { namespace: observability, selector: { app: otel-collector }, ports: [tcp/4317] }"));
                        continue;
                    }
                }
            }
        };
        edges.push(Edge {
            from,
            to,
            ports,
            http: Vec::new(),
            source,
            from_baseline: true,
        });
    }
    edges
}

pub(crate) fn missing_profile(loc: &Loc, what: &str, example: &str) -> Diag {
    Diag::error(
        "missing_profile",
        format!("`{what}` needs the cluster profile to say where it is"),
    )
    .at(loc)
    .help(format!("add under `spec.cluster` in palisade.yaml: `{example}`"))
}

struct Resolver<'a> {
    ir: &'a Ir,
    namespace: &'a str,
    diags: &'a mut Diags,
}

impl Resolver<'_> {
    fn rule(&mut self, rule: &Rule) -> Vec<Edge> {
        let before = self.diags.len();
        let from: Vec<(Peer, Loc)> = rule
            .from
            .iter()
            .filter_map(|p| self.peer(p).map(|peer| (peer, p.loc.clone())))
            .collect();
        let to: Vec<(Peer, Loc)> = rule
            .to
            .iter()
            .filter_map(|p| self.peer(p).map(|peer| (peer, p.loc.clone())))
            .collect();
        for (peer, loc) in &from {
            if matches!(peer, Peer::Fqdn { .. } | Peer::Entity(Entity::Dns | Entity::KubeApi)) {
                self.diags.push(Diag::error("bad_source", format!("`{peer}` cannot open connections into the cluster")).at(loc).help("FQDNs, `dns` and `kube-api` are destinations only; swap the sides if the cluster connects to it"));
            }
        }
        let mut edges = Vec::new();
        for (from_peer, from_loc) in &from {
            for (to_peer, to_loc) in &to {
                let ports = self.ports(rule, to_peer, to_loc);
                if !self.touches_managed(from_peer) && !self.touches_managed(to_peer) {
                    self.diags.push(
                        Diag::error("unmanaged_edge", format!("`{from_peer} -> {to_peer}` touches no namespace that has Intents"))
                            .at(from_loc)
                            .help("palisade only writes policies for namespaces with an Intents document; declare one side's namespace"),
                    );
                    continue;
                }
                if let Peer::Fqdn { via: Via::Direct, .. } = to_peer {
                    // A connection to a name starts with looking it up: the edge
                    // brings the DNS allowance it cannot work without.
                    edges.push(Edge {
                        from: from_peer.clone(),
                        to: Peer::Entity(Entity::Dns),
                        ports: self.ir.profile.dns.ports.clone(),
                        http: Vec::new(),
                        source: source(&rule.loc, rule.text.clone()),
                        from_baseline: true,
                    });
                }
                edges.push(Edge {
                    from: from_peer.clone(),
                    to: to_peer.clone(),
                    ports,
                    http: rule.http.clone(),
                    source: source(&rule.loc, rule.text.clone()),
                    from_baseline: false,
                });
            }
        }
        if self.diags.len() != before && self.diags.has_errors() {
            return Vec::new();
        }
        edges
    }

    fn touches_managed(&self, peer: &Peer) -> bool {
        peer.namespace().is_some_and(|ns| self.ir.namespaces.contains_key(ns))
    }

    fn ports(&mut self, rule: &Rule, to: &Peer, to_loc: &Loc) -> Vec<Port> {
        let url_port = rule.to.iter().find_map(|p| match &p.value {
            PeerSyntax::Fqdn {
                url_port: Some(port), ..
            } if p.loc.offset == to_loc.offset => Some(port.clone()),
            _ => None,
        });
        let written: Vec<Located<PortSpec>> = match url_port {
            Some(port) => vec![Located::new(port, to_loc.clone())],
            None => rule.ports.clone(),
        };
        if written.is_empty() {
            // The infrastructure entities default to the ports the profile gives them.
            return match to {
                Peer::Entity(Entity::Dns) => self.ir.profile.dns.ports.clone(),
                Peer::Entity(Entity::KubeApi) => self
                    .ir
                    .profile
                    .api_server
                    .as_ref()
                    .map(|a| a.ports.clone())
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
        }
        let mut ports = Vec::new();
        for spec in written {
            match &spec.value.port {
                PortNumber::Single(n) => ports.push(Port::single(spec.value.protocol, *n)),
                PortNumber::Range(a, b) => ports.push(Port {
                    protocol: spec.value.protocol,
                    first: *a,
                    last: *b,
                    name: None,
                }),
                PortNumber::Named(name) => {
                    let Peer::Service {
                        namespace,
                        name: service,
                    } = to
                    else {
                        self.diags.push(
                            Diag::error("unknown_named_port", format!("named port `{name}` needs a service destination"))
                                .at(&spec.loc)
                                .help("named ports are declared by services (`ports: { http: tcp/8080 }`); write the number here"),
                        );
                        continue;
                    };
                    let declared = self.ir.service(namespace, service).map(|s| &s.ports);
                    match declared.and_then(|d| d.get(name)) {
                        Some(port) if port.protocol == spec.value.protocol => ports.push(port.clone()),
                        Some(port) => self.diags.push(
                            Diag::error(
                                "unknown_named_port",
                                format!(
                                    "`{service}` declares `{name}` as {}, not {}",
                                    port.protocol.as_str(),
                                    spec.value.protocol.as_str()
                                ),
                            )
                            .at(&spec.loc)
                            .help(format!("write `{}/{name}`", port.protocol.as_str())),
                        ),
                        None => {
                            let names: Vec<&str> = declared
                                .map(|d| d.keys().map(String::as_str).collect())
                                .unwrap_or_default();
                            let help = did_you_mean(name, names.iter().copied()).unwrap_or_else(|| {
                                if names.is_empty() {
                                    format!("declare it on the service: `{service}: {{ ports: {{ {name}: tcp/<number> }} }}`")
                                } else {
                                    format!("`{service}` declares {}", names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "))
                                }
                            });
                            self.diags.push(
                                Diag::error(
                                    "unknown_named_port",
                                    format!("service `{service}` has no port named `{name}`"),
                                )
                                .at(&spec.loc)
                                .help(help),
                            );
                        }
                    }
                }
            }
        }
        ports
    }

    fn peer(&mut self, peer: &Located<PeerSyntax>) -> Option<Peer> {
        match &peer.value {
            PeerSyntax::Service { namespace, name } => {
                let ns = namespace.as_deref().unwrap_or(self.namespace);
                if !self.known_namespace(ns, &peer.loc) {
                    return None;
                }
                if self.ir.service(ns, name).is_some() {
                    return Some(Peer::Service {
                        namespace: ns.to_string(),
                        name: name.clone(),
                    });
                }
                let services = self
                    .ir
                    .namespaces
                    .get(ns)
                    .map(|n| n.services.keys().map(String::as_str).collect::<Vec<_>>())
                    .unwrap_or_default();
                let help = did_you_mean(name, services.iter().copied())
                    .unwrap_or_else(|| format!("declare it under `spec.services` of namespace `{ns}`'s Intents"));
                let where_ = if namespace.is_some() {
                    format!(" in namespace `{ns}`")
                } else {
                    String::new()
                };
                self.diags.push(
                    Diag::error("unknown_service", format!("unknown service `{name}`{where_}"))
                        .at(&self.name_loc(peer, name))
                        .help(help),
                );
                None
            }
            PeerSyntax::Namespace(ns) => self.known_namespace(ns, &peer.loc).then(|| Peer::Namespace(ns.clone())),
            PeerSyntax::Selector { namespace, labels } => Some(Peer::Pods {
                namespace: namespace.clone().unwrap_or_else(|| self.namespace.to_string()),
                selector: labels.clone(),
            }),
            PeerSyntax::Fqdn { name, via, .. } => {
                if *via == Via::EgressGateway && self.ir.profile.egress_gateway.is_none() {
                    self.diags.push(missing_profile(&peer.loc, "via: egress-gateway", "egressGateway: { namespace: istio-system, selector: { istio: egressgateway }, service: istio-egressgateway }"));
                    return None;
                }
                Some(Peer::Fqdn {
                    name: name.clone(),
                    via: *via,
                })
            }
            PeerSyntax::Cidr { net, except } => self.outside_cluster(*net, except, &peer.loc),
            PeerSyntax::Entity(Entity::KubeApi) if self.ir.profile.api_server.is_none() => {
                self.diags.push(missing_profile(
                    &peer.loc,
                    "kube-api",
                    "apiServer: { cidrs: [<endpoint IP>/32], ports: [tcp/6443] }",
                ));
                None
            }
            PeerSyntax::Entity(e) => Some(Peer::Entity(*e)),
        }
    }

    /// A CIDR means addresses outside the cluster (DESIGN.md, semantics), but
    /// NetworkPolicy ipBlocks and Calico nets also match pod addresses: the
    /// cluster's ranges inside the block become excepts here, in the IR, so
    /// that every emitter inherits them. A block with nothing left outside the
    /// cluster is refused: pods are reached by naming them.
    fn outside_cluster(&mut self, net: IpNet, except: &[IpNet], loc: &Loc) -> Option<Peer> {
        // `::ffff:a.b.c.d` is an IPv4 address to Go's net package (every CNI's
        // parser): such a block would escape the IPv4 cluster ranges' check
        let mapped = IpNet::V6(ipnet::Ipv6Net::new(std::net::Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96).ok()?);
        if matches!(net, IpNet::V6(_)) && (net.contains(&mapped) || mapped.contains(&net)) {
            self.diags.push(
                Diag::error(
                    "cidr_ipv4_mapped",
                    format!("`{net}` holds IPv4-mapped IPv6 addresses, which the layers read as IPv4"),
                )
                .at(loc)
                .help("write the IPv4 block itself (e.g. `10.0.0.0/24` for `::ffff:10.0.0.0/120`)"),
            );
            return None;
        }
        let cluster = &self.ir.profile.cluster_cidrs;
        let same_family = |c: &IpNet| matches!((c, &net), (IpNet::V4(_), IpNet::V4(_)) | (IpNet::V6(_), IpNet::V6(_)));
        let inside: Vec<IpNet> = cluster
            .iter()
            .filter(|c| same_family(c) && net.contains(*c) && !except.iter().any(|e| e.contains(*c)))
            .map(IpNet::trunc)
            .collect();
        let mut all: Vec<IpNet> = except.to_vec();
        all.extend(inside.iter().copied());
        let nothing_left = IpNet::aggregate(&all) == vec![net.trunc()];
        let enclosing = cluster.iter().any(|c| same_family(c) && c.contains(&net));
        if enclosing || nothing_left {
            let ranges = cluster.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            self.diags.push(
                Diag::error(
                    "cidr_inside_cluster",
                    format!("`{net}` lies inside the cluster's own ranges (`clusterCIDRs`: {ranges}): a CIDR means addresses outside the cluster"),
                )
                .at(loc)
                .help("name the pods instead: a service (`backend`, `ns/backend`), every pod of a namespace (`ns/*`) or `{ namespace: ns, selector: {...} }`"),
            );
            return None;
        }
        if !inside.is_empty() {
            self.diags.push(
                Diag::warning(
                    "cidr_overlaps_cluster",
                    format!(
                        "`{net}` contains the cluster's own {}: excepted, since a CIDR means addresses outside the cluster",
                        inside.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
                    ),
                )
                .at(loc)
                .help("to reach pods in that range, name them: a service (`backend`), `ns/*`, or `{ namespace: ns, selector: {...} }`"),
            );
        }
        // The user's excepts keep their order; those inside an added cluster
        // range say nothing more.
        let mut excepts: Vec<IpNet> = except
            .iter()
            .filter(|e| !inside.iter().any(|c| c.contains(*e)))
            .copied()
            .collect();
        for range in inside {
            if !excepts.contains(&range) {
                excepts.push(range);
            }
        }
        Some(Peer::Cidr { net, except: excepts })
    }

    /// The span of the service name inside `ns/name`
    fn name_loc(&self, peer: &Located<PeerSyntax>, name: &str) -> Loc {
        let text = peer.loc.text();
        match text.rfind(name) {
            Some(at) if text.contains('/') => peer.loc.sub(at, name.len()),
            _ => peer.loc.clone(),
        }
    }

    fn known_namespace(&mut self, ns: &str, loc: &Loc) -> bool {
        if self.ir.namespaces.contains_key(ns) {
            return true;
        }
        let known: Vec<&str> = self.ir.namespaces.keys().map(String::as_str).collect();
        let help = did_you_mean(ns, known.iter().copied())
            .unwrap_or_else(|| format!("no Intents declare namespace `{ns}`; add one, or name its pods with `{{ namespace: {ns}, selector: {{...}} }}`"));
        self.diags.push(
            Diag::error("unknown_namespace", format!("unknown namespace `{ns}`"))
                .at(&loc.sub(0, ns.len()))
                .help(help),
        );
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        model::{Connection, Endpoint, External},
        semantics,
    };
    use palisade_intents::syntax::Protocol;

    fn compile(cluster: &str, peer: &str) -> Result<(Ir, Diags), Diags> {
        let project = format!(
            "apiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: {{ name: p }}\nspec:\n  cluster: {cluster}\n"
        );
        let intents = format!("apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: {{ name: shop, namespace: shop }}\nspec:\n  posture: default-deny\n  services:\n    api: {{ selector: {{ app: api }} }}\n  allow:\n    - {{ from: api, to: {peer}, ports: [tcp/443] }}\n");
        let files = vec![
            palisade_intents::RawFile {
                path: "palisade.yaml".into(),
                bytes: project.into_bytes(),
            },
            palisade_intents::RawFile {
                path: "intents/shop.yaml".into(),
                bytes: intents.into_bytes(),
            },
        ];
        let repository = palisade_intents::load_files(files)?;
        crate::compile(&repository)
    }

    fn excepts(ir: &Ir) -> Vec<String> {
        ir.edges
            .iter()
            .find_map(|e| match &e.to {
                Peer::Cidr { except, .. } => Some(except.iter().map(ToString::to_string).collect()),
                _ => None,
            })
            .unwrap_or_default()
    }

    const CLUSTER: &str = "{ clusterCIDRs: [10.244.0.0/16, 10.96.0.0/12] }";

    #[test]
    fn the_cluster_ranges_inside_a_cidr_become_excepts_with_a_warning() {
        let Ok((ir, warnings)) = compile(CLUSTER, "{ cidr: 10.0.0.0/8, except: [10.1.0.0/16, 10.244.7.0/24] }") else {
            unreachable!()
        };
        // The user's except inside an added range says nothing more.
        assert_eq!(excepts(&ir), ["10.1.0.0/16", "10.244.0.0/16", "10.96.0.0/12"]);
        assert!(warnings
            .iter()
            .any(|d| d.code_str() == "cidr_overlaps_cluster" && d.loc().is_some()));
        // The reference semantics agrees: a service address is not the CIDR.
        let api = ir
            .edges
            .iter()
            .find(|e| matches!(e.to, Peer::Cidr { .. }))
            .map(|e| &e.to);
        for (ip, expected) in [
            ([10, 96, 0, 10], false),
            ([10, 244, 1, 1], false),
            ([10, 2, 0, 1], true),
        ] {
            let ext = External {
                ip: std::net::IpAddr::from(ip),
                fqdn: None,
                kube_apiserver: false,
            };
            let pod = crate::model::synthesize(&ir);
            let from = pod.pods.iter().find(|p| p.name == "api").map(Endpoint::Pod);
            let Some(from) = from else { unreachable!() };
            let conn = Connection {
                from,
                to: Endpoint::External(&ext),
                protocol: Protocol::Tcp,
                port: 443,
                request: None,
            };
            assert_eq!(semantics::decide(&ir, &conn).allowed, expected, "{ip:?} {api:?}");
        }
    }

    #[test]
    fn a_cidr_outside_the_cluster_is_left_as_written() {
        let Ok((ir, warnings)) = compile(CLUSTER, "{ cidr: 203.0.113.0/24, except: [203.0.113.128/25] }") else {
            unreachable!()
        };
        assert_eq!(excepts(&ir), ["203.0.113.128/25"]);
        assert!(warnings.iter().all(|d| d.code_str() != "cidr_overlaps_cluster"));
    }

    #[test]
    fn a_cidr_with_nothing_outside_the_cluster_is_refused_at_its_place() {
        for peer in [
            "10.244.3.0/24",
            "10.244.0.0/16",
            "{ cidr: 10.96.0.0/11, except: [10.112.0.0/12] }",
        ] {
            let Err(diags) = compile(CLUSTER, peer) else {
                unreachable!("{peer} was accepted")
            };
            let refusal = diags.iter().find(|d| d.code_str() == "cidr_inside_cluster");
            assert!(
                refusal.is_some_and(|d| d.loc().is_some_and(|l| l.file_line().ends_with(":9"))
                    && d.help_text().is_some_and(|h| h.contains("ns/*"))),
                "{peer}: {diags:?}"
            );
        }
    }

    #[test]
    fn without_cluster_cidrs_resolution_leaves_the_cidr_to_the_layers() {
        let Ok((ir, _)) = compile("{}", "10.0.0.0/8") else {
            unreachable!()
        };
        assert!(excepts(&ir).is_empty());
        let refusals = ir.cidrs_without_cluster_ranges("NetworkPolicy");
        assert_eq!(refusals.len(), 1);
        assert!(refusals
            .iter()
            .all(|d| d.help_text().is_some_and(|h| h.contains("clusterCIDRs"))));
        let Ok((ir, _)) = compile("{}", "169.254.169.254/32") else {
            unreachable!()
        };
        assert!(ir.cidrs_without_cluster_ranges("NetworkPolicy").is_empty());
    }
}
