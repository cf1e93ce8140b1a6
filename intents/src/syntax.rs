//! The words of the intent language: peers, ports, FQDNs and CIDRs.
//!
//! Parsers here work on one piece of text and report errors as offsets into it;
//! the loader turns those into file positions. Nothing here knows which
//! services exist: that is the compiler's job.

use crate::types::{Labels, Via};
use ipnet::IpNet;
use std::{fmt, net::IpAddr, str::FromStr};

/// An error inside one piece of text
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// stable code, e.g. `bad_port`
    pub code: &'static str,
    /// byte offset into the text
    pub offset: usize,
    /// length in bytes
    pub len: usize,
    /// what is wrong
    pub message: String,
    /// how to fix it
    pub help: Option<String>,
}

impl SyntaxError {
    fn new(code: &'static str, text: &str, message: impl Into<String>) -> Self {
        Self {
            code,
            offset: 0,
            len: text.len(),
            message: message.into(),
            help: None,
        }
    }

    fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The same error, `by` bytes further into an enclosing text
    pub fn shifted(mut self, by: usize) -> Self {
        self.offset += by;
        self
    }
}

/// Words that name infrastructure; no service may take them
pub const RESERVED_NAMES: &[&str] = &["world", "kube-api", "dns"];

/// An entity of the cluster's surroundings
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Entity {
    /// anything outside the cluster
    World,
    /// the Kubernetes API server
    KubeApi,
    /// the cluster DNS
    Dns,
}

impl Entity {
    /// Parse an entity word
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "world" => Some(Entity::World),
            "kube-api" => Some(Entity::KubeApi),
            "dns" => Some(Entity::Dns),
            _ => None,
        }
    }

    /// The word users write
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::World => "world",
            Entity::KubeApi => "kube-api",
            Entity::Dns => "dns",
        }
    }
}

/// A transport protocol
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum Protocol {
    /// TCP
    Tcp,
    /// UDP
    Udp,
    /// SCTP
    Sctp,
}

impl Protocol {
    /// Upper-case name as Kubernetes spells it
    pub fn as_k8s(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }

    /// Lower-case name as users write it
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }

    /// All protocols, for models that try each
    pub const ALL: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];
}

impl FromStr for Protocol {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            "sctp" => Ok(Protocol::Sctp),
            _ => Err(()),
        }
    }
}

/// The port part of a port spec
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PortNumber {
    /// one port
    Single(u16),
    /// an inclusive range
    Range(u16, u16),
    /// a named container port of the destination
    Named(String),
}

/// `tcp/8080`, `udp/53`, `8080`, `tcp/8000-8100`, `http`
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortSpec {
    /// the protocol (TCP when not written)
    pub protocol: Protocol,
    /// the port(s)
    pub port: PortNumber,
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.port {
            PortNumber::Single(p) => write!(f, "{}/{p}", self.protocol.as_str()),
            PortNumber::Range(a, b) => write!(f, "{}/{a}-{b}", self.protocol.as_str()),
            PortNumber::Named(n) => write!(f, "{}/{n}", self.protocol.as_str()),
        }
    }
}

impl PortSpec {
    /// Parse a port as users write it
    pub fn parse(text: &str) -> Result<Self, SyntaxError> {
        let (protocol, rest, shift) = match text.split_once('/') {
            Some((proto, rest)) => {
                let protocol = proto.parse::<Protocol>().map_err(|()| {
                    SyntaxError {
                        len: proto.len(),
                        ..SyntaxError::new("bad_port", text, format!("unknown protocol `{proto}`"))
                    }
                    .help("use `tcp`, `udp` or `sctp`, e.g. `tcp/8080`")
                })?;
                (protocol, rest, proto.len() + 1)
            }
            None => (Protocol::Tcp, text, 0),
        };
        let bad = |message: String| {
            SyntaxError::new("bad_port", rest, message)
                .help("a port is 1-65535: `tcp/8080`, `udp/53`, `8080`, `tcp/8000-8100` or a named port such as `http`")
                .shifted(shift)
        };
        let number = |s: &str| -> Result<u16, SyntaxError> {
            match s.parse::<u32>() {
                Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
                Ok(n) => Err(bad(format!("port `{n}` is out of range"))),
                Err(_) => Err(bad(format!("`{s}` is not a port number"))),
            }
        };
        let port = if let Some((low, high)) = rest
            .split_once('-')
            .filter(|(l, _)| l.chars().all(|c| c.is_ascii_digit()) && !l.is_empty())
        {
            let (low, high) = (number(low)?, number(high)?);
            if low > high {
                return Err(bad(format!("range `{rest}` runs backwards")));
            }
            if low == high {
                PortNumber::Single(low)
            } else {
                PortNumber::Range(low, high)
            }
        } else if rest.chars().all(|c| c.is_ascii_digit()) && !rest.is_empty() {
            PortNumber::Single(number(rest)?)
        } else if is_port_name(rest) {
            PortNumber::Named(rest.to_string())
        } else {
            return Err(bad(format!("`{rest}` is not a port")));
        };
        Ok(PortSpec { protocol, port })
    }
}

