//! The Calico objects of a manifest set read into typed tiers, policies,
//! rules and network sets, as Calico's API server and Felix read them; what
//! Calico would refuse, or what palisade cannot evaluate, is a `Problem`
//! naming the object and the field, never a rule dropped in silence.

use super::selector::Selector;
use crate::{manifest::Field, Manifest};
use ipnet::IpNet;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub use crate::Problem;

/// A rule's action
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    Allow,
    Deny,
    /// skip to the next tier that applies to the endpoint
    Pass,
    /// log and go on to the next rule
    Log,
}

/// A destination (or source) port match
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum PortMatch {
    Range(u16, u16),
    Named(String),
}

/// Service-account match of an entity rule
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(super) struct Accounts {
    pub names: Vec<String>,
    pub selector: Option<Selector>,
}

/// `source` or `destination` of a rule
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(super) struct Entity {
    pub nets: Option<Vec<IpNet>>,
    pub not_nets: Vec<IpNet>,
    pub selector: Option<Selector>,
    pub not_selector: Option<Selector>,
    pub namespace_selector: Option<Selector>,
    pub accounts: Option<Accounts>,
    pub ports: Option<Vec<PortMatch>>,
    pub not_ports: Vec<PortMatch>,
    pub domains: Option<Vec<String>>,
}

/// One rule
#[derive(Debug, Clone)]
pub(super) struct Rule {
    pub action: Action,
    pub ip_version: Option<u64>,
    /// protocol numbers (TCP 6, UDP 17, ...)
    pub protocol: Option<u64>,
    pub not_protocol: Option<u64>,
    pub source: Entity,
    pub destination: Entity,
}

/// A NetworkPolicy or GlobalNetworkPolicy
pub(super) struct Policy<'m> {
    pub manifest: &'m Manifest,
    /// `None` for a GlobalNetworkPolicy
    pub namespace: Option<&'m str>,
    pub order: f64,
    /// Felix breaks ties of equal order by `name/namespace/kind`
    /// (felix/calc/policy_sorter.go PolKVLess)
    pub tie: String,
    pub selector: Selector,
    pub namespace_selector: Option<Selector>,
    pub account_selector: Option<Selector>,
    /// `None` where `types` leaves the direction out
    pub ingress: Option<Vec<Rule>>,
    pub egress: Option<Vec<Rule>>,
}

/// A tier: policies in order, and what happens when one selected the
/// endpoint and no rule decided
pub(super) struct Tier<'m> {
    pub name: String,
    pub order: Option<f64>,
    pub pass_at_end: bool,
    pub policies: Vec<Policy<'m>>,
}

/// A NetworkSet (namespaced) or GlobalNetworkSet
pub(super) struct NetworkSet {
    pub namespace: Option<String>,
    /// as selectors read them: its own, and `projectcalico.org/namespace` for a namespaced set
    pub labels: BTreeMap<String, String>,
    pub nets: Vec<IpNet>,
    /// Calico Enterprise `allowedEgressDomains`
    pub domains: Vec<String>,
}

/// Everything the evaluator decides by
pub(super) struct Objects<'m> {
    pub tiers: Vec<Tier<'m>>,
    pub sets: Vec<NetworkSet>,
    pub problems: Vec<Problem>,
}

/// Tiers Calico creates itself, with their fixed order and default action
/// (api/pkg/apis/projectcalico/v3/tier.go; the adminnetworkpolicy tiers are
/// the names before Calico 3.31)
const BUILT_IN_TIERS: &[(&str, f64, bool)] = &[
    ("default", 1_000_000.0, false),
    ("kube-admin", 1_000.0, true),
    ("kube-baseline", 10_000_000.0, true),
    ("adminnetworkpolicy", 1_000.0, true),
    ("baselineadminnetworkpolicy", 10_000_000.0, true),
];

struct Reader {
    manifest: usize,
    problems: Vec<Problem>,
}

impl Reader {
    fn problem(&mut self, pointer: &str, message: impl Into<String>, help: impl Into<String>) {
        self.problems.push(Problem {
            manifest: self.manifest,
            pointer: pointer.to_string(),
            message: message.into(),
            help: help.into(),
        });
    }

