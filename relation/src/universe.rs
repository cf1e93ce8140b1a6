//! The endpoint classes of a cluster model and the indexes that turn a
//! selector into a set of them without looking at every pod.
//!
//! A pod of the model already stands for every pod with its namespace and
//! labels (the model keeps one per label set), so each is a class. Outside
//! addresses are grouped by the partition that the model's address blocks
//! make of the address space: two addresses that every block either covers
//! or misses, with the same DNS name and API-server role, are one class, and
//! reports print the class as the CIDRs of its part, not as a sample.

use ipnet::IpNet;
use palisade_compiler::model::{ClusterModel, Endpoint, External, Namespace, Pod, Request};
use palisade_intents::{syntax::Protocol, types::Labels};
use roaring::RoaringBitmap;
use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
    sync::Arc,
};

/// An endpoint class: pods first (by their index in the model), then outside classes
pub type Class = u32;

/// A set of endpoint classes
pub type ClassSet = RoaringBitmap;

/// Where an outside class lies in the address space: an inclusive range of
/// one family (IPv4 addresses as their `u32`, IPv6 as `u128`)
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    /// IPv6
    pub v6: bool,
    /// first address
    pub first: u128,
    /// last address
    pub last: u128,
}

/// Addresses outside the cluster that no rule tells apart
#[derive(Debug, Clone)]
pub struct Outside {
    /// the model's address that stands for all of them (an index into `model.externals`)
    pub representative: usize,
    /// the part of the address space they fill
    pub span: Span,
}

/// The classes of one model, and the requests asked about
pub struct Universe<'m> {
    /// the model
    pub model: &'m ClusterModel,
    pods: u32,
    outside: Vec<Outside>,
    external_class: Vec<Class>,
    requests: u32,
    all: Arc<ClassSet>,
    by_label: HashMap<(&'m str, &'m str), ClassSet>,
    by_key: HashMap<&'m str, ClassSet>,
    by_namespace: BTreeMap<&'m str, ClassSet>,
    by_port_name: HashMap<&'m str, BTreeMap<(Protocol, u16), ClassSet>>,
}

impl<'m> Universe<'m> {
    /// The classes of `model`; with `requests`, its HTTP requests are the
    /// request classes 1..=n (without, an L7 rule is a port-level rule)
    pub fn new(model: &'m ClusterModel, requests: bool) -> Self {
        let pods = u32::try_from(model.pods.len()).unwrap_or(u32::MAX);
        let mut by_label: HashMap<(&str, &str), ClassSet> = HashMap::new();
        let mut by_key: HashMap<&str, ClassSet> = HashMap::new();
        let mut by_namespace: BTreeMap<&str, ClassSet> = BTreeMap::new();
        let mut by_port_name: HashMap<&str, BTreeMap<(Protocol, u16), ClassSet>> = HashMap::new();
        for (class, pod) in (0..pods).zip(&model.pods) {
            by_namespace.entry(pod.namespace.as_str()).or_default().insert(class);
            for (k, v) in &pod.labels {
                by_label.entry((k.as_str(), v.as_str())).or_default().insert(class);
                by_key.entry(k.as_str()).or_default().insert(class);
            }
            for port in &pod.ports {
                if let Some(name) = port.name.as_deref() {
                    let by_number = by_port_name.entry(name).or_default();
                    by_number.entry((port.protocol, port.port)).or_default().insert(class);
                }
            }
        }
        let (outside, external_class) = outside_classes(model, pods);
        let total = pods.saturating_add(u32::try_from(outside.len()).unwrap_or(u32::MAX));
        let mut all = ClassSet::new();
        all.insert_range(0..total);
        Self {
            model,
            pods,
            outside,
            external_class,
            requests: if requests {
                u32::try_from(model.requests.len()).unwrap_or(u32::MAX)
            } else {
                0
            },
            all: Arc::new(all),
            by_label,
            by_key,
            by_namespace,
            by_port_name,
        }
    }

    /// Every class
    pub fn all(&self) -> &Arc<ClassSet> {
        &self.all
    }

    /// How many pod classes there are (they are `0..pod_count`)
    pub fn pod_count(&self) -> u32 {
        self.pods
    }

    /// Every pod class
    pub fn pods(&self) -> ClassSet {
        let mut set = ClassSet::new();
        set.insert_range(0..self.pods);
        set
    }