/// A container port name as Kubernetes allows it (IANA_SVC_NAME: up to 15
/// characters, lower-case letters, digits and `-`, at least one letter)
pub fn is_port_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 15
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && text.chars().any(|c| c.is_ascii_lowercase())
        && !text.starts_with('-')
        && !text.ends_with('-')
        && !text.contains("--")
}

/// An FQDN or a `*.` wildcard pattern
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fqdn(String);

impl Fqdn {
    /// Parse a DNS name, lower-casing it; `*.example.com` matches exactly one
    /// more label (`api.example.com`, not `a.b.example.com`), as Cilium and
    /// Calico match it: the narrower reading, so no target is broader
    pub fn parse(text: &str) -> Result<Self, SyntaxError> {
        let bad = |message: String| {
            SyntaxError::new("bad_fqdn", text, message)
                .help("write a DNS name such as `api.stripe.com`, or `*.stripe.com` for its subdomains")
        };
        let name = text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase();
        let body = name.strip_prefix("*.").unwrap_or(&name);
        if name.len() > 253 {
            return Err(bad("a DNS name is at most 253 characters".into()));
        }
        if body.contains('*') {
            return Err(bad(format!("`{text}` has a wildcard that is not a leading `*.`")));
        }
        let labels: Vec<&str> = body.split('.').collect();
        if labels.len() < 2 {
            return Err(bad(format!("`{text}` is not a fully qualified name")));
        }
        for label in &labels {
            let ok = !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-');
            if !ok {
                return Err(bad(format!("`{label}` is not a valid DNS label in `{text}`")));
            }
        }
        Ok(Fqdn(name))
    }

    /// The name as written (lower-case)
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for `*.` patterns
    pub fn is_wildcard(&self) -> bool {
        self.0.starts_with("*.")
    }

    /// Whether `name` is matched: exactly, or as a subdomain for `*.` patterns
    pub fn matches(&self, name: &str) -> bool {
        let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        match self.0.strip_prefix("*.") {
            Some(suffix) => name
                .strip_suffix(suffix)
                .and_then(|head| head.strip_suffix('.'))
                .is_some_and(|label| !label.is_empty() && !label.contains('.')),
            None => name == self.0,
        }
    }
}

impl fmt::Display for Fqdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parse a CIDR (or a bare address, taken as a single host), refusing host bits
pub fn parse_cidr(text: &str) -> Result<IpNet, SyntaxError> {
    if let Ok(addr) = text.parse::<IpAddr>() {
        return Ok(IpNet::from(addr));
    }
    let net = text.parse::<IpNet>().map_err(|_| {
        SyntaxError::new("bad_cidr", text, format!("`{text}` is not a CIDR"))
            .help("write an address block such as `10.0.0.0/8` or `2001:db8::/32`")
    })?;
    if net.trunc() != net {
        return Err(
            SyntaxError::new("bad_cidr", text, format!("`{text}` has host bits set"))
                .help(format!("did you mean `{}`?", net.trunc())),
        );
    }
    Ok(net)
}

