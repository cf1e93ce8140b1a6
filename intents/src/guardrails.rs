//! `kind: Guardrails` checked: the platform team's cluster-wide rules, read
//! with the namespace intents' own peers, ports, terse parser and diagnostics.
//!
//! A guardrail is `ACTION SOURCES -> DESTINATIONS [PORTS]` (terse) or
//! `{action, from, to, ports}`. Its peers are those of a namespace intent
//! except a bare service name (a guardrail has no namespace of its own) and
//! FQDNs through the egress gateway, plus `metadata` (the cloud metadata
//! service) and `{namespaceSelector, selector}` (pods by label in namespaces
//! by label). Nothing here knows which namespaces exist.

use crate::{
    diag::Diag,
    loc::Loc,
    model::{GuardrailPeer, GuardrailRule, Guardrails, Located},
    syntax::{PeerSyntax, SyntaxError},
    terse,
    types::{self, GuardrailAction, Labels, PeerItem, Peers, Via},
    validate::Checker,
};
use marked_yaml::Spanned;

/// The word that names the cloud metadata service in a guardrail
pub const METADATA: &str = "metadata";

impl Checker<'_> {
    pub(crate) fn guardrails(&mut self, doc: &types::GuardrailsDocument) -> Option<Guardrails> {
        let before = self.diags.len();
        let name = self.located(&doc.metadata.name);
        self.dns_label(&name, "Guardrails");
        if let Some(namespace) = &doc.metadata.namespace {
            let loc = self.loc(namespace);
            self.diags.push(
                Diag::error(
                    "bad_value",
                    "`Guardrails` are cluster-wide and take no `metadata.namespace`",
                )
                .at(&loc)
                .help("remove `namespace`; select namespaces in the rules with `namespaceSelector` or `ns/*`"),
            );
        }
        let rules: Vec<GuardrailRule> = doc.spec.rules.iter().filter_map(|r| self.guardrail(r)).collect();
        let baseline: Vec<GuardrailRule> = doc.spec.baseline.iter().filter_map(|r| self.guardrail(r)).collect();
        for rule in baseline.iter().filter(|r| r.action.value == GuardrailAction::Delegate) {
            self.diags.push(
                Diag::error("bad_guardrail", "`delegate` in `baseline` hands the connection to nobody")
                    .at(&rule.action.loc)
                    .help("the baseline is decided after the namespaces' intents: write `allow` or `deny`, or move the rule to `rules`"),
            );
        }
        (self.diags.len() == before).then_some(Guardrails { name, rules, baseline })
    }

    fn guardrail(&mut self, rule: &Spanned<types::GuardrailRule>) -> Option<GuardrailRule> {
        let loc = self.loc(rule);
        match &**rule {
            types::GuardrailRule::Terse(text) => self.terse_guardrail(text, &loc),
            types::GuardrailRule::Structured(s) => {
                let before = self.diags.len();
                let action = self.located(&s.action);
                let from = self.guard_peers(&s.from);
                let to = self.guard_peers(&s.to);
                let written_ports = self.optional_list(
                    s.ports.as_ref(),
                    "ports",
                    "omit `ports` for every port, or list the ports meant, e.g. `ports: [tcp/8080]`",
                );
                let ports = self.ports(written_ports);
                if self.diags.len() != before {
                    return None;
                }
                let show = |peers: &[Located<GuardrailPeer>]| {
                    peers
                        .iter()
                        .map(|p| match &p.value {
                            GuardrailPeer::Namespaces { namespaces, pods } => {
                                let labels = |l: &Labels| {
                                    let pairs: Vec<String> = l.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                                    format!("{{ {} }}", pairs.join(", ")).replace("{  }", "{}")
                                };
                                if pods.is_empty() {
                                    format!("{{ namespaceSelector: {} }}", labels(namespaces))
                                } else {
                                    format!(
                                        "{{ namespaceSelector: {}, selector: {} }}",
                                        labels(namespaces),
                                        labels(pods)
                                    )
                                }
                            }
                            GuardrailPeer::Metadata => METADATA.to_string(),
                            GuardrailPeer::Peer(_) => p.loc.text().trim_matches(['"', '\'']).to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let mut text = format!("{} {} -> {}", action.value.as_str(), show(&from), show(&to));
                if !ports.is_empty() {
                    text.push(' ');
                    text.push_str(&ports.iter().map(|p| p.value.to_string()).collect::<Vec<_>>().join(", "));
                }
                Some(GuardrailRule {
                    loc,
                    text,
                    action,
                    from,
                    to,
                    ports,
                })
            }
        }
    }

    /// `deny tenants/* -> metadata`: an action word, then a terse rule
    fn terse_guardrail(&mut self, text: &str, loc: &Loc) -> Option<GuardrailRule> {
        let content = if loc.text().starts_with(['"', '\'']) {
            loc.sub(1, text.len())
        } else {
            loc.sub(0, text.len())
        };
        let lead = text.len() - text.trim_start().len();
        let word = text.split_whitespace().next().unwrap_or("");
        let Some(action) = GuardrailAction::parse(word) else {
            self.syntax_error(
                &content,
                SyntaxError {
                    code: "bad_guardrail",
                    offset: lead,
                    len: word.len(),
                    message: format!("`{word}` is not a guardrail action"),
                    help: Some(
                        crate::diag::did_you_mean(word, ["allow", "deny", "delegate"])
                            .unwrap_or_else(|| "start the rule with `allow`, `deny` or `delegate`, e.g. `deny tenant-a/* -> tenant-b/*`".into()),
                    ),
                },
            );
            return None;
        };
        let shift = lead + word.len();
        let rest = text.get(shift..).unwrap_or("");
        let parsed = match terse::parse(rest) {
            Ok(parsed) => parsed,
            Err(errors) => {
                for e in errors {
                    self.syntax_error(&content, e.shifted(shift));
                }
                return None;
            }
        };
        let at = |offset: usize, len: usize| content.sub(shift + offset, len);
        let before = self.diags.len();
        let peers = |words: Vec<terse::Word<PeerSyntax>>, checker: &mut Self| -> Vec<Located<GuardrailPeer>> {
            words
                .into_iter()
                .filter_map(|w| checker.guard_peer(Located::new(w.value, at(w.offset, w.len))))
                .collect()
        };
        let from = peers(parsed.from, self);
        let to = peers(parsed.to, self);
        let ports = parsed
            .ports
            .into_iter()
            .map(|w| Located::new(w.value, at(w.offset, w.len)))
            .collect();
        if self.diags.len() != before {
            return None;
        }
        Some(GuardrailRule {
            loc: content.clone(),
            text: text.split_whitespace().collect::<Vec<_>>().join(" "),
            action: Located::new(action, content.sub(lead, word.len())),
            from,
            to,
            ports,
        })
    }

    fn guard_peers(&mut self, peers: &Spanned<Peers>) -> Vec<Located<GuardrailPeer>> {
        let loc = self.loc(peers);
        let items: Vec<(&PeerItem, Loc)> = match &**peers {
            Peers::One(item) => vec![(item, loc.clone())],
            Peers::Many(items) => items.iter().map(|i| (&**i, self.loc(i))).collect(),
        };
        if items.is_empty() {
            // refused as in a namespace intent
            self.peers(peers);
            return Vec::new();
        }
        let mut out = Vec::new();
        for (item, at) in items {
            if let PeerItem::Object(object) = item {
                if let Some(selector) = &object.namespace_selector {
                    out.extend(self.namespace_selector(object, selector, at));
                    continue;
                }
                if object.entity.as_deref().map(String::as_str) == Some(METADATA) {
                    out.push(Located::new(GuardrailPeer::Metadata, at));
                    continue;
                }
            }
            if let Some(peer) = self.peer(item, at) {
                out.extend(self.guard_peer(peer));
            }
        }
        out
    }

    fn namespace_selector(
        &mut self,
        object: &types::PeerObject,
        namespaces: &Spanned<Labels>,
        at: Loc,
    ) -> Option<Located<GuardrailPeer>> {
        let others = [
            object.namespace.is_some(),
            object.fqdn.is_some(),
            object.via.is_some(),
            object.cidr.is_some(),
            !object.except.is_empty(),
            object.entity.is_some(),
        ];
        if others.iter().any(|o| *o) {
            self.diags.push(
                Diag::error("bad_peer", "`namespaceSelector` goes with `selector` only")
                    .at(&at)
                    .help("write `{ namespaceSelector: { team: a }, selector: { app: web } }`; name one namespace with `{ namespace: ..., selector: ... }` instead"),
            );
            return None;
        }
        let before = self.diags.len();
        // `{}` is every namespace; labels written are checked as a selector's
        let namespace_labels = if namespaces.is_empty() {
            Labels::new()
        } else {
            self.selector(namespaces).value
        };
        let pods = object
            .selector
            .as_ref()
            .map(|s| self.selector(s).value)
            .unwrap_or_default();
        (self.diags.len() == before).then(|| {
            Located::new(
                GuardrailPeer::Namespaces {
                    namespaces: namespace_labels,
                    pods,
                },
                at,
            )
        })
    }

    /// A namespace intent's peer as a guardrail's, or why it cannot be one
    fn guard_peer(&mut self, peer: Located<PeerSyntax>) -> Option<Located<GuardrailPeer>> {
        match peer.value {
            PeerSyntax::Service { namespace: None, name } if name == METADATA => {
                Some(Located::new(GuardrailPeer::Metadata, peer.loc))
            }
            PeerSyntax::Service { namespace: None, name } => {
                self.diags.push(
                    Diag::error("bad_peer", format!("`{name}` names a service, but a guardrail has no namespace of its own"))
                        .at(&peer.loc)
                        .help(format!("write `NAMESPACE/{name}`, `NAMESPACE/*`, or `{{ namespaceSelector: {{...}}, selector: {{...}} }}`")),
                );
                None
            }
            PeerSyntax::Selector {
                namespace: None,
                labels,
            } => Some(Located::new(
                GuardrailPeer::Namespaces {
                    namespaces: Labels::new(),
                    pods: labels,
                },
                peer.loc,
            )),
            PeerSyntax::Fqdn {
                via: Via::EgressGateway,
                ..
            } => {
                self.diags.push(
                    Diag::error("bad_peer", "a guardrail cannot route through the egress gateway")
                        .at(&peer.loc)
                        .help("name the host directly (`{ fqdn: api.example.com }`) or by its addresses (`{ cidr: ... }`); routing is the namespaces' intents' business"),
                );
                None
            }
            other => Some(Located::new(GuardrailPeer::Peer(other), peer.loc)),
        }
    }
}

#[cfg(test)]
mod tests;
