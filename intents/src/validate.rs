//! Typed documents → the checked model: every syntactic rule of the language
//! that needs no knowledge of other files.

use crate::{
    diag::{did_you_mean, Diag, Diags},
    load::loc_of,
    loc::{Loc, SourceFile},
    model::{
        ApiServerSyntax, ClusterSyntax, HttpRule, Intents, Located, PodsSyntax, Project, Repository, Rule, ServiceDecl,
    },
    syntax::{is_dns_label, parse_cidr, PeerSyntax, PortNumber, PortSpec, SyntaxError, RESERVED_NAMES},
    terse,
    types::{self, AllowRule, IntentsDocument, Labels, PeerItem, PeerObject, Peers, Posture, ProjectDocument, Via},
};
use ipnet::IpNet;
use marked_yaml::Spanned;
use std::{collections::BTreeMap, sync::Arc};

type Docs<T> = Vec<(Arc<SourceFile>, T)>;

pub(crate) fn repository(
    intents: Docs<IntentsDocument>,
    projects: Docs<ProjectDocument>,
    diags: &mut Diags,
) -> Repository {
    let mut repository = Repository::default();
    for (file, doc) in &projects {
        if repository.project.is_some() {
            diags.push(
                Diag::error("duplicate_project", "a second `Project` document")
                    .at(&loc_of(file, doc.kind.span()))
                    .help("a repository has one project file, `palisade.yaml`"),
            );
            continue;
        }
        repository.project = Some(Checker { file, diags }.project(doc));
    }
    for (file, doc) in &intents {
        if let Some(checked) = (Checker { file, diags }).intents(doc) {
            repository.intents.push(checked);
        }
    }
    repository
}

struct Checker<'a> {
    file: &'a Arc<SourceFile>,
    diags: &'a mut Diags,
}