/// A peer as written, before names are resolved
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerSyntax {
    /// `backend` or `payments/ledger`
    Service {
        /// the namespace when written (`ns/svc`)
        namespace: Option<String>,
        /// the service name
        name: String,
    },
    /// `ns/*`
    Namespace(String),
    /// `{namespace, selector}` (namespace absent: the rule's own)
    Selector {
        /// the namespace when written
        namespace: Option<String>,
        /// pod labels
        labels: Labels,
    },
    /// `api.stripe.com`, `*.stripe.com`, `https://api.stripe.com`
    Fqdn {
        /// the name or pattern
        name: Fqdn,
        /// direct or through the egress gateway
        via: Via,
        /// the port a URL implies (`https` = tcp/443)
        url_port: Option<PortSpec>,
    },
    /// `10.0.0.0/8`, with `except` in the structured form
    Cidr {
        /// the block
        net: IpNet,
        /// excluded blocks, each inside `net`
        except: Vec<IpNet>,
    },
    /// `world`, `kube-api`, `dns`
    Entity(Entity),
}

impl PeerSyntax {
    /// Parse a peer in the terse form
    pub fn parse(text: &str) -> Result<Self, SyntaxError> {
        if text.is_empty() {
            return Err(SyntaxError::new("bad_peer", text, "empty peer")
                .help("name a service, `ns/service`, `ns/*`, an FQDN, a CIDR or `world`"));
        }
        if let Some(entity) = Entity::parse(text) {
            return Ok(PeerSyntax::Entity(entity));
        }
        if let Some((scheme, rest)) = text.split_once("://") {
            return parse_url(text, scheme, rest);
        }
        if text.parse::<IpAddr>().is_ok() || text.parse::<IpNet>().is_ok() || looks_like_cidr(text) {
            return parse_cidr(text).map(|net| PeerSyntax::Cidr {
                net,
                except: Vec::new(),
            });
        }
        if let Some((namespace, name)) = text.split_once('/') {
            if !crate::names::is_dns1123_label(namespace) {
                return Err(SyntaxError {
                    len: namespace.len(),
                    ..SyntaxError::new("bad_peer", text, format!("`{namespace}` is not a namespace name"))
                }
                .help("a namespace is a DNS label: lower-case letters, digits and `-`"));
            }
            if name == "*" {
                return Ok(PeerSyntax::Namespace(namespace.to_string()));
            }
            if !crate::names::is_dns1123_label(name) {
                return Err(
                    SyntaxError::new("bad_peer", name, format!("`{name}` is not a service name"))
                        .shifted(namespace.len() + 1)
                        .help("write `namespace/service`, or `namespace/*` for every pod of the namespace"),
                );
            }
            return Ok(PeerSyntax::Service {
                namespace: Some(namespace.to_string()),
                name: name.to_string(),
            });
        }
        if text.contains('.') || text.contains('*') {
            return Fqdn::parse(text).map(|name| PeerSyntax::Fqdn {
                name,
                via: Via::Direct,
                url_port: None,
            });
        }
        if crate::names::is_dns1123_label(text) {
            return Ok(PeerSyntax::Service {
                namespace: None,
                name: text.to_string(),
            });
        }
        Err(SyntaxError::new("bad_peer", text, format!("`{text}` is not a peer"))
            .help("name a service (`backend`), `ns/service`, `ns/*`, an FQDN, a URL, a CIDR, or `world`, `kube-api`, `dns`"))
    }
}

fn looks_like_cidr(text: &str) -> bool {
    let head = text.split('/').next().unwrap_or("");
    text.contains('/') && (head.chars().all(|c| c.is_ascii_digit() || c == '.') || head.contains(':'))
}

