//! Proposed intents from observed traffic: one Intents file per namespace
//! (default deny, a service per workload, an allow line per conversation that
//! works today, each with how often and when it was seen), and a Project file
//! whose cluster profile is what the flows show of DNS and the API server.
//! Nothing broader than what was seen: outside addresses without a DNS name
//! become /32s, never `world`. Over a long window it says what the proposal
//! cannot vouch for: on how many of the window's days each line was seen,
//! the workloads the dump or the intents know that no flow shows, and the
//! namespaces seen too briefly to deny by default (left on posture none).

mod infra;
mod prune;
mod unseen;
mod watch;

use crate::{
    observe::{Evidence, Seen},
    resolve::{place, Place, Placed},
    sufficiency::Requirements,
    suggest::{host_cidr, quote, workload_selector_by},
};
use infra::Infra;
use palisade_compiler::{
    ir::Ir,
    model::{ClusterModel, Pod},
};
use palisade_intents::{
    syntax::{Fqdn, Protocol},
    Diags,
};
use prune::{keep_written_lines, prune};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use unseen::{unseen_note, unseen_services};
use watch::{seen_report, seen_text, Watched};
pub use watch::{Brief, SeenReport, WindowReport};

/// Namespaces left out unless asked for: the cluster's own
pub const SYSTEM_NAMESPACES: [&str; 3] = ["kube-system", "kube-public", "kube-node-lease"];

/// What to propose
#[derive(Debug, Clone)]
pub struct DiscoverOptions {
    /// only these namespaces (empty: every namespace seen but the system ones)
    pub namespaces: Vec<String>,
    /// label keys that name a workload, in order of preference
    pub workload_labels: Vec<String>,
    /// targets to write into the Project
    pub targets: Vec<String>,
    /// whether the targets can match DNS names (else names become /32s)
    pub fqdn: bool,
    /// the cluster's pod and service CIDRs, written into the Project: address
    /// rules on NetworkPolicy and Calico except them (else they are refused)
    pub cluster_cidrs: Vec<ipnet::IpNet>,
}

/// The proposal: file name → content, and what the files rest on
#[derive(Debug, Clone, Default, Serialize)]
pub struct Proposal {
    /// `palisade.yaml` and one `<namespace>.yaml` per namespace
    pub files: BTreeMap<String, String>,
    /// what was left out and why
    pub notes: Vec<String>,
    /// the window the flows span (none: no record carries a time)
    pub window: Option<WindowReport>,
    /// each proposed allow line, with how often and when it was seen
    pub lines: Vec<ProposedLine>,
    /// services the cluster dump knows that no flow of the window shows:
    /// the proposal cannot vouch for them
    pub unseen: Vec<Unseen>,
    /// namespaces seen too briefly to be put on default deny
    pub brief: Vec<Brief>,
    /// why the files do not load and compile, when even pruning left them
    /// refused (a palisade bug); `None` when they compile
    #[serde(skip)]
    pub refused: Option<Diags>,
}

/// One allow line of the proposal
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProposedLine {
    /// the namespace whose file holds it
    pub namespace: String,
    /// the line, without the list dash
    pub rule: String,
    /// what was seen of it over the window
    pub seen: SeenReport,
}

/// A workload of the cluster dump or a service of the intents that no flow
/// of the window shows
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Unseen {
    /// its namespace
    pub namespace: String,
    /// the service name a proposal would give it
    pub service: String,
    /// the labels that select it
    pub selector: BTreeMap<String, String>,
    /// what knows it: `intents` or `cluster dump`
    pub known_from: &'static str,
}

impl Proposal {
    /// The files as the intents loader takes them
    pub fn raw_files(&self) -> Vec<palisade_intents::RawFile> {
        self.files
            .iter()
            .map(|(path, text)| palisade_intents::RawFile {
                path: path.clone(),
                bytes: text.clone().into_bytes(),
            })
            .collect()
    }
}

#[derive(Default)]
struct NamespacePlan {
    baseline: BTreeSet<&'static str>,
    services: BTreeMap<String, Service>,
    /// (from, to) → ports with tallies
    allow: BTreeMap<(String, String), BTreeMap<(Protocol, u16), Seen>>,
    /// seen too briefly for default deny
    brief: Option<Brief>,
    /// workloads of the dump never seen
    unseen: Vec<Unseen>,
}

struct Service {
    selector: BTreeMap<String, String>,
    service_account: Option<String>,
    baseline: BTreeSet<&'static str>,
}

/// What discovery knows besides the flows and the dump: intents already
/// written, whose services it must say it never saw, and the project's
/// minimum window, below which a namespace's traffic is too brief to deny by
#[derive(Debug, Clone, Default)]
pub struct Known<'a> {
    /// the intents already written, compiled
    pub ir: Option<&'a Ir>,
    /// the project's evidence requirements (the defaults without one)
    pub requirements: Requirements,
}

