//! One destination, one node: the names observed traffic gives what an
//! intent names otherwise. Knows the IR's peers and the flows' way of naming
//! workloads (`namespace/name`, `name (address)`); nothing of drawing.

use ipnet::IpNet;
use palisade_compiler::ir::{Ir, Peer};
use palisade_intents::syntax::Entity;
use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
};

/// The other names observed traffic gives an intent's destination: the
/// workload behind a selector (`kube-system/kube-dns` for `dns`), the address
/// behind a DNS name (`api.stripe.com (198.51.100.7)`), an address inside a
/// block. Without them one destination is drawn twice.
pub(super) struct Aliases {
    names: BTreeMap<String, String>,
    blocks: Vec<(IpNet, Vec<IpNet>, String)>,
}

impl Aliases {
    pub(super) fn new(ir: &Ir) -> Self {
        let mut aliases = Aliases {
            names: BTreeMap::new(),
            blocks: Vec::new(),
        };
        for peer in ir.edges.iter().flat_map(|e| [&e.from, &e.to]) {
            let id = peer.to_string();
            match peer {
                Peer::Pods { namespace, selector } => {
                    for value in selector.values() {
                        aliases
                            .names
                            .entry(format!("{namespace}/{value}"))
                            .or_insert_with(|| id.clone());
                    }
                }
                Peer::Entity(Entity::Dns) => {
                    let dns = &ir.profile.dns;
                    for value in dns.selector.values() {
                        aliases
                            .names
                            .entry(format!("{}/{value}", dns.namespace))
                            .or_insert_with(|| id.clone());
                    }
                }
                Peer::Fqdn { name, .. } => {
                    aliases.names.entry(name.to_string()).or_insert(id);
                }
                Peer::Cidr { net, except } => aliases.blocks.push((*net, except.clone(), id)),
                Peer::Service { .. } | Peer::Namespace(_) | Peer::Entity(_) => {}
            }
        }
        // The narrowest block wins, as it does in the policies.
        aliases
            .blocks
            .sort_by(|a, b| b.0.prefix_len().cmp(&a.0.prefix_len()).then_with(|| a.2.cmp(&b.2)));
        aliases
    }

    /// The node `end` (a flow's source or destination) is drawn on
    pub(super) fn resolve(&self, end: &str, known: &BTreeSet<String>) -> String {
        let (name, address) = match end.strip_suffix(')').and_then(|s| s.rsplit_once(" (")) {
            Some((name, address)) => (name, Some(address)),
            None => (end, None),
        };
        for candidate in [end, name] {
            if known.contains(candidate) {
                return candidate.to_string();
            }
            if let Some(id) = self.names.get(candidate) {
                return id.clone();
            }
        }
        let ip = address.unwrap_or(name).parse::<IpAddr>().ok();
        let block = ip.and_then(|ip| {
            self.blocks
                .iter()
                .find(|(net, except, _)| net.contains(&ip) && !except.iter().any(|x| x.contains(&ip)))
        });
        block.map_or_else(|| end.to_string(), |(_, _, id)| id.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aliases() -> Aliases {
        let net = |s: &str| s.parse::<IpNet>().ok().into_iter().collect::<Vec<_>>();
        let mut blocks = Vec::new();
        for (block, except, id) in [
            ("10.0.0.0/8", "10.9.0.0/16", "10.0.0.0/8"),
            ("10.1.0.0/16", "", "10.1.0.0/16"),
        ] {
            if let Some(net_) = net(block).first() {
                blocks.push((*net_, net(except), id.to_string()));
            }
        }
        blocks.sort_by_key(|b| std::cmp::Reverse(b.0.prefix_len()));
        Aliases {
            names: BTreeMap::from([
                ("kube-system/kube-dns".to_string(), "dns".to_string()),
                (
                    "api.stripe.com".to_string(),
                    "api.stripe.com via egress-gateway".to_string(),
                ),
            ]),
            blocks,
        }
    }

    #[test]
    fn a_flow_end_is_drawn_on_the_node_of_the_destination_it_names() {
        let known = BTreeSet::from(["shop/backend".to_string(), "api.example.com".to_string()]);
        let a = aliases();
        assert_eq!(a.resolve("shop/backend", &known), "shop/backend");
        assert_eq!(a.resolve("api.example.com (198.51.100.7)", &known), "api.example.com");
        assert_eq!(a.resolve("kube-system/kube-dns", &known), "dns");
        assert_eq!(
            a.resolve("api.stripe.com (1.2.3.4)", &known),
            "api.stripe.com via egress-gateway"
        );
        assert_eq!(a.resolve("10.1.2.3", &known), "10.1.0.0/16", "the narrowest block");
        assert_eq!(a.resolve("10.2.0.1", &known), "10.0.0.0/8");
        assert_eq!(
            a.resolve("10.9.0.1", &known),
            "10.9.0.1",
            "an excepted address is not the block"
        );
        assert_eq!(a.resolve("other/thing", &known), "other/thing");
    }
}
