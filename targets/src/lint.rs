//! The classic traps of hand-written policies, each with an id, a severity
//! and a fix: the one registry of lint codes ([`CHECKS`]), which `lint
//! --list`, the SARIF rules and `--disable` read. Each dialect's folder holds
//! the checks on its own manifests (`lint.rs`); checks that depend on what
//! other layers let through ask those layers' evaluators rather than read
//! their fields: default-deny egress without DNS (`lint/dns.rs`) and the
//! egress gateway pods can go around (`istio/lint.rs`).

use crate::Manifest;
use ipnet::IpNet;
use palisade_compiler::model::ClusterModel;
use std::{collections::BTreeSet, net::IpAddr};

mod dns;

/// How bad a finding is
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// the policy does not do what it looks like, or breaks traffic
    Error,
    /// a likely mistake or a fragile construct
    Warning,
}

/// A check palisade runs
#[derive(Debug, Clone, Copy)]
pub struct Check {
    /// `PAL001`
    pub id: &'static str,
    /// `split-peer`
    pub name: &'static str,
    /// its severity
    pub severity: Severity,
    /// one line on what it finds
    pub summary: &'static str,
}

/// Every check, for `palisade lint --list` and the docs
pub const CHECKS: &[Check] = &[
    SPLIT_PEER,
    EGRESS_WITHOUT_DNS,
    APISERVER_BY_SELECTOR,
    SAAS_ADDRESS,
    METADATA_TO_NAMESPACE,
    ALL_NAMESPACES,
    SELECTS_NOTHING,
    FQDN_WITHOUT_DNS_PROXY,
    GATEWAY_BYPASS,
    LITERAL_WILDCARD,
    crate::cilium::admission::CILIUM_REFUSES,
];

/// namespaceSelector and podSelector as two peers (OR) where one (AND) was likely meant
pub const SPLIT_PEER: Check = Check {
    id: "PAL001",
    name: "split-peer",
    severity: Severity::Warning,
    summary: "namespaceSelector and podSelector in two list items mean OR: the whole namespace is let in",
};
/// egress isolated, DNS not allowed
pub const EGRESS_WITHOUT_DNS: Check = Check {
    id: "PAL002",
    name: "egress-without-dns",
    severity: Severity::Error,
    summary: "pods isolated for egress cannot reach the cluster DNS: every name lookup fails",
};
/// the API server by pod selector
pub const APISERVER_BY_SELECTOR: Check = Check {
    id: "PAL003",
    name: "apiserver-by-selector",
    severity: Severity::Warning,
    summary: "the API server runs on the host network: a pod selector for it matches nothing",
};
/// a public /32 that looks like a SaaS host
pub const SAAS_ADDRESS: Check = Check {
    id: "PAL004",
    name: "saas-address",
    severity: Severity::Warning,
    summary: "a single public address: SaaS and CDN addresses rotate; allow the DNS name instead",
};
/// the metadata service open to a whole namespace
pub const METADATA_TO_NAMESPACE: Check = Check {
    id: "PAL005",
    name: "metadata-to-namespace",
    severity: Severity::Warning,
    summary: "every pod of the namespace may reach the cloud metadata service (credentials)",
};
/// every namespace
pub const ALL_NAMESPACES: Check = Check {
    id: "PAL006",
    name: "all-namespaces",
    severity: Severity::Warning,
    summary: "an empty namespace selector lets in every namespace, including ones created later",
};
/// a policy that selects no pod
pub const SELECTS_NOTHING: Check = Check {
    id: "PAL007",
    name: "selects-nothing",
    severity: Severity::Warning,
    summary: "the policy selects no pod of the cluster dump: a typo in a label, or a dead policy",
};
/// toFQDNs without the DNS proxy
pub const FQDN_WITHOUT_DNS_PROXY: Check = Check {
    id: "PAL008",
    name: "fqdn-without-dns-proxy",
    severity: Severity::Error,
    summary: "toFQDNs only matches names Cilium's DNS proxy saw: without a `rules.dns` egress rule it matches nothing",
};
/// an egress gateway pods can bypass
pub const GATEWAY_BYPASS: Check = Check {
    id: "PAL009",
    name: "gateway-bypass",
    severity: Severity::Warning,
    summary: "an Istio egress gateway without a NetworkPolicy that stops pods going around it",
};
/// `matchName: "*.x"` (literal)
pub const LITERAL_WILDCARD: Check = Check {
    id: "PAL010",
    name: "literal-wildcard",
    severity: Severity::Error,
    summary: "Cilium's matchName takes no wildcard: `*.example.com` is refused by the CRD (use matchPattern)",
};

/// One finding: which check, where (a manifest and a JSON pointer in it), what and how to fix it
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// the check
    pub check: &'static str,
    /// its severity
    pub severity: Severity,
    /// index of the manifest in the list linted
    pub manifest: usize,
    /// JSON pointer inside it (`/spec/ingress/0/from/1`)
    pub pointer: String,
    /// what is wrong here
    pub message: String,
    /// how to fix it
    pub fix: String,
}

impl Finding {
    /// A finding of `check`
    pub fn new(
        check: &Check,
        manifest: usize,
        pointer: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            check: check.id,
            severity: check.severity,
            manifest,
            pointer: pointer.into(),
            message: message.into(),
            fix: fix.into(),
        }
    }
}