    fn selector(&mut self, value: Option<&Value>, pointer: &str) -> Option<Selector> {
        let value = value?;
        let Some(text) = value.as_str() else {
            self.problem(
                pointer,
                "a selector is a string",
                "write it as a quoted string: \"app == 'web'\"",
            );
            return None;
        };
        match Selector::parse(text) {
            Ok(s) => Some(s),
            Err(e) => {
                self.problem(
                    pointer,
                    format!("`{text}` is not a Calico selector: {e}"),
                    "write `key == 'value'`, joined by && or ||; see docs.tigera.io/calico/latest/reference/resources/networkpolicy#selectors",
                );
                None
            }
        }
    }

    fn nets(&mut self, value: Option<&Value>, pointer: &str) -> Option<Vec<IpNet>> {
        let list = value?;
        let Some(items) = list.as_array() else {
            self.problem(pointer, "`nets` is a list of CIDRs", "write `[\"10.0.0.0/8\"]`");
            return Some(Vec::new());
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let text = item.as_str().unwrap_or_default();
            // Calico takes a bare address as its /32 (or /128).
            match text
                .parse::<IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
            {
                Ok(net) => out.push(net.trunc()),
                Err(_) => self.problem(
                    &format!("{pointer}/{i}"),
                    format!("`{item}` is not a CIDR"),
                    "write an address block such as `203.0.113.0/24`",
                ),
            }
        }
        Some(out)
    }

    fn ports(&mut self, value: Option<&Value>, pointer: &str) -> Option<Vec<PortMatch>> {
        let list = value?.as_array().cloned().unwrap_or_default();
        let mut out = Vec::new();
        for (i, port) in list.iter().enumerate() {
            let parsed = match port {
                Value::Number(n) => n
                    .as_u64()
                    .and_then(|n| u16::try_from(n).ok())
                    .map(|n| PortMatch::Range(n, n)),
                Value::String(s) => match s.split_once(':') {
                    Some((a, b)) => match (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
                        (Ok(a), Ok(b)) if a <= b => Some(PortMatch::Range(a, b)),
                        _ => None,
                    },
                    None => match s.parse::<u16>() {
                        Ok(n) => Some(PortMatch::Range(n, n)),
                        Err(_) if !s.is_empty() => Some(PortMatch::Named(s.clone())),
                        Err(_) => None,
                    },
                },
                _ => None,
            };
            match parsed {
                Some(p) => out.push(p),
                None => self.problem(
                    &format!("{pointer}/{i}"),
                    format!("`{port}` is not a port"),
                    "write a number, `first:last`, or a named port",
                ),
            }
        }
        Some(out)
    }

    fn entity(&mut self, value: &Value, pointer: &str, side: &str) -> Entity {
        let Some(e) = value.as_object() else {
            return Entity::default();
        };
        for key in e.keys() {
            let known = [
                "nets",
                "notNets",
                "selector",
                "notSelector",
                "namespaceSelector",
                "serviceAccounts",
                "ports",
                "notPorts",
                "domains",
            ];
            if !known.contains(&key.as_str()) {
                let (message, help) = match key.as_str() {
                    "services" => (
                        "a `services` match is not evaluated: the cluster model has no Service endpoints".to_string(),
                        "match the Service's pods by `selector` instead",
                    ),
                    _ => (format!("`{key}` is not a field of a Calico entity rule"), "remove it"),
                };
                self.problem(&format!("{pointer}/{key}"), message, help);
            }
        }
        // An empty match adds no selector (updateprocessors/rules.go parseServiceAccounts).
        let accounts = e
            .get("serviceAccounts")
            .map(|sa| Accounts {
                names: sa["names"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
                selector: self.selector(sa.get("selector"), &format!("{pointer}/serviceAccounts/selector")),
            })
            .filter(|a| !a.names.is_empty() || a.selector.is_some());
        let entity = Entity {
            nets: self.nets(e.get("nets"), &format!("{pointer}/nets")),
            not_nets: self
                .nets(e.get("notNets"), &format!("{pointer}/notNets"))
                .unwrap_or_default(),
            selector: self.selector(e.get("selector"), &format!("{pointer}/selector")),
            not_selector: self.selector(e.get("notSelector"), &format!("{pointer}/notSelector")),
            namespace_selector: self.selector(e.get("namespaceSelector"), &format!("{pointer}/namespaceSelector")),
            accounts,
            ports: self.ports(e.get("ports"), &format!("{pointer}/ports")),
            not_ports: self
                .ports(e.get("notPorts"), &format!("{pointer}/notPorts"))
                .unwrap_or_default(),
            domains: e.get("domains").map(|d| {
                d.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_ascii_lowercase)
                    .collect()
            }),
        };
        if side == "source" && (entity.ports.is_some() || !entity.not_ports.is_empty()) {
            self.problem(
                &format!("{pointer}/ports"),
                "source ports are not evaluated: a connection's source port is ephemeral and not in the model",
                "match destination ports only",
            );
        }
        entity
    }

