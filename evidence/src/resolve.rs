//! From observed parties to the cluster model the evaluators decide on. A
//! workload seen with labels becomes a pod with those labels; one seen only
//! by address, pod name or Service (Envoy, Calico without labels) is looked
//! up in the cluster dump, then in the intents' services. What cannot be
//! placed is reported with the reason, never guessed.

use crate::observe::{Evidence, FlowKey, KeyHashing};
use palisade_compiler::{
    ir::Ir,
    model::{ClusterModel, ContainerPort, Endpoint, External, Pod},
};
use palisade_intents::{
    names::{is_dns1123_label, is_dns1123_subdomain, is_label_key, is_label_value},
    types::Labels,
};
use palisade_targets::flows::{EndpointKind, FlowEndpoint};
use std::{collections::HashMap, net::IpAddr};

/// Where a party of the flows sits in the model
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Place {
    /// `model.pods[i]`
    Pod(usize),
    /// `model.externals[i]`
    External(usize),
    /// a node: kubelet probes and host networking, admitted by every layer
    Node,
    /// not placeable, and why
    Unknown(&'static str),
}

/// The model of the observed cluster and where each party sits in it
pub struct Placed {
    /// pods and addresses of the flows
    pub model: ClusterModel,
    // Hashed as the evidence hashes its keys: an audit asks twice per
    // conversation, and SipHash over an endpoint's labels was most of it.
    places: HashMap<FlowEndpoint, Place, KeyHashing>,
}

impl Placed {
    /// Where a party sits
    pub fn place(&self, party: &FlowEndpoint) -> Place {
        self.places.get(party).copied().unwrap_or(Place::Unknown("not seen"))
    }

    /// The model endpoint of a placed party
    pub fn endpoint(&self, place: Place) -> Option<Endpoint<'_>> {
        match place {
            Place::Pod(i) => self.model.pods.get(i).map(Endpoint::Pod),
            Place::External(i) => self.model.externals.get(i).map(Endpoint::External),
            Place::Node | Place::Unknown(_) => None,
        }
    }
}

/// Build the model from every party of the evidence, the cluster dump (for
/// addresses, names, namespace labels and named ports) and the intents
pub fn place(evidence: &Evidence, ir: Option<&Ir>, cluster: Option<&ClusterModel>) -> Placed {
    let mut model = ClusterModel::default();
    if let Some(c) = cluster {
        model.namespaces = c.namespaces.clone();
    }
    let mut keys: Vec<&FlowKey> = evidence.flows.keys().collect();
    keys.sort();
    let mut places: HashMap<FlowEndpoint, Place, KeyHashing> = HashMap::default();
    let mut pods_by_workload: HashMap<(String, Labels), usize, KeyHashing> = HashMap::default();
    let mut externals_by: HashMap<(IpAddr, Option<String>, bool), usize> = HashMap::new();
    for party in keys.iter().flat_map(|k| [&k.source, &k.destination]) {
        if places.contains_key(party) {
            continue;
        }
        let place = match party.kind {
            EndpointKind::Node => Place::Node,
            EndpointKind::Outside | EndpointKind::KubeApiserver => {
                let api = party.kind == EndpointKind::KubeApiserver;
                let ip = party.ip.or_else(|| {
                    api.then(|| ir.and_then(|ir| ir.profile.api_server.as_ref()?.cidrs.first().map(|c| c.network())))
                        .flatten()
                });
                match ip {
                    Some(ip) => {
                        let on_api = api
                            || ir.is_some_and(|ir| {
                                ir.profile
                                    .api_server
                                    .as_ref()
                                    .is_some_and(|a| a.cidrs.iter().any(|c| c.contains(&ip)))
                            });
                        let fqdn = party.names.first().cloned();
                        let index = *externals_by.entry((ip, fqdn.clone(), on_api)).or_insert_with(|| {
                            model.externals.push(External {
                                ip,
                                fqdn,
                                kube_apiserver: on_api,
                            });
                            model.externals.len() - 1
                        });
                        Place::External(index)
                    }
                    None => Place::Unknown("an outside destination without an address (Calico reports it as `pub`)"),
                }
            }
            EndpointKind::Pod => match identify(party, ir, cluster) {
                Ok(found) => {
                    let key = (found.namespace.clone(), found.labels.clone());
                    let index = *pods_by_workload.entry(key).or_insert_with(|| {
                        if let Some(ns_labels) = (!party.namespace_labels.is_empty()).then_some(&party.namespace_labels)
                        {
                            let ns = model.namespaces.entry(found.namespace.clone()).or_insert_with(|| {
                                palisade_compiler::model::Namespace {
                                    name: found.namespace.clone(),
                                    labels: Labels::new(),
                                }
                            });
                            for (k, v) in ns_labels {
                                ns.labels.entry(k.clone()).or_insert_with(|| v.clone());
                            }
                            ns.labels
                                .insert("kubernetes.io/metadata.name".into(), found.namespace.clone());
                        }
                        model.insert_pod(found)
                    });
                    Place::Pod(index)
                }
                Err(why) => Place::Unknown(why),
            },
        };
        places.insert(party.clone(), place);
    }
    Placed { model, places }
}