/// The check of that id
pub fn check(id: &str) -> Option<&'static Check> {
    CHECKS.iter().find(|c| c.id == id)
}

/// The annotation that turns checks off on one object: a comma list of ids
/// or names (`palisade.dev/lint-disable: PAL002,gateway-bypass`)
pub const DISABLE_ANNOTATION: &str = "palisade.dev/lint-disable";

/// A check id or name that is in no registry entry
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no check is called `{id}`")]
pub struct UnknownCheck {
    id: String,
    suggestion: Option<String>,
}

impl UnknownCheck {
    /// The id as written
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `did you mean `PAL002`?`, when one is close
    pub fn suggestion(&self) -> Option<&str> {
        self.suggestion.as_deref()
    }
}

/// The registry's ids of checks written as ids or names, in comma lists
/// (`PAL002,gateway-bypass`); the first unknown one is the error
pub fn resolve<'a>(written: impl IntoIterator<Item = &'a str>) -> Result<BTreeSet<&'static str>, UnknownCheck> {
    let mut ids = BTreeSet::new();
    for word in written.into_iter().flat_map(|w| w.split(',')).map(str::trim) {
        if word.is_empty() {
            continue;
        }
        match CHECKS
            .iter()
            .find(|c| c.id.eq_ignore_ascii_case(word) || c.name == word)
        {
            Some(check) => {
                ids.insert(check.id);
            }
            None => {
                let candidates = CHECKS.iter().flat_map(|c| [c.id, c.name]);
                return Err(UnknownCheck {
                    id: word.to_string(),
                    suggestion: palisade_intents::diag::did_you_mean(word, candidates),
                });
            }
        }
    }
    Ok(ids)
}

/// What an object's [`DISABLE_ANNOTATION`] says, as written (`None`: it has none)
pub fn disabled_by(manifest: &Manifest) -> Option<&str> {
    manifest.object["metadata"]["annotations"][DISABLE_ANNOTATION].as_str()
}

/// Every check on every manifest, sorted by manifest and place, but those
/// an object turns off by its [`DISABLE_ANNOTATION`] (an unknown id there
/// turns nothing off; callers report it with [`resolve`])
pub fn lint(manifests: &[Manifest], cluster: Option<&ClusterModel>) -> Vec<Finding> {
    let mut findings: Vec<Finding> = crate::DIALECTS
        .iter()
        .flat_map(|d| d.lint(manifests, cluster))
        .collect();
    findings.extend(dns::egress_without_dns(manifests, cluster));
    findings.retain(|f| {
        let off = manifests
            .get(f.manifest)
            .and_then(disabled_by)
            .map(|written| written.split(',').filter_map(|w| resolve([w]).ok()).flatten().collect())
            .unwrap_or_else(BTreeSet::new);
        !off.contains(f.check)
    });
    findings.sort_by(|a, b| (a.manifest, &a.pointer, a.check).cmp(&(b.manifest, &b.pointer, b.check)));
    findings.dedup();
    findings
}

/// Whether an address is on the public internet (not private, shared,
/// loopback, link-local or multicast)
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (o[0] == 100 && (64..128).contains(&o[1])))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// A single public host address (`/32`, `/128`)
pub fn single_public_host(net: &IpNet) -> bool {
    net.prefix_len() == net.max_prefix_len() && is_public(net.addr())
}

/// Whether a block (minus its exceptions) contains the cloud metadata address
pub fn reaches_metadata(net: &IpNet, except: &[IpNet]) -> bool {
    let metadata = IpAddr::from([169, 254, 169, 254]);
    net.contains(&metadata) && !except.iter().any(|e| e.contains(&metadata))
}

/// An egress destination block of some policy, as the address checks see it
pub struct EgressBlock<'a> {
    /// the policy
    pub manifest: &'a Manifest,
    /// its index in the list linted
    pub index: usize,
    /// where the block is written
    pub pointer: String,
    /// the block
    pub net: IpNet,
    /// blocks cut out of it
    pub except: Vec<IpNet>,
    /// whether the policy applies to every pod of its namespace
    pub whole_namespace: bool,
    /// how this dialect allows a DNS name instead
    pub name_instead: &'static str,
}

/// PAL004 (a single public host) and PAL005 (metadata for a whole namespace)
/// on one egress block: the same checks in every dialect
pub fn check_egress_block(block: EgressBlock<'_>, out: &mut Vec<Finding>) {
    if single_public_host(&block.net) {
        out.push(Finding::new(
            &SAAS_ADDRESS,
            block.index,
            block.pointer.clone(),
            format!(
                "`{}` is one public address; SaaS and CDN hosts change addresses without notice",
                block.net
            ),
            block.name_instead,
        ));
    }
    if block.whole_namespace && reaches_metadata(&block.net, &block.except) {
        out.push(Finding::new(
            &METADATA_TO_NAMESPACE,
            block.index,
            block.pointer,
            format!(
                "every pod of {} may reach 169.254.169.254, the cloud metadata service",
                block.manifest.namespace()
            ),
            "select only the pods that need cloud credentials (palisade: `baseline: [metadata]` on that service)",
        ));
    }
}