impl Checker<'_> {
    fn loc<T>(&self, spanned: &Spanned<T>) -> Loc {
        loc_of(self.file, spanned.span())
    }

    fn located<T: Clone>(&self, spanned: &Spanned<T>) -> Located<T> {
        Located::new((**spanned).clone(), self.loc(spanned))
    }

    fn syntax_error(&mut self, base: &Loc, error: SyntaxError) {
        let loc = base.sub(error.offset, error.len);
        self.diags
            .push(Diag::error(error.code, error.message).at(&loc).help_opt(error.help));
    }

    /// Where the text of a scalar starts: after its opening quote, if any
    fn content_loc(&self, spanned: &Spanned<String>) -> Loc {
        let loc = self.loc(spanned);
        if loc.text().starts_with(['"', '\'']) {
            loc.sub(1, spanned.len())
        } else {
            loc.sub(0, spanned.len())
        }
    }

    fn project(&mut self, doc: &ProjectDocument) -> Project {
        let spec = &doc.spec;
        let cluster = &spec.cluster;
        let calico_enterprise = match spec.calico.as_ref().and_then(|c| c.edition.as_ref()) {
            Some(edition) if edition.as_str() == "enterprise" => true,
            Some(edition) if edition.as_str() == "opensource" => false,
            Some(edition) => {
                let loc = self.loc(edition);
                self.diags.push(
                    Diag::error("bad_value", format!("unknown Calico edition `{}`", edition.as_str()))
                        .at(&loc)
                        .help("write `opensource` or `enterprise`"),
                );
                false
            }
            None => false,
        };
        let api_server = cluster.api_server.as_ref().map(|a| ApiServerSyntax {
            cidrs: self.cidrs(&a.cidrs),
            ports: self.ports(&a.ports),
        });
        let cluster = ClusterSyntax {
            cni: cluster.cni.as_ref().map(|c| self.located(c)),
            dns: cluster.dns.as_ref().map(|p| self.pods(p)),
            node_local_dns: cluster.node_local_dns.as_ref().and_then(|c| self.cidr(c)),
            api_server,
            metadata: cluster.metadata.as_ref().and_then(|c| self.cidr(c)),
            telemetry: cluster.telemetry.as_ref().map(|p| self.pods(p)),
            egress_gateway: cluster.egress_gateway.as_ref().map(|g| {
                let pods = types::PodsSpec {
                    namespace: g.namespace.clone(),
                    selector: g.selector.clone(),
                    ports: Vec::new(),
                };
                (self.pods(&pods), g.service.as_ref().map(|s| self.located(s)))
            }),
            cluster_cidrs: self.cidrs(&cluster.cluster_cidrs),
            cluster_domain: cluster.cluster_domain.as_ref().map(|d| self.located(d)),
        };
        Project {
            name: self.located(&doc.metadata.name),
            targets: spec.targets.iter().map(|t| self.located(t)).collect(),
            cluster,
            calico_enterprise,
            l7_degrade: spec
                .l7
                .as_ref()
                .filter(|l| ***l == types::L7Policy::DegradeToL4)
                .map(|l| self.loc(l)),
        }
    }

    fn pods(&mut self, pods: &types::PodsSpec) -> PodsSyntax {
        let namespace = self.located(&pods.namespace);
        self.dns_label(&namespace, "namespace");
        let selector = self.selector(&pods.selector);
        PodsSyntax {
            namespace,
            selector,
            ports: self.ports(&pods.ports),
        }
    }

    fn cidr(&mut self, text: &Spanned<String>) -> Option<Located<IpNet>> {
        let loc = self.content_loc(text);
        match parse_cidr(text) {
            Ok(net) => Some(Located::new(net, loc)),
            Err(e) => {
                self.syntax_error(&loc, e);
                None
            }
        }
    }

    fn cidrs(&mut self, texts: &[Spanned<String>]) -> Vec<Located<IpNet>> {
        texts.iter().filter_map(|t| self.cidr(t)).collect()
    }

    fn port(&mut self, text: &Spanned<String>) -> Option<Located<PortSpec>> {
        let loc = self.content_loc(text);
        match PortSpec::parse(text) {
            Ok(port) => Some(Located::new(port, loc)),
            Err(e) => {
                self.syntax_error(&loc, e);
                None
            }
        }
    }

    fn ports(&mut self, texts: &[Spanned<String>]) -> Vec<Located<PortSpec>> {
        texts.iter().filter_map(|t| self.port(t)).collect()
    }

    fn dns_label(&mut self, name: &Located<String>, what: &str) -> bool {
        if is_dns_label(&name.value) {
            return true;
        }
        self.diags.push(
            Diag::error("bad_name", format!("`{}` is not a valid {what} name", name.value))
                .at(&name.loc)
                .help("use at most 63 lower-case letters, digits and `-`, starting and ending with a letter or digit"),
        );
        false
    }

    fn selector(&mut self, labels: &Spanned<Labels>) -> Located<Labels> {
        let located = self.located(labels);
        if labels.is_empty() {
            self.diags.push(
                Diag::error("empty_selector", "an empty selector matches every pod")
                    .at(&located.loc)
                    .help("name the labels of the pods meant, e.g. `{ app: backend }`; for a whole namespace write `ns/*`"),
            );
        }
        for (key, value) in labels.iter() {
            if let Some(problem) = label_problem(key, value) {
                self.diags.push(Diag::error("bad_label", problem).at(&located.loc).help(
                    "label keys are `[prefix/]name`, values at most 63 characters of letters, digits, `-`, `_`, `.`",
                ));
            }
        }
        located
    }

    fn intents(&mut self, doc: &IntentsDocument) -> Option<Intents> {
        let errors_before = self.diags.len();
        let Some(namespace) = doc.metadata.namespace.as_ref().map(|n| self.located(n)) else {
            let loc = self.loc(&doc.metadata.name);
            self.diags.push(
                Diag::error("missing_namespace", "`Intents` needs `metadata.namespace`")
                    .at(&loc)
                    .help("add `namespace: <the namespace these services run in>` under metadata"),
            );
            return None;
        };
        self.dns_label(&namespace, "namespace");
        let name = self.located(&doc.metadata.name);
        let spec = &doc.spec;
        let (posture, posture_written) = match &spec.posture {
            Some(p) => (self.located(p), true),
            None => (Located::new(Posture::DefaultDeny, name.loc.clone()), false),
        };
        let mut services = Vec::new();
        for (service_name, service) in &spec.services {
            if let Some(decl) = self.service(service_name, service) {
                services.push(decl);
            }
        }
        services.sort_by(|a, b| a.name.value.cmp(&b.name.value));
        let rules = spec.allow.iter().filter_map(|rule| self.rule(rule)).collect();
        let intents = Intents {
            name,
            namespace,
            posture,
            posture_written,
            baseline: spec.baseline.iter().map(|b| self.located(b)).collect(),
            services,
            rules,
        };
        (self.diags.len() == errors_before || !self.diags.has_errors()).then_some(intents)
    }

    fn service(&mut self, name: &Spanned<String>, service: &types::Service) -> Option<ServiceDecl> {
        let name = self.located(name);
        if !self.dns_label(&name, "service") {
            return None;
        }
        if RESERVED_NAMES.contains(&name.value.as_str()) || name.value.starts_with("palisade") {
            self.diags.push(
                Diag::error(
                    "reserved_name",
                    format!("`{}` is a reserved word and cannot name a service", name.value),
                )
                .at(&name.loc)
                .help("`world`, `kube-api`, `dns` and names starting with `palisade` are taken; rename the service"),
            );
            return None;
        }
        let Some(selector) = service.selector.as_ref().map(|s| self.selector(s)) else {
            self.diags.push(
                Diag::error("missing_selector", format!("service `{}` has no selector", name.value))
                    .at(&name.loc)
                    .help(format!(
                        "add `selector: {{ app: {} }}` with the labels of its pods",
                        name.value
                    )),
            );
            return None;
        };
        let mut ports = BTreeMap::new();
        for (port_name, spec) in &service.ports {
            let port_loc = self.loc(port_name);
            if !crate::syntax::is_port_name(port_name) {
                self.diags.push(
                    Diag::error("bad_port", format!("`{}` is not a port name", port_name.as_str()))
                        .at(&port_loc)
                        .help("port names are up to 15 lower-case letters, digits and `-`"),
                );
                continue;
            }
            if let Some(port) = self.port(spec) {
                if !matches!(port.value.port, PortNumber::Single(_)) {
                    self.diags.push(
                        Diag::error("bad_port", "a named port stands for one port number")
                            .at(&port.loc)
                            .help("write e.g. `http: tcp/8080`"),
                    );
                    continue;
                }
                ports.insert(port_name.to_string(), port);
            }
        }
        Some(ServiceDecl {
            name,
            selector,
            service_account: service.service_account.as_ref().map(|s| self.located(s)),
            ports,
            baseline: service.baseline.iter().map(|b| self.located(b)).collect(),
        })
    }

    fn rule(&mut self, rule: &Spanned<AllowRule>) -> Option<Rule> {
        let loc = self.loc(rule);
        match &**rule {
            AllowRule::Terse(text) => {
                let content = if loc.text().starts_with(['"', '\'']) {
                    loc.sub(1, text.len())
                } else {
                    loc.sub(0, text.len())
                };
                match terse::parse(text) {
                    Ok(parsed) => {
                        let word = |offset: usize, len: usize| content.sub(offset, len);
                        let rule = Rule {
                            loc: content.clone(),
                            text: text.split_whitespace().collect::<Vec<_>>().join(" "),
                            from: parsed
                                .from
                                .into_iter()
                                .map(|w| Located::new(w.value, word(w.offset, w.len)))
                                .collect(),
                            to: parsed
                                .to
                                .into_iter()
                                .map(|w| Located::new(w.value, word(w.offset, w.len)))
                                .collect(),
                            ports: parsed
                                .ports
                                .into_iter()
                                .map(|w| Located::new(w.value, word(w.offset, w.len)))
                                .collect(),
                            http: Vec::new(),
                        };
                        self.url_ports(&rule).then_some(rule)
                    }
                    Err(errors) => {
                        for e in errors {
                            self.syntax_error(&content, e);
                        }
                        None
                    }
                }
            }
            AllowRule::Structured(s) => {
                let before = self.diags.len();
                let from = self.peers(&s.from);
                let to = self.peers(&s.to);
                let ports = self.ports(&s.ports);
                let http: Vec<HttpRule> = s.http.iter().filter_map(|h| self.http(h)).collect();
                if !http.is_empty() && ports.is_empty() {
                    self.diags.push(
                        Diag::error("http_without_ports", "`http` rules need the ports they apply to")
                            .at(&loc)
                            .help("add `ports: [tcp/8080]` (the port the HTTP server listens on)"),
                    );
                }
                if self.diags.len() != before {
                    return None;
                }
                let show = |peers: &[Located<PeerSyntax>]| {
                    peers
                        .iter()
                        .map(|p| p.loc.text().trim_matches(['"', '\'']).to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let mut text = format!("{} -> {}", show(&from), show(&to));
                if !ports.is_empty() {
                    text.push(' ');
                    text.push_str(&ports.iter().map(|p| p.value.to_string()).collect::<Vec<_>>().join(", "));
                }
                let rule = Rule {
                    loc,
                    text,
                    from,
                    to,
                    ports,
                    http,
                };
                self.url_ports(&rule).then_some(rule)
            }
        }
    }

    /// A URL names its port; more ports beside it would be ambiguous
    fn url_ports(&mut self, rule: &Rule) -> bool {
        let url = rule
            .to
            .iter()
            .chain(&rule.from)
            .find(|p| matches!(p.value, PeerSyntax::Fqdn { url_port: Some(_), .. }));
        match (url, rule.ports.first()) {
            (Some(url), Some(port)) => {
                self.diags.push(
                    Diag::error("bad_rule", "a URL already names its port")
                        .at(&port.loc)
                        .help(format!(
                            "drop the ports, or write the host `{}` without a scheme",
                            url.loc.text().split("://").nth(1).unwrap_or("")
                        )),
                );
                false
            }
            _ => true,
        }
    }

    fn peers(&mut self, peers: &Spanned<Peers>) -> Vec<Located<PeerSyntax>> {
        let loc = self.loc(peers);
        match &**peers {
            Peers::One(item) => self.peer(item, loc).into_iter().collect(),
            Peers::Many(items) => {
                if items.is_empty() {
                    self.diags.push(
                        Diag::error("bad_rule", "an empty list of peers allows nothing")
                            .at(&loc)
                            .help("name at least one peer"),
                    );
                }
                items
                    .iter()
                    .filter_map(|item| self.peer(item, self.loc(item)))
                    .collect()
            }
        }
    }

    fn peer(&mut self, item: &PeerItem, loc: Loc) -> Option<Located<PeerSyntax>> {
        match item {
            PeerItem::Text(text) => {
                let content = if loc.text().starts_with(['"', '\'']) {
                    loc.sub(1, text.len())
                } else {
                    loc.sub(0, text.len())
                };
                match PeerSyntax::parse(text) {
                    Ok(peer) => Some(Located::new(peer, content)),
                    Err(e) => {
                        self.syntax_error(&content, e);
                        None
                    }
                }
            }
            PeerItem::Object(object) => self.peer_object(object, loc),
        }
    }

    fn peer_object(&mut self, o: &PeerObject, loc: Loc) -> Option<Located<PeerSyntax>> {
        let written: Vec<&str> = [
            ("namespace", o.namespace.is_some()),
            ("selector", o.selector.is_some()),
            ("fqdn", o.fqdn.is_some()),
            ("via", o.via.is_some()),
            ("cidr", o.cidr.is_some()),
            ("except", !o.except.is_empty()),
            ("entity", o.entity.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, present)| present.then_some(k))
        .collect();
        let allowed: &[&[&str]] = &[
            &["namespace"],
            &["selector"],
            &["namespace", "selector"],
            &["fqdn"],
            &["fqdn", "via"],
            &["cidr"],
            &["cidr", "except"],
            &["entity"],
        ];
        if !allowed.contains(&written.as_slice()) {
            self.diags.push(
                Diag::error(
                    "bad_peer",
                    format!(
                        "a peer cannot combine {}",
                        written
                            .iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(" and ")
                    ),
                )
                .at(&loc)
                .help("write one of `{namespace, selector}`, `{fqdn, via}`, `{cidr, except}`, `{entity}`"),
            );
            return None;
        }
        if let Some(fqdn) = &o.fqdn {
            let content = self.content_loc(fqdn);
            let via = o.via.as_ref().map_or(Via::Direct, |v| **v);
            return match crate::syntax::Fqdn::parse(fqdn) {
                Ok(name) => Some(Located::new(
                    PeerSyntax::Fqdn {
                        name,
                        via,
                        url_port: None,
                    },
                    content,
                )),
                Err(e) => {
                    self.syntax_error(&content, e);
                    None
                }
            };
        }
        if let Some(cidr) = &o.cidr {
            let net = self.cidr(cidr)?;
            let mut except = Vec::new();
            for text in &o.except {
                let inner = self.cidr(text)?;
                if !net.value.contains(&inner.value) || net.value == inner.value {
                    self.diags.push(
                        Diag::error(
                            "except_outside_cidr",
                            format!("`{}` is not inside `{}`", inner.value, net.value),
                        )
                        .at(&inner.loc)
                        .help("an `except` block must be a strictly smaller block inside its `cidr`"),
                    );
                    return None;
                }
                except.push(inner.value);
            }
            except.sort();
            return Some(Located::new(PeerSyntax::Cidr { net: net.value, except }, net.loc));
        }
        if let Some(entity) = &o.entity {
            let entity_loc = self.content_loc(entity);
            return match crate::syntax::Entity::parse(entity) {
                Some(e) => Some(Located::new(PeerSyntax::Entity(e), entity_loc)),
                None => {
                    self.diags.push(
                        Diag::error("bad_peer", format!("unknown entity `{}`", entity.as_str()))
                            .at(&entity_loc)
                            .help(
                                did_you_mean(entity, RESERVED_NAMES.iter().copied())
                                    .unwrap_or_else(|| "an entity is `world`, `kube-api` or `dns`".into()),
                            ),
                    );
                    None
                }
            };
        }
        let namespace = o.namespace.as_ref().map(|n| self.located(n));
        if let Some(ns) = &namespace {
            if !self.dns_label(ns, "namespace") {
                return None;
            }
        }
        match (&namespace, &o.selector) {
            (Some(ns), None) => Some(Located::new(PeerSyntax::Namespace(ns.value.clone()), ns.loc.clone())),
            (_, Some(selector)) => {
                let before = self.diags.len();
                let labels = self.selector(selector);
                (self.diags.len() == before).then(|| {
                    Located::new(
                        PeerSyntax::Selector {
                            namespace: namespace.map(|n| n.value),
                            labels: labels.value,
                        },
                        loc,
                    )
                })
            }
            (None, None) => None,
        }
    }

    fn http(&mut self, h: &types::HttpMatch) -> Option<HttpRule> {
        const METHODS: &[&str] = &[
            "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
        ];
        let method = match &h.method {
            Some(m) if METHODS.contains(&m.as_str()) => Some(m.to_string()),
            Some(m) => {
                let loc = self.content_loc(m);
                self.diags.push(
                    Diag::error("bad_http", format!("unknown HTTP method `{}`", m.as_str()))
                        .at(&loc)
                        .help(
                            did_you_mean(&m.to_ascii_uppercase(), METHODS.iter().copied())
                                .unwrap_or_else(|| format!("use one of {}", METHODS.join(", "))),
                        ),
                );
                return None;
            }
            None => None,
        };
        let path = match &h.path {
            Some(p)
                if p.starts_with('/')
                    && !p.contains(char::is_whitespace)
                    && !p.get(..p.len().saturating_sub(1)).unwrap_or("").contains('*') =>
            {
                Some(p.to_string())
            }
            Some(p) => {
                let loc = self.content_loc(p);
                self.diags.push(
                    Diag::error("bad_http", format!("`{}` is not a path", p.as_str()))
                        .at(&loc)
                        .help("a path starts with `/`; end it with `/*` to match a prefix"),
                );
                return None;
            }
            None => None,
        };
        Some(HttpRule {
            method,
            path,
            headers: h.headers.clone(),
        })
    }
}

/// Why a label key/value pair is not valid Kubernetes, if it is not
fn label_problem(key: &str, value: &str) -> Option<String> {
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric())
    };
    let (prefix, name) = key.rsplit_once('/').map_or((None, key), |(p, n)| (Some(p), n));
    if !name_ok(name) || prefix.is_some_and(|p| p.is_empty() || p.len() > 253 || !p.split('.').all(is_dns_label)) {
        return Some(format!("`{key}` is not a valid label key"));
    }
    if !value.is_empty() && !name_ok(value) {
        return Some(format!("`{value}` is not a valid value for label `{key}`"));
    }
    None
}