/// The pod a party stands for, if Kubernetes could hold it: a record with a
/// namespace, a label or a service account that no cluster accepts (a log
/// from elsewhere, a mangled line) is not guessed at, and would not make
/// valid intents
fn identify(party: &FlowEndpoint, ir: Option<&Ir>, cluster: Option<&ClusterModel>) -> Result<Pod, &'static str> {
    let pod = identify_unchecked(party, ir, cluster)?;
    if !is_dns1123_label(&pod.namespace) {
        return Err("its namespace is not one Kubernetes allows (a DNS-1123 label: at most 63 lower-case letters, digits and `-`)");
    }
    if !pod.labels.iter().all(|(k, v)| is_label_key(k) && is_label_value(v)) {
        return Err("a label key or value is not one Kubernetes allows");
    }
    if pod.service_account.as_deref().is_some_and(|a| !is_dns1123_subdomain(a)) {
        return Err("its service account is not one Kubernetes allows (a DNS-1123 subdomain)");
    }
    Ok(pod)
}

fn identify_unchecked(
    party: &FlowEndpoint,
    ir: Option<&Ir>,
    cluster: Option<&ClusterModel>,
) -> Result<Pod, &'static str> {
    let dumped = cluster.and_then(|c| {
        c.pods.iter().find(|p| {
            (party.ip.is_some() && Some(p.ip) == party.ip)
                || party.pod.as_deref().is_some_and(|name| {
                    party.namespace.as_deref() == Some(p.namespace.as_str())
                        && (p.name == name || name.strip_suffix('*').is_some_and(|prefix| p.name.starts_with(prefix)))
                })
        })
    });
    if party.labels.is_empty() {
        if let Some(pod) = dumped {
            return Ok(pod.clone());
        }
    }
    let namespace = party.namespace.clone().or_else(|| dumped.map(|p| p.namespace.clone()));
    let service = ir.and_then(|ir| {
        let ns = ir.namespaces.get(namespace.as_deref()?)?;
        ns.services.values().find(|s| {
            if party.labels.is_empty() {
                party.service.as_deref() == Some(s.name.as_str())
                    || (party.service.is_none()
                        && party.service_account.is_some()
                        && s.service_account == party.service_account)
            } else {
                s.selector.iter().all(|(k, v)| party.labels.get(k) == Some(v))
            }
        })
    });
    let Some(namespace) = namespace else {
        return Err("a pod known only by address: pass the cluster dump with --cluster");
    };
    let labels = match (&party.labels, service) {
        (labels, _) if !labels.is_empty() => labels.clone(),
        (_, Some(s)) => s.selector.clone(),
        _ => return Err("a pod without labels the intents or the cluster dump know: pass --cluster"),
    };
    // Named ports resolve on the destination pod: take them from the dump, else the intents.
    let ports = dumped
        .filter(|p| p.namespace == namespace && p.labels == labels)
        .map(|p| p.ports.clone())
        .or_else(|| {
            service.map(|s| {
                s.ports
                    .values()
                    .map(|p| ContainerPort {
                        name: p.name.clone(),
                        protocol: p.protocol,
                        port: p.first,
                    })
                    .collect()
            })
        })
        .unwrap_or_default();
    let name = party
        .pod
        .clone()
        .or_else(|| service.map(|s| s.name.clone()))
        .or_else(|| labels.values().next().cloned())
        .unwrap_or_else(|| "pod".into());
    Ok(Pod {
        namespace,
        name,
        labels,
        service_account: party
            .service_account
            .clone()
            .or_else(|| service.and_then(|s| s.service_account.clone())),
        ip: party
            .ip
            .or(dumped.map(|p| p.ip))
            .unwrap_or(IpAddr::from([10, 244, 0, 1])),
        ports,
    })
}