    fn protocol(&mut self, value: Option<&Value>, pointer: &str) -> Option<u64> {
        let value = value?;
        let number = match value {
            Value::Number(n) => n.as_u64().filter(|n| (1..=255).contains(n)),
            // Names as the API reference lists them (Protocol: TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite).
            Value::String(s) => match s.to_ascii_uppercase().as_str() {
                "TCP" => Some(6),
                "UDP" => Some(17),
                "ICMP" => Some(1),
                "ICMPV6" => Some(58),
                "SCTP" => Some(132),
                "UDPLITE" => Some(136),
                other => other.parse::<u64>().ok().filter(|n| (1..=255).contains(n)),
            },
            _ => None,
        };
        if number.is_none() {
            self.problem(
                pointer,
                format!("`{value}` is not a protocol"),
                "write TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a number 1-255",
            );
        }
        number
    }

    fn rule(&mut self, value: &Value, pointer: &str) -> Option<Rule> {
        let action = match value["action"].as_str() {
            Some("Allow") => Action::Allow,
            Some("Deny") => Action::Deny,
            Some("Pass") => Action::Pass,
            Some("Log") => Action::Log,
            other => {
                self.problem(
                    &format!("{pointer}/action"),
                    format!("`{}` is not a rule action", other.unwrap_or("(none)")),
                    "write Allow, Deny, Pass or Log",
                );
                return None;
            }
        };
        if value.get("http").is_some() {
            self.problem(
                &format!("{pointer}/http"),
                "HTTP matches are not evaluated: they need Calico's application layer policy, which Felix does not enforce",
                "enforce HTTP rules with an Istio or Cilium target",
            );
        }
        let protocol = self.protocol(value.get("protocol"), &format!("{pointer}/protocol"));
        let rule = Rule {
            action,
            ip_version: value.get("ipVersion").and_then(Value::as_u64),
            protocol,
            not_protocol: self.protocol(value.get("notProtocol"), &format!("{pointer}/notProtocol")),
            source: self.entity(&value["source"], &format!("{pointer}/source"), "source"),
            destination: self.entity(&value["destination"], &format!("{pointer}/destination"), "destination"),
        };
        // Validator: ports need a protocol that has them.
        let has_ports = |e: &Entity| e.ports.is_some() || !e.not_ports.is_empty();
        if (has_ports(&rule.source) || has_ports(&rule.destination)) && !matches!(rule.protocol, Some(6 | 17 | 132)) {
            self.problem(
                &format!("{pointer}/protocol"),
                "a rule with ports needs `protocol` TCP, UDP or SCTP (Calico refuses it)",
                "add `protocol: TCP`",
            );
        }
        Some(rule)
    }

    fn rules(&mut self, spec: &Value, key: &str) -> Vec<Rule> {
        spec[key]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .filter_map(|(i, r)| self.rule(r, &format!("/spec/{key}/{i}")))
            .collect()
    }
}