    /// Every outside class
    pub fn outsides(&self) -> ClassSet {
        let mut set = ClassSet::new();
        set.insert_range(self.pods..self.all.len().try_into().unwrap_or(u32::MAX));
        set
    }

    /// The pod of a pod class
    pub fn pod(&self, class: Class) -> Option<&'m Pod> {
        if class < self.pods {
            self.model.pods.get(usize::try_from(class).ok()?)
        } else {
            None
        }
    }

    /// The outside class, with its representative address
    pub fn outside(&self, class: Class) -> Option<(&Outside, &'m External)> {
        let index = usize::try_from(class.checked_sub(self.pods)?).ok()?;
        let outside = self.outside.get(index)?;
        Some((outside, self.model.externals.get(outside.representative)?))
    }

    /// An endpoint standing for the class
    pub fn endpoint(&self, class: Class) -> Option<Endpoint<'m>> {
        match self.pod(class) {
            Some(pod) => Some(Endpoint::Pod(pod)),
            None => self.outside(class).map(|(_, e)| Endpoint::External(e)),
        }
    }

    /// The class of an endpoint of the model
    pub fn class_of(&self, endpoint: &Endpoint) -> Option<Class> {
        match endpoint {
            Endpoint::Pod(pod) => {
                let index = self.model.pods.iter().position(|p| std::ptr::eq(p, *pod))?;
                u32::try_from(index).ok()
            }
            Endpoint::External(ext) => {
                let index = self.model.externals.iter().position(|e| std::ptr::eq(e, *ext))?;
                self.external_class.get(index).copied()
            }
        }
    }

    /// The class of the model's `index`th outside address
    pub fn class_of_external(&self, index: usize) -> Option<Class> {
        self.external_class.get(index).copied()
    }

    /// How many request classes there are (0: L4 only)
    pub fn request_count(&self) -> u32 {
        self.requests
    }

    /// The request of class `r` (1-based)
    pub fn request(&self, r: u32) -> Option<&'m Request> {
        if r == 0 || r > self.requests {
            return None;
        }
        self.model.requests.get(usize::try_from(r - 1).ok()?)
    }

    /// The request classes (1-based) whose request passes `admits`
    pub fn requests_where(&self, admits: impl Fn(&Request) -> bool) -> Vec<u32> {
        (1..=self.requests)
            .filter(|&r| self.request(r).is_some_and(&admits))
            .collect()
    }

    /// The pods of a namespace
    pub fn pods_in(&self, namespace: &str) -> ClassSet {
        self.by_namespace.get(namespace).cloned().unwrap_or_default()
    }

    /// The pods carrying every label of `selector` (all pods for an empty one)
    pub fn pods_labelled(&self, selector: &Labels) -> ClassSet {
        let mut out: Option<ClassSet> = None;
        for (k, v) in selector {
            let with = self
                .by_label
                .get(&(k.as_str(), v.as_str()))
                .cloned()
                .unwrap_or_default();
            out = Some(match out {
                Some(set) => set & with,
                None => with,
            });
        }
        out.unwrap_or_else(|| self.pods())
    }

    /// The pods that carry `key = value`
    pub fn pods_with(&self, key: &str, value: &str) -> ClassSet {
        self.by_label.get(&(key, value)).cloned().unwrap_or_default()
    }

    /// The pods that carry `key`, whatever its value
    pub fn pods_with_key(&self, key: &str) -> ClassSet {
        self.by_key.get(key).cloned().unwrap_or_default()
    }

    /// The pods for which `keep` holds (a scan: use the indexes where a selector allows)
    pub fn pods_where(&self, keep: impl Fn(&Pod) -> bool) -> ClassSet {
        (0..self.pods)
            .zip(&self.model.pods)
            .filter(|(_, p)| keep(p))
            .map(|(c, _)| c)
            .collect()
    }

    /// The pods of the namespaces for which `keep` holds
    pub fn pods_in_namespaces(&self, keep: impl Fn(&Namespace) -> bool) -> ClassSet {
        let mut out = ClassSet::new();
        for (name, pods) in &self.by_namespace {
            let namespace = self.model.namespace(name);
            if namespace.is_some_and(&keep) {
                out |= pods;
            }
        }
        out
    }

    /// The outside classes whose addresses pass `keep` (asked of each class's representative)
    pub fn outsides_where(&self, keep: impl Fn(&External) -> bool) -> ClassSet {
        let mut out = ClassSet::new();
        for (offset, outside) in (0u32..).zip(&self.outside) {
            if self.model.externals.get(outside.representative).is_some_and(&keep) {
                out.insert(self.pods.saturating_add(offset));
            }
        }
        out
    }

    /// The outside classes all of whose addresses `covers` covers, asked of
    /// every address of the model; `None` when some of a class's addresses
    /// are covered and some are not (no set of classes can then say it)
    pub fn outsides_covered(&self, covers: impl Fn(&IpAddr) -> bool) -> Option<ClassSet> {
        let mut some = ClassSet::new();
        let mut not_all = ClassSet::new();
        for (index, external) in self.model.externals.iter().enumerate() {
            let class = self.class_of_external(index)?;
            if covers(&external.ip) {
                some.insert(class);
            } else {
                not_all.insert(class);
            }
        }
        some.is_disjoint(&not_all).then_some(some)
    }

    /// The pods whose container port `name` is each protocol/number
    pub fn named_port_numbers(&self, name: &str) -> impl Iterator<Item = ((Protocol, u16), &ClassSet)> {
        self.by_port_name
            .get(name)
            .into_iter()
            .flatten()
            .map(|(&point, pods)| (point, pods))
    }

    /// The pods whose container port `name` is `protocol`/`number`, grouped by number
    pub fn named_ports(&self, name: &str, protocol: Protocol) -> impl Iterator<Item = (u16, &ClassSet)> {
        self.by_port_name
            .get(name)
            .into_iter()
            .flat_map(move |by_number| by_number.range((protocol, 0)..=(protocol, u16::MAX)))
            .map(|(&(_, number), pods)| (number, pods))
    }
}

