//! Existing policies back into intents. Each dialect's importer reads its own
//! manifests into the neutral form here (isolations, allow rules between
//! peers the intent language can name, and losses: what could not carry over
//! exactly, and why); this module writes that form as Intents files.
//!
//! Where the intent language is coarser than the original (it isolates whole
//! namespaces; an edge opens both its ends), the import is narrower or
//! broader than the original; the loss report says so per construct, and the
//! caller's equivalence check lists every connection that differs.

use ipnet::IpNet;
use palisade_compiler::model::{ClusterModel, ContainerPort};
use palisade_intents::types::Labels;
use std::collections::{BTreeMap, BTreeSet};

/// An HTTP match: method and path, either left open
pub type HttpMatch = (Option<String>, Option<String>);

/// A pod of a cluster dump: namespace, labels, named ports (name, protocol, number)
pub type DumpPod = (String, Labels, Vec<(String, palisade_intents::syntax::Protocol, u16)>);

/// What the importers may consult: the cluster's namespaces (to expand
/// namespace selectors) and pods (to resolve named ports)
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// namespaces and their labels
    pub namespaces: BTreeMap<String, Labels>,
    /// pods: namespace, labels, (name, protocol, port) of container ports
    pub pods: Vec<DumpPod>,
    /// whether the namespaces come from a cluster dump (else from the manifests)
    pub from_dump: bool,
    /// the API server's address, for `kube-api` peers
    pub api_server: Option<IpNet>,
}

impl Context {
    /// Namespaces from the dump, else every namespace the manifests name; pods
    /// (for named ports) from the dump
    pub fn new(originals: &[crate::Manifest], dump: Option<&ClusterModel>) -> Self {
        match dump {
            Some(d) => Context {
                namespaces: d
                    .namespaces
                    .iter()
                    .map(|(k, v)| (k.clone(), v.labels.clone()))
                    .collect(),
                pods: d
                    .pods
                    .iter()
                    .map(|p| {
                        let ports = p
                            .ports
                            .iter()
                            .filter_map(|c| Some((c.name.clone()?, c.protocol, c.port)))
                            .collect();
                        (p.namespace.clone(), p.labels.clone(), ports)
                    })
                    .collect(),
                from_dump: true,
                api_server: None,
            },
            None => Context {
                namespaces: originals
                    .iter()
                    .map(|m| m.namespace())
                    .filter(|ns| !ns.is_empty())
                    .map(|ns| {
                        let labels = Labels::from([("kubernetes.io/metadata.name".to_string(), ns.to_string())]);
                        (ns.to_string(), labels)
                    })
                    .collect(),
                pods: Vec::new(),
                from_dump: false,
                api_server: None,
            },
        }
    }

    /// Namespaces whose labels satisfy `selects`
    pub fn namespaces_where(&self, selects: impl Fn(&Labels) -> bool) -> Vec<String> {
        self.namespaces
            .iter()
            .filter(|(_, labels)| selects(labels))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Where the namespace list came from, for loss reports
    pub fn source(&self) -> &'static str {
        if self.from_dump {
            "the cluster dump"
        } else {
            "the namespaces the policies mention"
        }
    }

    /// The number a named port has on the pods of `namespace` matching `selector`
    pub fn named_port(
        &self,
        namespace: &str,
        selector: &Labels,
        name: &str,
    ) -> Option<(palisade_intents::syntax::Protocol, u16)> {
        self.pods
            .iter()
            .filter(|(ns, labels, _)| ns == namespace && selector.iter().all(|(k, v)| labels.get(k) == Some(v)))
            .flat_map(|(_, _, ports)| ports)
            .find(|(n, _, _)| n == name)
            .map(|(_, p, n)| (*p, *n))
    }
}