/// Propose intents from the evidence
pub fn discover(evidence: &Evidence, cluster: Option<&ClusterModel>, options: &DiscoverOptions) -> Proposal {
    discover_knowing(evidence, cluster, &Known::default(), options)
}

/// [`discover`], knowing what `known` says
pub fn discover_knowing(
    evidence: &Evidence,
    cluster: Option<&ClusterModel>,
    known: &Known,
    options: &DiscoverOptions,
) -> Proposal {
    let placed = place(evidence, None, cluster);
    let keys: Vec<&str> = options.workload_labels.iter().map(String::as_str).collect();
    let wanted = |ns: &str| {
        if options.namespaces.is_empty() {
            !SYSTEM_NAMESPACES.contains(&ns)
        } else {
            options.namespaces.iter().any(|n| n == ns)
        }
    };
    let infra = Infra::observe(evidence, &placed);
    let mut plans: BTreeMap<String, NamespacePlan> = BTreeMap::new();
    let mut notes = Vec::new();
    let mut dropped_only = 0u64;
    let mut unplaced: BTreeMap<&'static str, u64> = BTreeMap::new();
    // Every pod of a wanted namespace becomes a service, seen talking or not.
    let mut names: BTreeMap<(String, BTreeMap<String, String>), String> = BTreeMap::new();
    // A pod with only per-replica labels (pod-template-hash) has no selector
    // for its workload: the intents refuse an empty one, as it selects every pod.
    let unnamed = |pod: &Pod| workload_selector_by(&pod.labels, &keys).is_empty();
    for pod in placed.model.pods.iter().filter(|p| wanted(&p.namespace) && !unnamed(p)) {
        let selector = workload_selector_by(&pod.labels, &keys);
        let plan = plans.entry(pod.namespace.clone()).or_default();
        if names.contains_key(&(pod.namespace.clone(), selector.clone())) {
            continue;
        }
        let name = unique_name(&service_name(pod, &selector), &plan.services);
        plan.services.insert(
            name.clone(),
            Service {
                selector: selector.clone(),
                service_account: pod.service_account.clone(),
                baseline: BTreeSet::new(),
            },
        );
        names.insert((pod.namespace.clone(), selector), name);
    }
    let service = |pod: &Pod| {
        names
            .get(&(pod.namespace.clone(), workload_selector_by(&pod.labels, &keys)))
            .cloned()
    };
    for (key, seen) in evidence.sorted() {
        if !seen.works_today() {
            dropped_only += seen.count;
            continue;
        }
        // Some readers pass on port 0 (a record without a port): no rule can name it.
        if key.port == 0 {
            *unplaced
                .entry("its destination port is 0, which no allow rule can name")
                .or_default() += seen.count;
            continue;
        }
        let (from, to) = (placed.place(&key.source), placed.place(&key.destination));
        let mut unknown = false;
        for place in [from, to] {
            let why = match place {
                Place::Unknown(why) => why,
                Place::Pod(i) if placed.model.pods.get(i).is_some_and(unnamed) => {
                    "a pod whose labels do not name its workload (only per-replica ones such as pod-template-hash)"
                }
                _ => continue,
            };
            *unplaced.entry(why).or_default() += seen.count;
            unknown = true;
        }
        if unknown {
            continue;
        }
        let Place::Pod(i) = from else { continue };
        let Some(source) = placed.model.pods.get(i) else {
            continue;
        };
        let source_wanted = wanted(&source.namespace);
        let dest_pod = match to {
            Place::Pod(j) => placed.model.pods.get(j),
            _ => None,
        };
        let home = if source_wanted {
            source.namespace.clone()
        } else if let Some(d) = dest_pod.filter(|d| wanted(&d.namespace)) {
            d.namespace.clone()
        } else {
            continue;
        };
        if source_wanted && infra.is_dns(&placed, to, key.protocol, key.port) {
            plans.entry(home).or_default().baseline.insert("dns");
            continue;
        }
        let external = match to {
            Place::External(j) => placed.model.externals.get(j),
            _ => None,
        };
        if let (true, Some(e)) = (source_wanted, external) {
            let baseline = if e.kube_apiserver {
                Some("kube-api")
            } else if e.ip == std::net::IpAddr::from([169, 254, 169, 254]) {
                Some("metadata")
            } else {
                None
            };
            if let (Some(b), Some(name)) = (baseline, service(source)) {
                if let Some(s) = plans.entry(home).or_default().services.get_mut(&name) {
                    s.baseline.insert(b);
                }
                continue;
            }
        }
        let peer = |pod: &Pod| -> String {
            match service(pod) {
                Some(name) if pod.namespace == home => name,
                Some(name) if wanted(&pod.namespace) => format!("{}/{name}", pod.namespace),
                _ => format!(
                    "{{ namespace: {}, selector: {{ {} }} }}",
                    quote(&pod.namespace),
                    selector_text(&workload_selector_by(&pod.labels, &keys))
                ),
            }
        };
        let from_text = peer(source);
        let to_text = match (dest_pod, external) {
            (Some(d), _) => peer(d),
            (None, Some(e)) => match e.fqdn.as_deref().filter(|n| options.fqdn && Fqdn::parse(n).is_ok()) {
                Some(name) => name.to_string(),
                None => host_cidr(e.ip),
            },
            _ => continue,
        };
        plans
            .entry(home)
            .or_default()
            .allow
            .entry((from_text, to_text))
            .or_default()
            .entry((key.protocol, key.port))
            .or_default()
            .merge(seen);
    }
    let watched = Watched::of(evidence);
    let unseen = unseen_services(cluster, known.ir, &placed, &wanted, &keys);
    // Each namespace file lists its own; the project those of namespaces
    // that have no file (nothing of them was seen at all).
    let mut homeless = Vec::new();
    for service in &unseen {
        match plans.get_mut(&service.namespace) {
            Some(plan) => plan.unseen.push(service.clone()),
            None => homeless.push(service.clone()),
        }
    }
    let brief = brief_namespaces(evidence, &placed, watched.as_ref(), &known.requirements, &mut plans);
    for (why, count) in unplaced {
        notes.push(format!(
            "{count} connections have an end that could not be placed and are not proposed: {why}"
        ));
    }
    if dropped_only > 0 {
        notes.push(format!(
            "{dropped_only} connections were dropped by the policies in force and are not proposed"
        ));
    }
    notes.extend(unseen_note(&unseen, watched.as_ref()));
    notes.extend(brief.iter().map(|b| b.message.clone()));
    let mut files = BTreeMap::new();
    let mut lines = Vec::new();
    files.insert(
        "palisade.yaml".to_string(),
        project(evidence, &infra, options, watched.as_ref(), &homeless),
    );
    for (ns, plan) in &plans {
        let (text, proposed) = intents(ns, plan, watched.as_ref());
        files.insert(format!("{ns}.yaml"), text);
        lines.extend(proposed);
    }
    let mut proposal = Proposal {
        files,
        notes,
        window: watched.map(|w| w.report()),
        lines,
        unseen,
        brief,
        refused: None,
    };
    proposal.refused = prune(&mut proposal).err();
    keep_written_lines(&mut proposal);
    proposal
}