fn labels_of(m: &Manifest) -> Map<String, Value> {
    m.object
        .at(&["metadata", "labels"])
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// Read every enforcing Calico object of `manifests`
pub(super) fn read(manifests: &[Manifest]) -> Objects<'_> {
    let mut reader = Reader {
        manifest: 0,
        problems: Vec::new(),
    };
    let mut tiers: Vec<Tier> = BUILT_IN_TIERS
        .iter()
        .map(|(name, order, pass)| Tier {
            name: name.to_string(),
            order: Some(*order),
            pass_at_end: *pass,
            policies: Vec::new(),
        })
        .collect();
    let calico = |m: &Manifest| m.api_version() == "projectcalico.org/v3";
    for (index, m) in manifests
        .iter()
        .enumerate()
        .filter(|(_, m)| calico(m) && m.kind() == "Tier")
    {
        reader.manifest = index;
        let spec = &m.object["spec"];
        let pass_at_end = match spec["defaultAction"].as_str() {
            None | Some("Deny") => false,
            Some("Pass") => true,
            Some(other) => {
                reader.problem(
                    "/spec/defaultAction",
                    format!("`{other}` is not a tier default action"),
                    "write Deny or Pass",
                );
                false
            }
        };
        let tier = Tier {
            name: m.name().to_string(),
            order: spec["order"].as_f64(),
            pass_at_end,
            policies: Vec::new(),
        };
        match tiers.iter_mut().find(|t| t.name == tier.name) {
            Some(existing) => *existing = tier,
            None => tiers.push(tier),
        }
    }
    let mut sets = Vec::new();
    for (index, m) in manifests.iter().enumerate().filter(|(_, m)| calico(m)) {
        reader.manifest = index;
        let global = match m.kind() {
            "NetworkPolicy" => false,
            "GlobalNetworkPolicy" => true,
            "NetworkSet" | "GlobalNetworkSet" => {
                let namespace = (m.kind() == "NetworkSet").then(|| namespace_or_default(m).to_string());
                let mut labels: BTreeMap<String, String> = labels_of(m)
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect();
                if let Some(ns) = &namespace {
                    labels.insert("projectcalico.org/namespace".into(), ns.clone());
                }
                sets.push(NetworkSet {
                    namespace,
                    labels,
                    nets: reader
                        .nets(m.object.at(&["spec", "nets"]), "/spec/nets")
                        .unwrap_or_default(),
                    domains: m
                        .object
                        .at(&["spec", "allowedEgressDomains"])
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(str::to_ascii_lowercase)
                        .collect(),
                });
                continue;
            }
            // Staged kinds report, they do not enforce (reference/resources/stagednetworkpolicy).
            _ => continue,
        };
        let spec = &m.object["spec"];
        let selector = reader
            .selector(spec.get("selector"), "/spec/selector")
            .unwrap_or(Selector::All);
        let namespace_selector = match global {
            true => reader.selector(spec.get("namespaceSelector"), "/spec/namespaceSelector"),
            false => None,
        };
        let account_selector = reader.selector(spec.get("serviceAccountSelector"), "/spec/serviceAccountSelector");
        let has_rules = |key: &str| spec[key].as_array().is_some_and(|a| !a.is_empty());
        // The API server's defaulting of `types` (api/pkg/defaults/networkpolicy.go):
        // no egress rules: Ingress; egress rules only: Egress; both: both.
        let (ingress, egress) = match spec["types"].as_array() {
            Some(types) if !types.is_empty() => {
                let has = |t: &str| types.iter().any(|x| x.as_str() == Some(t));
                (has("Ingress"), has("Egress"))
            }
            _ if !has_rules("egress") => (true, false),
            _ if !has_rules("ingress") => (false, true),
            _ => (true, true),
        };
        let tier_name = spec["tier"].as_str().unwrap_or("default").to_string();
        let policy = Policy {
            manifest: m,
            namespace: (!global).then(|| namespace_or_default(m)),
            // Felix: an absent order is +infinity (policy_sorter.go polMetaDefaultOrder).
            order: spec["order"].as_f64().unwrap_or(f64::INFINITY),
            tie: format!(
                "{}/{}/{}",
                m.name(),
                if global { "" } else { namespace_or_default(m) },
                m.kind()
            ),
            selector,
            namespace_selector,
            account_selector,
            ingress: ingress.then(|| reader.rules(spec, "ingress")),
            egress: egress.then(|| reader.rules(spec, "egress")),
        };
        match tiers.iter_mut().find(|t| t.name == tier_name) {
            Some(tier) => tier.policies.push(policy),
            None => reader.problem(
                "/spec/tier",
                format!("tier `{tier_name}` is not among the manifests: its order and default action decide"),
                format!("add the `Tier` object `{tier_name}` to the manifests"),
            ),
        }
    }
    for tier in &mut tiers {
        tier.policies
            .sort_by(|a, b| a.order.total_cmp(&b.order).then_with(|| a.tie.cmp(&b.tie)));
    }
    // Tiers: by order, absent last, then by name (Tier spec.order; felix TierLess).
    tiers.retain(|t| !t.policies.is_empty());
    tiers.sort_by(|a, b| {
        let key = |t: &Tier| t.order.unwrap_or(f64::INFINITY);
        key(a).total_cmp(&key(b)).then_with(|| a.name.cmp(&b.name))
    });
    Objects {
        tiers,
        sets,
        problems: reader.problems,
    }
}

/// kubectl puts an object without a namespace into `default`
fn namespace_or_default(m: &Manifest) -> &str {
    match m.namespace() {
        "" => "default",
        ns => ns,
    }
}