/// A peer the intent language can name
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Peer {
    /// pods of a namespace with these labels (none: every pod of it)
    Pods {
        /// namespace
        namespace: String,
        /// labels (AND)
        selector: Labels,
    },
    /// addresses outside the cluster
    Cidr {
        /// the block
        net: IpNet,
        /// blocks cut out of it
        except: Vec<IpNet>,
    },
    /// a DNS name (`*.x` = one label)
    Fqdn(String),
    /// `world` or `kube-api`
    Entity(&'static str),
}

/// One allow rule
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rule {
    /// who opens the connection
    pub from: Peer,
    /// who accepts it
    pub to: Peer,
    /// `tcp/8080`, `udp/53`, `tcp/8000-8100`; empty: every port
    pub ports: Vec<String>,
    /// HTTP (method, path) pairs; empty: any request
    pub http: Vec<HttpMatch>,
    /// the namespace whose policy it came from (its Intents holds it)
    pub home: String,
    /// `NetworkPolicy shop/web ingress[0]`
    pub origin: String,
}

/// Pods a policy puts in default deny for a direction
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Isolation {
    /// namespace
    pub namespace: String,
    /// selected pods (empty: all of the namespace)
    pub selector: Labels,
    /// ingress isolated
    pub ingress: bool,
    /// egress isolated
    pub egress: bool,
    /// the policy
    pub origin: String,
}

/// A construct that did not carry over exactly
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Loss {
    /// the policy and place (`CiliumNetworkPolicy shop/x egressDeny[0]`)
    pub origin: String,
    /// what was there
    pub construct: String,
    /// what the import did and why
    pub why: String,
}

/// What one dialect's manifests say, in intent terms
#[derive(Debug, Clone, Default)]
pub struct Imported {
    /// pods put in default deny
    pub isolations: Vec<Isolation>,
    /// allow rules
    pub rules: Vec<Rule>,
    /// what did not carry over
    pub losses: Vec<Loss>,
    /// named ports the originals use (name, protocol): the equivalence model
    /// gives its pods such ports, so rules on them are compared too
    pub named_ports: BTreeSet<(String, palisade_intents::syntax::Protocol)>,
}

impl Imported {
    /// Add another dialect's import
    pub fn extend(&mut self, other: Imported) {
        self.isolations.extend(other.isolations);
        self.rules.extend(other.rules);
        self.losses.extend(other.losses);
        self.named_ports.extend(other.named_ports);
    }

    /// Record a loss
    pub fn lose(&mut self, origin: &str, construct: impl Into<String>, why: impl Into<String>) {
        self.losses.push(Loss {
            origin: origin.to_string(),
            construct: construct.into(),
            why: why.into(),
        });
    }

    /// Allow rules between the policy's own pods and each of `others`, in the
    /// direction of `side` (`ingress`: others open; `egress`: own pods open)
    pub fn allow(
        &mut self,
        side: &str,
        own: &Peer,
        others: Vec<Peer>,
        ports: &[String],
        http: &[HttpMatch],
        origin: &str,
    ) {
        let home = match own {
            Peer::Pods { namespace, .. } => namespace.clone(),
            _ => String::new(),
        };
        for other in others {
            let (from, to) = if side == "ingress" {
                (other, own.clone())
            } else {
                (own.clone(), other)
            };
            self.rules.push(Rule {
                from,
                to,
                ports: ports.to_vec(),
                http: http.to_vec(),
                home: home.clone(),
                origin: origin.to_string(),
            });
        }
    }

    /// The namespaces whose labels `selects` accepts, with the loss that says
    /// the selector became today's list
    pub fn expand_namespaces(
        &mut self,
        context: &Context,
        selects: impl Fn(&Labels) -> bool,
        construct: String,
        origin: &str,
    ) -> Vec<String> {
        let matching = context.namespaces_where(selects);
        self.lose(
            origin,
            construct,
            format!(
                "intents name namespaces: expanded to {} from {}; namespaces labelled so later are not covered (narrower)",
                if matching.is_empty() { "nothing".to_string() } else { matching.join(", ") },
                context.source()
            ),
        );
        matching
    }

    /// Every pod the originals mention, for the equivalence model
    pub fn pods(&self) -> BTreeSet<(String, Labels)> {
        let mut out: BTreeSet<(String, Labels)> = self
            .isolations
            .iter()
            .map(|i| (i.namespace.clone(), i.selector.clone()))
            .collect();
        for rule in &self.rules {
            for peer in [&rule.from, &rule.to] {
                if let Peer::Pods { namespace, selector } = peer {
                    out.insert((namespace.clone(), selector.clone()));
                }
            }
        }
        out
    }

    /// The model originals and import are compared on: the intents' own
    /// representative model, a pod for every selector the originals mention,
    /// the dump's pods, and a number for every named port the originals use
    pub fn model(&self, ir: &palisade_compiler::ir::Ir, dump: Option<&ClusterModel>) -> ClusterModel {
        let mut model = palisade_compiler::model::synthesize(ir);
        for (namespace, labels) in self.pods() {
            let name = if labels.is_empty() {
                "any".to_string()
            } else {
                labels.values().cloned().collect::<Vec<_>>().join("-")
            };
            model.add_pod(&namespace, &name, labels, None, Vec::new());
        }
        let named: Vec<ContainerPort> = self
            .named_ports
            .iter()
            .zip(30000u16..)
            .map(|((name, protocol), port)| ContainerPort {
                name: Some(name.clone()),
                protocol: *protocol,
                port,
            })
            .collect();
        for pod in &mut model.pods {
            // A pod the dump shows has its real ports; the others get the modelled ones.
            let dumped = dump.and_then(|d| {
                d.pods
                    .iter()
                    .find(|p| p.namespace == pod.namespace && p.labels == pod.labels)
            });
            match dumped {
                Some(real) => pod.ports = real.ports.clone(),
                None => pod.ports.extend(named.iter().cloned()),
            }
        }
        let mut ports: BTreeSet<_> = model.ports.iter().copied().collect();
        ports.extend(named.iter().map(|c| (c.protocol, c.port)));
        model.ports = ports.into_iter().collect();
        if let Some(dump) = dump {
            for (name, ns) in &dump.namespaces {
                model.namespaces.insert(name.clone(), ns.clone());
            }
            for pod in &dump.pods {
                model.add_pod(
                    &pod.namespace,
                    &pod.name,
                    pod.labels.clone(),
                    pod.service_account.clone(),
                    pod.ports.clone(),
                );
            }
        }
        model
            .pods
            .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        model
    }

    /// The Intents files (one per namespace, `<ns>.yaml`) and the losses the
    /// translation itself adds (partial isolation)
    pub fn to_intents(&self) -> (BTreeMap<String, String>, Vec<Loss>) {
        let mut losses = Vec::new();
        let mut namespaces: BTreeMap<String, Plan> = BTreeMap::new();
        for iso in &self.isolations {
            let plan = namespaces.entry(iso.namespace.clone()).or_default();
            plan.ingress |= iso.ingress;
            plan.egress |= iso.egress;
        }
        for iso in self.isolations.iter().filter(|i| !i.selector.is_empty()) {
            // Partial isolation is a loss only where no policy isolates the whole namespace.
            let whole = |ingress: bool| {
                self.isolations.iter().any(|o| {
                    o.namespace == iso.namespace && o.selector.is_empty() && if ingress { o.ingress } else { o.egress }
                })
            };
            if (iso.ingress && !whole(true)) || (iso.egress && !whole(false)) {
                losses.push(Loss {
                    origin: iso.origin.clone(),
                    construct: format!("isolation of the pods matching {}", labels_text(&iso.selector)),
                    why: format!(
                        "intents isolate whole namespaces: every pod of {} is isolated, so pods this policy left open are closed (narrower)",
                        iso.namespace
                    ),
                });
            }
        }
        for (ns, plan) in &namespaces {
            if plan.egress && !plan.ingress {
                losses.push(Loss {
                    origin: format!("namespace {ns}"),
                    construct: "egress isolation without ingress isolation".into(),
                    why: "intents have no egress-only posture: ingress is isolated too (narrower)".into(),
                });
            }
        }
        // A namespace a rule names as a whole (`ns/*`) must have Intents of its
        // own to be known; one without policies stays open (posture none).
        for rule in &self.rules {
            for peer in [&rule.from, &rule.to] {
                if let Peer::Pods { namespace, selector } = peer {
                    if selector.is_empty() {
                        namespaces.entry(namespace.clone()).or_default();
                    }
                }
            }
        }
        for rule in &self.rules {
            let plan = namespaces.entry(rule.home.clone()).or_default();
            for peer in [&rule.from, &rule.to] {
                if let Peer::Pods { namespace, selector } = peer {
                    if namespace == &rule.home && !selector.is_empty() {
                        plan.service_for(selector);
                    }
                }
            }
            plan.rules.push(rule.clone());
        }
        let files = namespaces
            .iter()
            .map(|(ns, plan)| (format!("{ns}.yaml"), plan.render(ns)))
            .collect();
        (files, losses)
    }
}

/// What makes two rules the same line: peers, ports, HTTP matches
type RuleKey<'a> = (&'a Peer, &'a Peer, &'a Vec<String>, &'a Vec<HttpMatch>);

#[derive(Default)]
struct Plan {
    ingress: bool,
    egress: bool,
    services: BTreeMap<String, Labels>,
    rules: Vec<Rule>,
}

impl Plan {
    fn service_for(&mut self, selector: &Labels) -> String {
        if let Some((name, _)) = self.services.iter().find(|(_, s)| *s == selector) {
            return name.clone();
        }
        let base = service_name(selector);
        let name = (1..)
            .map(|i| if i == 1 { base.clone() } else { format!("{base}-{i}") })
            .find(|n| !self.services.contains_key(n))
            .unwrap_or(base);
        self.services.insert(name.clone(), selector.clone());
        name
    }

    fn peer_text(&self, peer: &Peer, home: &str) -> (String, bool) {
        match peer {
            Peer::Pods { namespace, selector } if selector.is_empty() => (format!("{namespace}/*"), true),
            Peer::Pods { namespace, selector } if namespace == home => {
                match self.services.iter().find(|(_, s)| *s == selector) {
                    Some((name, _)) => (name.clone(), true),
                    None => (pods_mapping(namespace, selector), false),
                }
            }
            Peer::Pods { namespace, selector } => (pods_mapping(namespace, selector), false),
            Peer::Cidr { net, except } if except.is_empty() => (net.to_string(), true),
            Peer::Cidr { net, except } => (
                format!(
                    "{{ cidr: {net}, except: [{}] }}",
                    except.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                ),
                false,
            ),
            Peer::Fqdn(name) => (yaml(name), !name.starts_with('*')),
            Peer::Entity(e) => ((*e).to_string(), true),
        }
    }

    fn render(&self, ns: &str) -> String {
        let posture = match (self.ingress, self.egress) {
            (false, false) => "none",
            (true, false) => "default-deny-ingress",
            _ => "default-deny",
        };
        let mut out = format!(
            "# Imported by `palisade import`; see its report for what did not carry over.\napiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: {{ name: {}, namespace: {} }}\nspec:\n  posture: {posture}\n",
            yaml(ns),
            yaml(ns)
        );
        if self.services.is_empty() {
            out.push_str("  services: {}\n");
        } else {
            out.push_str("  services:\n");
            for (name, selector) in &self.services {
                out.push_str(&format!("    {name}: {{ selector: {} }}\n", mapping(selector)));
            }
        }
        if self.rules.is_empty() {
            out.push_str("  allow: []\n");
            return out;
        }
        out.push_str("  allow:\n");
        // One line per distinct rule, naming every policy it came from.
        let mut rules: BTreeMap<RuleKey, Vec<&str>> = BTreeMap::new();
        for r in &self.rules {
            rules
                .entry((&r.from, &r.to, &r.ports, &r.http))
                .or_default()
                .push(&r.origin);
        }
        for ((from_peer, to_peer, ports, http), mut origins) in rules {
            origins.sort_unstable();
            origins.dedup();
            let (from, from_terse) = self.peer_text(from_peer, ns);
            let (to, to_terse) = self.peer_text(to_peer, ns);
            let line = if from_terse && to_terse && http.is_empty() && !ports.is_empty() {
                format!("{from} -> {to} {}", ports.join(","))
            } else if from_terse && to_terse && http.is_empty() {
                format!("{from} -> {to}")
            } else {
                let mut parts = vec![format!("from: {from}"), format!("to: {to}")];
                if !ports.is_empty() {
                    parts.push(format!("ports: [{}]", ports.join(", ")));
                }
                if !http.is_empty() {
                    let http: Vec<String> = http
                        .iter()
                        .map(|(m, p)| {
                            let mut fields = Vec::new();
                            if let Some(m) = m {
                                fields.push(format!("method: {m}"));
                            }
                            if let Some(p) = p {
                                fields.push(format!("path: {}", yaml(p)));
                            }
                            format!("{{ {} }}", fields.join(", "))
                        })
                        .collect();
                    parts.push(format!("http: [{}]", http.join(", ")));
                }
                format!("{{ {} }}", parts.join(", "))
            };
            out.push_str(&format!("    - {line}  # {}\n", origins.join("; ")));
        }
        out
    }
}

/// A service name from a workload's labels (`app`, `app.kubernetes.io/name`,
/// `k8s-app`, else all values): a DNS label that is not a reserved word
pub fn service_name(selector: &Labels) -> String {
    let raw = ["app", "app.kubernetes.io/name", "k8s-app"]
        .iter()
        .find_map(|k| selector.get(*k).cloned())
        .unwrap_or_else(|| selector.values().cloned().collect::<Vec<_>>().join("-"));
    let mut name: String = raw
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    name = name.trim_matches('-').chars().take(50).collect();
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name = format!("pods-{name}").trim_end_matches('-').to_string();
    }
    if palisade_intents::syntax::RESERVED_NAMES.contains(&name.as_str()) {
        name.push_str("-pods");
    }
    name
}

fn pods_mapping(namespace: &str, selector: &Labels) -> String {
    format!("{{ namespace: {}, selector: {} }}", yaml(namespace), mapping(selector))
}

fn mapping(labels: &Labels) -> String {
    let fields: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{}: {}", yaml(k), yaml(v)))
        .collect();
    format!("{{ {} }}", fields.join(", "))
}

/// `app=web,tier=front`
pub fn labels_text(labels: &Labels) -> String {
    if labels.is_empty() {
        return "every pod".into();
    }
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A YAML scalar, quoted unless plainly safe
pub fn yaml(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'))
        && text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/')
        && !matches!(
            text.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain {
        text.to_string()
    } else {
        serde_json::to_string(text).unwrap_or_else(|_| format!("\"{text}\""))
    }
}