/// The position of an address on its family's line
fn point(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(v4) => (false, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (true, u128::from(v6)),
    }
}

/// Where a block lies on its family's line
pub(crate) fn block_span(net: &IpNet) -> Span {
    let (v6, first) = point(net.network());
    let (_, last) = point(net.broadcast());
    Span { v6, first, last }
}

/// Group the model's outside addresses into classes: by the part of the
/// partition of the address space (by the model's blocks and cluster
/// ranges) they fall in, their name and their API-server role. Without
/// blocks every address is its own part: nothing says two are alike.
fn outside_classes(model: &ClusterModel, pods: u32) -> (Vec<Outside>, Vec<Class>) {
    let mut cuts: BTreeMap<bool, Vec<u128>> = BTreeMap::new();
    for net in model.blocks.iter().chain(&model.pod_ranges) {
        let span = block_span(net);
        let line = cuts.entry(span.v6).or_default();
        line.push(span.first);
        if let Some(next) = span.last.checked_add(1) {
            line.push(next);
        }
    }
    for line in cuts.values_mut() {
        line.sort_unstable();
        line.dedup();
    }
    let span_of = |ip: IpAddr| -> Span {
        let (v6, at) = point(ip);
        let top = if v6 { u128::MAX } else { u128::from(u32::MAX) };
        if model.blocks.is_empty() {
            return Span {
                v6,
                first: at,
                last: at,
            };
        }
        let line = cuts.get(&v6).map_or(&[][..], Vec::as_slice);
        let after = line.partition_point(|&c| c <= at);
        let first = after.checked_sub(1).and_then(|i| line.get(i)).copied().unwrap_or(0);
        let last = line.get(after).map_or(top, |&next| next - 1);
        Span { v6, first, last }
    };
    let mut outside: Vec<Outside> = Vec::new();
    let mut seen: HashMap<(Span, Option<&str>, bool), Class> = HashMap::new();
    let mut external_class = Vec::with_capacity(model.externals.len());
    for (index, ext) in model.externals.iter().enumerate() {
        let span = span_of(ext.ip);
        let identity = (span, ext.fqdn.as_deref(), ext.kube_apiserver);
        let class = *seen.entry(identity).or_insert_with(|| {
            outside.push(Outside {
                representative: index,
                span,
            });
            pods.saturating_add(u32::try_from(outside.len() - 1).unwrap_or(u32::MAX))
        });
        external_class.push(class);
    }
    (outside, external_class)
}