/// The namespaces proposed for whose traffic spans too little of the
/// window for default deny; their plans are marked so
fn brief_namespaces(
    evidence: &Evidence,
    placed: &Placed,
    watched: Option<&Watched>,
    requirements: &Requirements,
    plans: &mut BTreeMap<String, NamespacePlan>,
) -> Vec<Brief> {
    let Some(watched) = watched else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (ns, seen) in watch::by_namespace(evidence, placed) {
        let Some(plan) = plans.get_mut(&ns) else { continue };
        if let Some(brief) = watch::brief(&ns, &seen, watched, requirements) {
            plan.brief = Some(brief.clone());
            out.push(brief);
        }
    }
    out
}

fn project(
    evidence: &Evidence,
    infra: &Infra,
    options: &DiscoverOptions,
    watched: Option<&Watched>,
    unseen: &[Unseen],
) -> String {
    let mut out = format!(
        "# Proposed by `palisade discover` from {} connections observed{}.\n# Review it: it allows what was seen, nothing else.\n",
        evidence.records(),
        watched.map(Watched::between).unwrap_or_default(),
    );
    if !unseen.is_empty() {
        out.push_str("# Never seen in that window, in namespaces nothing is proposed for:\n");
        for u in unseen {
            out.push_str(&format!("#   {}/{}\n", u.namespace, u.service));
        }
    }
    out.push_str(&format!(
        "apiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: {{ name: discovered }}\nspec:\n  targets: [{}]\n  cluster:\n",
        options.targets.join(", ")
    ));
    let (dns_ns, dns_sel) = infra.dns.clone().unwrap_or_else(|| {
        (
            "kube-system".into(),
            BTreeMap::from([("k8s-app".into(), "kube-dns".into())]),
        )
    });
    out.push_str(&format!(
        "    dns: {{ namespace: {}, selector: {{ {} }}, ports: [udp/53, tcp/53] }}\n",
        quote(&dns_ns),
        selector_text(&dns_sel)
    ));
    if let Some(ip) = infra.node_local_dns {
        out.push_str(&format!("    nodeLocalDNS: {ip}\n"));
    }
    if !options.cluster_cidrs.is_empty() {
        let cidrs: Vec<String> = options.cluster_cidrs.iter().map(ToString::to_string).collect();
        out.push_str(&format!("    clusterCIDRs: [{}]\n", cidrs.join(", ")));
    }
    if !infra.api.is_empty() {
        let cidrs: BTreeSet<String> = infra.api.iter().map(|(ip, _)| host_cidr(*ip)).collect();
        let ports: BTreeSet<String> = infra.api.iter().map(|(_, p)| format!("tcp/{p}")).collect();
        out.push_str(&format!(
            "    apiServer: {{ cidrs: [{}], ports: [{}] }}\n",
            cidrs.into_iter().collect::<Vec<_>>().join(", "),
            ports.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    out
}

fn intents(ns: &str, plan: &NamespacePlan, watched: Option<&Watched>) -> (String, Vec<ProposedLine>) {
    let between = watched.map(Watched::between).unwrap_or_default();
    let mut out = format!("# Proposed by `palisade discover`: what namespace {ns} was seen doing{between}.\n");
    if let Some(brief) = &plan.brief {
        out.push_str(&format!("# Not on default deny: {}\n", brief.message));
    }
    if !plan.unseen.is_empty() {
        out.push_str("# Never seen in that window, so no line here rests on their traffic; default deny\n# leaves them only what is allowed (observe a window in which they work):\n");
        for u in &plan.unseen {
            out.push_str(&format!(
                "#   {}: {{ selector: {{ {} }} }}\n",
                u.service,
                selector_text(&u.selector)
            ));
        }
    }
    let posture = if plan.brief.is_some() { "none" } else { "default-deny" };
    out.push_str(&format!(
        "apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: {{ name: {}, namespace: {} }}\nspec:\n  posture: {posture}\n",
        quote(ns),
        quote(ns)
    ));
    if !plan.baseline.is_empty() {
        out.push_str(&format!(
            "  baseline: [{}]\n",
            plan.baseline.iter().copied().collect::<Vec<_>>().join(", ")
        ));
    }
    out.push_str("  services:\n");
    for (name, s) in &plan.services {
        let mut fields = vec![format!("selector: {{ {} }}", selector_text(&s.selector))];
        if let Some(sa) = &s.service_account {
            fields.push(format!("serviceAccount: {}", quote(sa)));
        }
        if !s.baseline.is_empty() {
            fields.push(format!(
                "baseline: [{}]",
                s.baseline.iter().copied().collect::<Vec<_>>().join(", ")
            ));
        }
        out.push_str(&format!("    {name}: {{ {} }}\n", fields.join(", ")));
    }
    if plan.allow.is_empty() {
        out.push_str("  allow: []\n");
        return (out, Vec::new());
    }
    out.push_str("  allow:\n");
    let mut lines = Vec::new();
    for ((from, to), ports) in &plan.allow {
        let mut total = Seen::default();
        for seen in ports.values() {
            total.merge(seen);
        }
        let port_list: Vec<String> = ports.keys().map(|(p, n)| format!("{}/{n}", p.as_str())).collect();
        let line = if from.starts_with('{') || to.starts_with('{') {
            format!("{{ from: {from}, to: {to}, ports: [{}] }}", port_list.join(", "))
        } else {
            format!("{from} -> {to} {}", port_list.join(","))
        };
        out.push_str(&format!("    - {line}  # {}\n", seen_text(&total, watched)));
        lines.push(ProposedLine {
            namespace: ns.to_string(),
            rule: line,
            seen: seen_report(&total),
        });
    }
    (out, lines)
}

/// `"app": "web", "tier": "db"`: a selector as a YAML flow mapping's entries
fn selector_text(selector: &BTreeMap<String, String>) -> String {
    selector
        .iter()
        .map(|(k, v)| format!("{}: {}", quote(k), quote(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A service name from the workload's labels (its pod's name when it has
/// none): a DNS-1035 label, as the intents require of a service
fn service_name(pod: &Pod, selector: &BTreeMap<String, String>) -> String {
    let name = if selector.is_empty() {
        palisade_targets::import::service_name(&BTreeMap::from([("name".to_string(), pod.name.clone())]))
    } else {
        palisade_targets::import::service_name(selector)
    };
    // Cut to 50 characters, the name can end in `-`; a `-2` suffix may follow.
    let name = name.trim_end_matches('-');
    if name.is_empty() {
        "pods".to_string()
    } else {
        name.to_string()
    }
}

fn unique_name(base: &str, taken: &BTreeMap<String, Service>) -> String {
    (1..)
        .map(|i| {
            if i == 1 {
                base.to_string()
            } else {
                format!("{base}-{i}")
            }
        })
        .find(|n| !taken.contains_key(n))
        .unwrap_or_else(|| base.to_string())
}

#[cfg(test)]
#[path = "discover_tests.rs"]
mod tests;