fn parse_url(text: &str, scheme: &str, rest: &str) -> Result<PeerSyntax, SyntaxError> {
    let default_port = match scheme {
        "https" => 443,
        "http" => 80,
        _ => {
            return Err(SyntaxError {
                len: scheme.len(),
                ..SyntaxError::new("bad_peer", text, format!("unknown URL scheme `{scheme}`"))
            }
            .help("use `https://host` (tcp/443) or `http://host` (tcp/80)"))
        }
    };
    let shift = scheme.len() + 3;
    let host_port = rest.strip_suffix('/').unwrap_or(rest);
    if host_port.contains('/') {
        return Err(
            SyntaxError::new("bad_peer", rest, "a URL peer names a host, not a path")
                .shifted(shift)
                .help("write `https://api.stripe.com`; restrict paths with an `http` rule in the structured form"),
        );
    }
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) => {
            let spec = PortSpec::parse(port).map_err(|e| e.shifted(shift + host.len() + 1))?;
            match spec.port {
                PortNumber::Single(p) => (host, p),
                _ => {
                    return Err(
                        SyntaxError::new("bad_port", port, "a URL port is one number").shifted(shift + host.len() + 1)
                    )
                }
            }
        }
        None => (host_port, default_port),
    };
    let name = Fqdn::parse(host).map_err(|e| e.shifted(shift))?;
    Ok(PeerSyntax::Fqdn {
        name,
        via: Via::Direct,
        url_port: Some(PortSpec {
            protocol: Protocol::Tcp,
            port: PortNumber::Single(port),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_in_every_form() {
        assert_eq!(
            PortSpec::parse("tcp/8080").map(|p| p.to_string()),
            Ok("tcp/8080".into())
        );
        assert_eq!(PortSpec::parse("53").map(|p| p.to_string()), Ok("tcp/53".into()));
        assert_eq!(PortSpec::parse("UDP/53").map(|p| p.to_string()), Ok("udp/53".into()));
        assert_eq!(
            PortSpec::parse("tcp/8000-8100").map(|p| p.port),
            Ok(PortNumber::Range(8000, 8100))
        );
        assert_eq!(
            PortSpec::parse("http").map(|p| p.port),
            Ok(PortNumber::Named("http".into()))
        );
        assert_eq!(
            PortSpec::parse("tcp/70000").map_err(|e| (e.offset, e.message)),
            Err((4, "port `70000` is out of range".into()))
        );
        assert!(PortSpec::parse("tcp/9000-8000").is_err());
        assert!(PortSpec::parse("icmp/1").is_err());
        assert!(PortSpec::parse("tcp/").is_err());
    }

    #[test]
    fn peers_in_every_form() {
        assert_eq!(
            PeerSyntax::parse("backend"),
            Ok(PeerSyntax::Service {
                namespace: None,
                name: "backend".into()
            })
        );
        assert_eq!(
            PeerSyntax::parse("pay/ledger"),
            Ok(PeerSyntax::Service {
                namespace: Some("pay".into()),
                name: "ledger".into()
            })
        );
        assert_eq!(PeerSyntax::parse("pay/*"), Ok(PeerSyntax::Namespace("pay".into())));
        assert_eq!(PeerSyntax::parse("world"), Ok(PeerSyntax::Entity(Entity::World)));
        assert!(matches!(PeerSyntax::parse("10.0.0.0/8"), Ok(PeerSyntax::Cidr { .. })));
        assert!(matches!(PeerSyntax::parse("10.1.2.3"), Ok(PeerSyntax::Cidr { net, .. }) if net.prefix_len() == 32));
        assert!(matches!(PeerSyntax::parse("*.stripe.com"), Ok(PeerSyntax::Fqdn { .. })));
        assert!(matches!(
            PeerSyntax::parse("https://api.stripe.com"),
            Ok(PeerSyntax::Fqdn { url_port: Some(_), .. })
        ));
        assert_eq!(
            PeerSyntax::parse("10.0.0.1/8").map_err(|e| e.help),
            Err(Some("did you mean `10.0.0.0/8`?".into()))
        );
        assert!(PeerSyntax::parse("api.*.com").is_err());
        assert!(PeerSyntax::parse("Backend").is_err());
        assert!(PeerSyntax::parse("ftp://x.com").is_err());
    }

    #[test]
    fn wildcards_match_subdomains_only() {
        let Ok(pattern) = Fqdn::parse("*.stripe.com") else {
            unreachable!()
        };
        assert!(pattern.matches("api.stripe.com"));
        assert!(!pattern.matches("a.b.stripe.com"), "one label only");
        assert!(!pattern.matches("stripe.com"));
        assert!(!pattern.matches("evilstripe.com"));
    }
}
