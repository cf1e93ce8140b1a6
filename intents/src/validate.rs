//! Typed documents → the checked model: every syntactic rule of the language
//! that needs no knowledge of other files.

use crate::{
    diag::{did_you_mean, Diag, Diags},
    load::loc_of,
    loc::{Loc, SourceFile},
    model::{
        ApiServerSyntax, ClusterSyntax, HttpRule, Intents, Located, PodsSyntax, Project, Repository, Rule, ServiceDecl,
    },
    names,
    syntax::{parse_cidr, PeerSyntax, PortNumber, PortSpec, SyntaxError, RESERVED_NAMES},
    terse,
    types::{self, AllowRule, IntentsDocument, Labels, PeerItem, PeerObject, Peers, Posture, ProjectDocument, Via},
};
use ipnet::IpNet;
use marked_yaml::Spanned;
use std::{collections::BTreeMap, sync::Arc};

type Docs<T> = Vec<(Arc<SourceFile>, T)>;

pub(crate) fn repository(
    intents: Docs<IntentsDocument>,
    guardrails: Docs<types::GuardrailsDocument>,
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
    for (file, doc) in &guardrails {
        if let Some(checked) = (Checker { file, diags }).guardrails(doc) {
            repository.guardrails.push(checked);
        }
    }
    // Services are known only once every file is read; an Intents refused
    // above would make its services look unknown, so waivers wait for it.
    if repository.intents.len() == intents.len() {
        if let Some(project) = &repository.project {
            unknown_waivers(&project.evidence, &repository.intents, diags);
        }
    }
    repository
}

/// Waivers that name no service of the intents: a typo would waive nothing
/// and leave the gate asking for traffic of a service that does not exist
fn unknown_waivers(evidence: &types::EvidencePolicy, intents: &[Intents], diags: &mut Diags) {
    let known: Vec<String> = intents
        .iter()
        .flat_map(|i| {
            i.services
                .iter()
                .map(move |s| format!("{}/{}", i.namespace.value, s.name.value))
        })
        .collect();
    for waiver in &evidence.waive {
        let service = &waiver.service;
        if known.contains(&service.value) {
            continue;
        }
        let help = did_you_mean(&service.value, known.iter().map(String::as_str)).unwrap_or_else(|| {
            if known.is_empty() {
                "the intents declare no services: remove the waiver".to_string()
            } else {
                format!("waive one of the intents' services: {}", known.join(", "))
            }
        });
        diags.push(
            Diag::error(
                "unknown_service",
                format!("`{}` names no service of the intents", service.value),
            )
            .at(&service.loc)
            .help(help),
        );
    }
}

/// `90m`, `24h`, `7d`, `1d12h`: whole numbers with a unit (s, m, h, d, w), in seconds
pub fn parse_duration(text: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return None,
        };
        let n: u64 = std::mem::take(&mut digits).parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    // a number without a unit is not a duration (minutes? seconds?)
    (digits.is_empty() && !text.trim().is_empty()).then_some(total)
}

pub(crate) struct Checker<'a> {
    pub(crate) file: &'a Arc<SourceFile>,
    pub(crate) diags: &'a mut Diags,
}

impl Checker<'_> {
    pub(crate) fn loc<T>(&self, spanned: &Spanned<T>) -> Loc {
        loc_of(self.file, spanned.span())
    }

    pub(crate) fn located<T: Clone>(&self, spanned: &Spanned<T>) -> Located<T> {
        Located::new((**spanned).clone(), self.loc(spanned))
    }

    pub(crate) fn syntax_error(&mut self, base: &Loc, error: SyntaxError) {
        let loc = base.sub(error.offset, error.len);
        self.diags
            .push(Diag::error(error.code, error.message).at(&loc).help_opt(error.help));
    }

    /// Where the text of a scalar starts: after its opening quote, if any
    pub(crate) fn content_loc(&self, spanned: &Spanned<String>) -> Loc {
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
        let api_server = cluster.api_server.as_ref().map(|a| {
            if a.cidrs.is_empty() {
                let loc = self.loc(&a.cidrs);
                self.diags.push(
                    Diag::error("empty_list", "`apiServer.cidrs` is empty: a rule to no address is a rule to any address in NetworkPolicy, Calico and Cilium")
                        .at(&loc)
                        .help("list the API server's endpoint addresses (`kubectl get endpoints kubernetes`), e.g. `cidrs: [172.20.0.10/32]`"),
                );
            }
            let ports = self.optional_list(
                a.ports.as_ref(),
                "apiServer.ports",
                "omit `ports` for the default tcp/6443, or list the API server's ports, e.g. `ports: [tcp/6443]`",
            );
            ApiServerSyntax {
                loc: self.loc(&a.cidrs),
                cidrs: self.cidrs(&a.cidrs),
                ports: self.ports(ports),
            }
        });
        let cluster_cidrs = self.optional_list(
            cluster.cluster_cidrs.as_ref(),
            "clusterCIDRs",
            "list the pod and service CIDRs, e.g. `clusterCIDRs: [10.244.0.0/16, 10.96.0.0/12]`, or omit the key when they are not known",
        );
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
                    ports: None,
                };
                let service = g.service.as_ref().map(|s| self.located(s));
                if let Some(service) = &service {
                    // ValidateServiceName is NameIsDNS1035Label; the name also lands in Istio hosts.
                    if !names::is_dns1035_label(&service.value) {
                        self.diags.push(
                            Diag::error("bad_name", format!("`{}` is not a valid Service name", service.value))
                                .at(&service.loc)
                                .help("a Service name is at most 63 lower-case letters, digits and `-`, starting with a letter, e.g. `istio-egressgateway`"),
                        );
                    }
                }
                (self.pods(&pods), service)
            }),
            cluster_cidrs: self.cidrs(cluster_cidrs),
            cluster_domain: cluster.cluster_domain.as_ref().map(|d| {
                let domain = self.located(d);
                if !names::is_dns1123_subdomain(domain.value.strip_suffix('.').unwrap_or(&domain.value)) {
                    self.diags.push(
                        Diag::error("bad_name", format!("`{}` is not a DNS domain", domain.value))
                            .at(&domain.loc)
                            .help("write the cluster's DNS domain in lower case, e.g. `cluster.local`"),
                    );
                }
                domain
            }),
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
            evidence: spec.evidence.as_ref().map(|e| self.evidence(e)).unwrap_or_default(),
        }
    }

    fn evidence(&mut self, spec: &types::EvidenceSpec) -> types::EvidencePolicy {
        let min_window = spec.min_window.as_ref().and_then(|text| {
            let loc = self.content_loc(text);
            match parse_duration(text) {
                Some(0) => {
                    self.diags.push(
                        Diag::error("bad_value", "`minWindow` is zero: any evidence, even none, would pass")
                            .at(&loc)
                            .help("write the longest quiet stretch of the services, e.g. `24h` (the default) or `7d` to cover weekly jobs"),
                    );
                    None
                }
                Some(seconds) => Some(Located::new(seconds, loc)),
                None => {
                    self.diags.push(
                        Diag::error("bad_value", format!("`{}` is not a duration", text.as_str()))
                            .at(&loc)
                            .help("write whole numbers with a unit (s, m, h, d, w), e.g. `90m`, `24h`, `7d` or `1d12h`"),
                    );
                    None
                }
            }
        });
        let mut waive: Vec<types::Waiver> = Vec::new();
        for item in &spec.waive {
            let service = Located::new(item.service.as_str().to_string(), self.content_loc(&item.service));
            let well_formed = match service.value.split_once('/') {
                Some((namespace, name)) => names::is_dns1123_label(namespace) && names::is_dns1123_label(name),
                None => false,
            };
            if !well_formed {
                self.diags.push(
                    Diag::error("bad_name", format!("`{}` does not name a service", service.value))
                        .at(&service.loc)
                        .help("write `namespace/service`, e.g. `shop/payments`"),
                );
                continue;
            }
            if item.reason.trim().is_empty() {
                let loc = self.loc(&item.reason);
                self.diags.push(
                    Diag::error("missing_reason", format!("the waiver of `{}` gives no reason", service.value))
                        .at(&loc)
                        .help("say why no traffic of it is expected, e.g. `reason: runs only at quarter end`: every audit shows it"),
                );
                continue;
            }
            if let Some(first) = waive.iter().find(|w| w.service.value == service.value) {
                let first_at = first.service.loc.to_string();
                self.diags.push(
                    Diag::error("duplicate_waiver", format!("`{}` is waived twice", service.value))
                        .at(&service.loc)
                        .help(format!("keep one waiver (the first is at {first_at})")),
                );
                continue;
            }
            waive.push(types::Waiver {
                service,
                reason: item.reason.trim().to_string(),
            });
        }
        types::EvidencePolicy { min_window, waive }
    }

    fn pods(&mut self, pods: &types::PodsSpec) -> PodsSyntax {
        let namespace = self.located(&pods.namespace);
        self.dns_label(&namespace, "namespace");
        let selector = self.selector(&pods.selector);
        let ports = self.optional_list(
            pods.ports.as_ref(),
            "ports",
            "list the ports its pods serve, e.g. `ports: [udp/53, tcp/53]` or `ports: [tcp/4317]`",
        );
        PodsSyntax {
            namespace,
            selector,
            ports: self.ports(ports),
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

    pub(crate) fn ports(&mut self, texts: &[Spanned<String>]) -> Vec<Located<PortSpec>> {
        texts.iter().filter_map(|t| self.port(t)).collect()
    }

    /// The items of a list that may be omitted but not written empty: every
    /// layer reads an empty address or port list as "any", so `[]` is refused
    /// where omitting the key is how the default (or "all") is spelled
    pub(crate) fn optional_list<'l, T>(
        &mut self,
        list: Option<&'l Spanned<Vec<T>>>,
        what: &str,
        help: &str,
    ) -> &'l [T] {
        match list {
            Some(items) if items.is_empty() => {
                let loc = self.loc(items);
                self.diags.push(
                    Diag::error("empty_list", format!("`{what}` is an empty list"))
                        .at(&loc)
                        .help(help.to_string()),
                );
                &[]
            }
            Some(items) => items,
            None => &[],
        }
    }

    /// Namespace names (`ValidateNamespaceName`), service and Intents names
    /// (label values and object-name stems): DNS-1123 labels
    pub(crate) fn dns_label(&mut self, name: &Located<String>, what: &str) -> bool {
        if names::is_dns1123_label(&name.value) {
            return true;
        }
        self.diags.push(
            Diag::error("bad_name", format!("`{}` is not a valid {what} name", name.value))
                .at(&name.loc)
                .help("use at most 63 lower-case letters, digits and `-`, starting and ending with a letter or digit"),
        );
        false
    }

    pub(crate) fn selector(&mut self, labels: &Spanned<Labels>) -> Located<Labels> {
        let located = self.located(labels);
        if labels.is_empty() {
            self.diags.push(
                Diag::error("empty_selector", "an empty selector matches every pod")
                    .at(&located.loc)
                    .help("name the labels of the pods meant, e.g. `{ app: backend }`; for a whole namespace write `ns/*`"),
            );
        }
        for (key, value) in labels.iter() {
            let (key_loc, value_loc) = label_locs(&located.loc, key, value);
            if let Some(problem) = names::label_key_problem(key) {
                self.diags.push(
                    Diag::error("bad_label", format!("`{key}` is not a valid label key: {problem}"))
                        .at(&key_loc)
                        .help("a label key is `[prefix/]name`, e.g. `app` or `app.kubernetes.io/name`"),
                );
            } else if !names::is_label_value(value) {
                self.diags.push(
                    Diag::error("bad_label", format!("`{value}` is not a valid value for label `{key}`"))
                        .at(&value_loc)
                        .help("a label value is empty or at most 63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit"),
                );
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
        // The name becomes the `palisade.dev/intents` label of every object.
        self.dns_label(&name, "Intents");
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
            service_account: match service.service_account.as_ref().map(|s| self.located(s)) {
                Some(account) if !self.service_account(&account) => return None,
                account => account,
            },
            ports,
            baseline: service.baseline.iter().map(|b| self.located(b)).collect(),
        })
    }

    /// `ValidateServiceAccountName` is `NameIsDNSSubdomain`; the name also lands
    /// in Istio principals, where `*` is a prefix or suffix match, and in
    /// Calico's `serviceAccountSelector`
    fn service_account(&mut self, account: &Located<String>) -> bool {
        if names::is_dns1123_subdomain(&account.value) {
            return true;
        }
        let help = if account.value.contains('*') {
            "name one service account exactly: Istio would read `*` as a prefix or suffix match over every account"
        } else {
            "a service account name is a lower-case DNS subdomain: letters, digits, `-` and `.`, at most 253 characters"
        };
        self.diags.push(
            Diag::error(
                "bad_name",
                format!("`{}` is not a valid service account name", account.value),
            )
            .at(&account.loc)
            .help(help),
        );
        false
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
                let written_ports = self.optional_list(
                    s.ports.as_ref(),
                    "ports",
                    "omit `ports` to allow every port, or list the ports meant, e.g. `ports: [tcp/8080]`",
                );
                let ports = self.ports(written_ports);
                let written_http = self.optional_list(
                    s.http.as_ref(),
                    "http",
                    "omit `http` to allow every request on the ports, or list the requests meant, e.g. `http: [{ method: GET, path: /products/* }]`",
                );
                let http: Vec<HttpRule> = written_http.iter().filter_map(|h| self.http(h)).collect();
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

    pub(crate) fn peers(&mut self, peers: &Spanned<Peers>) -> Vec<Located<PeerSyntax>> {
        let loc = self.loc(peers);
        match &**peers {
            Peers::One(item) => self.peer(item, loc).into_iter().collect(),
            Peers::Many(items) => {
                if items.is_empty() {
                    // NetworkPolicy reads `from: []` as every source; refuse rather than guess.
                    self.diags.push(
                        Diag::error("empty_list", "an empty list of peers")
                            .at(&loc)
                            .help("name at least one peer, e.g. `to: [backend]`; for every pod of a namespace write `ns/*`, for anywhere outside the cluster `world`"),
                    );
                }
                items
                    .iter()
                    .filter_map(|item| self.peer(item, self.loc(item)))
                    .collect()
            }
        }
    }

    pub(crate) fn peer(&mut self, item: &PeerItem, loc: Loc) -> Option<Located<PeerSyntax>> {
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
        if let Some(selector) = &o.namespace_selector {
            let at = self.loc(selector);
            self.diags.push(
                Diag::error("bad_peer", "`namespaceSelector` selects namespaces across the cluster: only `Guardrails` may")
                    .at(&at)
                    .help("name the namespace (`{ namespace: payments }` or `payments/*`), or write the rule in a `kind: Guardrails` document"),
            );
            return None;
        }
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

/// Where a label's key and value are written, searched from the start of its
/// selector (labels are read as a plain map, without positions of their own);
/// the selector itself where the text is not found
fn label_locs(selector: &Loc, key: &str, value: &str) -> (Loc, Loc) {
    let text = selector.file.text.get(selector.offset..).unwrap_or("");
    let boundary = |c: char| c.is_whitespace() || matches!(c, '{' | ',' | '"' | '\'');
    let mut from = 0;
    while let Some(found) = text.get(from..).and_then(|t| t.find(key)).map(|i| i + from) {
        let before_ok = text.get(..found).and_then(|b| b.chars().last()).is_none_or(boundary);
        let after = text.get(found + key.len()..).unwrap_or("");
        let after_key = after.trim_start_matches(['"', '\'']).trim_start_matches([' ', '\t']);
        if before_ok && !key.is_empty() && after_key.starts_with(':') {
            let key_loc = selector.sub(found, key.len());
            let value_start = text.len() - after_key.len() + 1;
            let rest = text.get(value_start..).unwrap_or("");
            let skipped = rest.len() - rest.trim_start_matches([' ', '\t', '"', '\'']).len();
            let value_loc = selector.sub(value_start + skipped, value.len().max(1));
            return (key_loc, value_loc);
        }
        from = found + key.len().max(1);
    }
    (selector.clone(), selector.clone())
}

#[cfg(test)]
mod tests {
    use crate::{load_files, Diag, RawFile};

    const PROJECT: &str =
        "apiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: { name: p }\nspec:\n  cluster:\n";

    fn intents(body: &str) -> String {
        format!("apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: {{ name: shop, namespace: shop }}\nspec:\n{body}")
    }

    /// Every error of loading `palisade.yaml` and `a.yaml`, rendered
    fn errors(project: &str, intents: &str) -> Vec<String> {
        let files = vec![
            RawFile {
                path: "palisade.yaml".into(),
                bytes: project.as_bytes().to_vec(),
            },
            RawFile {
                path: "a.yaml".into(),
                bytes: intents.as_bytes().to_vec(),
            },
        ];
        match load_files(files) {
            Ok(_) => Vec::new(),
            Err(d) => d.iter().map(Diag::render_plain).collect(),
        }
    }

    fn assert_refused(project: &str, intents: &str, at: &str, help: &str) {
        let errors = errors(project, intents);
        assert!(
            errors.iter().any(|e| e.starts_with(at) && e.contains(help)),
            "expected `{at}` with `{help}` in {errors:#?}"
        );
    }

    const SERVICES: &str = "  services:\n    a: { selector: { app: a } }\n    b: { selector: { app: b } }\n";

    #[test]
    fn empty_lists_that_layers_read_as_any_are_refused_where_written() {
        let ok = intents(SERVICES);
        let cases = [
            (
                "    apiServer: { cidrs: [] }\n",
                "palisade.yaml:6:25",
                "kubectl get endpoints kubernetes",
            ),
            (
                "    apiServer: { cidrs: [10.0.0.1/32], ports: [] }\n",
                "palisade.yaml:6:47",
                "omit `ports` for the default tcp/6443",
            ),
            (
                "    clusterCIDRs: []\n",
                "palisade.yaml:6:19",
                "omit the key when they are not known",
            ),
            (
                "    dns: { namespace: kube-system, selector: { k8s-app: kube-dns }, ports: [] }\n",
                "palisade.yaml:6:76",
                "list the ports its pods serve",
            ),
            (
                "    telemetry: { namespace: o, selector: { app: otel }, ports: [] }\n",
                "palisade.yaml:6:64",
                "list the ports its pods serve",
            ),
            (
                "    telemetry: { namespace: o, selector: {}, ports: [tcp/4317] }\n",
                "palisade.yaml:6:42",
                "name the labels",
            ),
        ];
        for (cluster, at, help) in cases {
            assert_refused(&format!("{PROJECT}{cluster}"), &ok, at, help);
        }
        let project = format!("{PROJECT}    apiServer: {{ cidrs: [10.0.0.1/32] }}\n");
        let rules = [
            (
                "  - { from: a, to: b, ports: [] }\n",
                "a.yaml:9:30",
                "omit `ports` to allow every port",
            ),
            (
                "  - { from: a, to: b, ports: [tcp/80], http: [] }\n",
                "a.yaml:9:46",
                "omit `http` to allow every request",
            ),
            ("  - { from: [], to: b }\n", "a.yaml:9:13", "name at least one peer"),
            ("  - { from: a, to: [] }\n", "a.yaml:9:20", "name at least one peer"),
            (
                "  - { from: a, to: { namespace: shop, selector: {} } }\n",
                "a.yaml:9:49",
                "name the labels",
            ),
        ];
        for (rule, at, help) in rules {
            assert_refused(&project, &intents(&format!("{SERVICES}  allow:\n{rule}")), at, help);
        }
        // Empties that mean nothing broader than what is written stay valid.
        let harmless = intents(&format!(
            "  baseline: []\n{SERVICES}  allow:\n  - {{ from: a, to: {{ cidr: 10.0.0.0/8, except: [] }}, ports: [tcp/80] }}\n  - {{ from: a, to: b, ports: [tcp/80], http: [{{ method: GET, headers: {{}} }}] }}\n"
        ));
        assert_eq!(errors(&project, &harmless), Vec::<String>::new());
        assert_eq!(
            errors(&project, &intents("  services: {}\n  allow: []\n")),
            Vec::<String>::new()
        );
    }

    #[test]
    fn values_that_become_names_labels_and_principals_are_kubernetes_valid() {
        let project = format!("{PROJECT}    apiServer: {{ cidrs: [10.0.0.1/32] }}\n");
        let cases = [
            (
                intents(SERVICES).replace("name: shop,", "name: Shop_1,"),
                "a.yaml:3:19",
                "not a valid Intents name",
            ),
            (
                intents(SERVICES).replace("name: shop,", &format!("name: {},", "s".repeat(64))),
                "a.yaml:3:19",
                "not a valid Intents name",
            ),
            (
                intents(SERVICES).replace("name: shop,", "name: shop.v2,"),
                "a.yaml:3:19",
                "not a valid Intents name",
            ),
            (
                intents(SERVICES).replace("namespace: shop", "namespace: Shop"),
                "a.yaml:3:36",
                "not a valid namespace name",
            ),
            (
                intents(SERVICES).replace("{ app: a } }", "{ app: a }, serviceAccount: \"frontend*\" }"),
                "a.yaml:6:48",
                "Istio would read `*`",
            ),
            (
                intents(SERVICES).replace("{ app: a } }", "{ app: a }, serviceAccount: Frontend }"),
                "a.yaml:6:48",
                "lower-case DNS subdomain",
            ),
            (
                intents(SERVICES).replace("{ app: a }", "{ \"app/\": a }"),
                "a.yaml:6:23",
                "not a valid label key",
            ),
            (
                intents(SERVICES).replace("{ app: a }", "{ Example.com/app: a }"),
                "a.yaml:6:22",
                "not a valid label key",
            ),
            (
                intents(SERVICES).replace("{ app: b }", "{ tier: web, app: \"b*\" }"),
                "a.yaml:7:39",
                "not a valid value for label `app`",
            ),
            (
                intents(&format!(
                    "{SERVICES}  allow:\n  - {{ from: a, to: {{ namespace: Pay, selector: {{ app: x }} }} }}\n"
                )),
                "a.yaml:9:33",
                "not a valid namespace name",
            ),
            (
                intents(&format!(
                    "{SERVICES}  allow:\n  - {{ from: a, to: {{ namespace: pay, selector: {{ app: -x }} }} }}\n"
                )),
                "a.yaml:9:55",
                "not a valid value",
            ),
            (
                intents(&format!("{SERVICES}  allow:\n  - a -> Pay/b\n")),
                "a.yaml:9:10",
                "not a namespace name",
            ),
        ];
        for (text, at, message) in cases {
            assert_refused(&project, &text, at, message);
        }
        let profile = [
            (
                "    egressGateway: { namespace: istio-system, selector: { istio: egressgateway }, service: 1gw }\n",
                "palisade.yaml:6:92",
                "not a valid Service name",
            ),
            (
                "    clusterDomain: Cluster.Local\n",
                "palisade.yaml:6:20",
                "not a DNS domain",
            ),
            (
                "    dns: { namespace: kube_system, selector: { k8s-app: kube-dns }, ports: [udp/53] }\n",
                "palisade.yaml:6:23",
                "not a valid namespace name",
            ),
        ];
        for (cluster, at, message) in profile {
            assert_refused(&format!("{PROJECT}{cluster}"), &intents(SERVICES), at, message);
        }
        // Valid at the limits: a 63-character name, a dotted service account,
        // upper case and `_` in label keys and values, an empty label value.
        let fine = intents(SERVICES)
            .replace("name: shop,", &format!("name: {},", "s".repeat(63)))
            .replace("{ app: a } }", "{ app: a }, serviceAccount: web.frontend-1 }")
            .replace("{ app: b }", "{ example.com/Tier_1: Web_1.x, app: \"\" }");
        assert_eq!(errors(&project, &fine), Vec::<String>::new());
    }

    #[test]
    fn the_evidence_section_is_checked_where_written() {
        let project = |evidence: &str| {
            format!("apiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: {{ name: p }}\nspec:\n  evidence:\n{evidence}")
        };
        let shop = intents(&format!("{SERVICES}  allow: []\n"));
        let fine =
            project("    minWindow: 1d12h\n    waive:\n      - { service: shop/b, reason: runs at quarter end }\n");
        assert_eq!(errors(&fine, &shop), Vec::<String>::new());
        let files = vec![
            RawFile {
                path: "palisade.yaml".into(),
                bytes: fine.into_bytes(),
            },
            RawFile {
                path: "a.yaml".into(),
                bytes: shop.clone().into_bytes(),
            },
        ];
        let Ok(repository) = load_files(files) else {
            unreachable!("the project loads")
        };
        let Some(checked) = repository.project else {
            unreachable!("the project is read")
        };
        assert_eq!(checked.evidence.min_window.map(|m| m.value), Some(36 * 3600));
        assert_eq!(
            checked
                .evidence
                .waive
                .iter()
                .map(|w| (w.service.value.as_str(), w.reason.as_str()))
                .collect::<Vec<_>>(),
            [("shop/b", "runs at quarter end")]
        );
        for (evidence, at, help) in [
            ("    minWindow: 24\n", "palisade.yaml:6:16", "`24` is not a duration"),
            ("    minWindow: soon\n", "palisade.yaml:6:16", "e.g. `90m`, `24h`, `7d`"),
            ("    minWindow: 0h\n", "palisade.yaml:6:16", "`minWindow` is zero"),
            (
                "    waive: [{ service: shop/bb, reason: x }]\n",
                "palisade.yaml:6:24",
                "did you mean `shop/b`?",
            ),
            (
                "    waive: [{ service: other/zzzz, reason: x }]\n",
                "palisade.yaml:6:24",
                "shop/a, shop/b",
            ),
            (
                "    waive: [{ service: payments, reason: x }]\n",
                "palisade.yaml:6:24",
                "`namespace/service`",
            ),
            (
                "    waive: [{ service: shop/a, reason: '  ' }]\n",
                "palisade.yaml:6:40",
                "gives no reason",
            ),
            ("    waive: [{ service: shop/a }]\n", "palisade.yaml:6:", "reason"),
            (
                "    waive: [{ service: shop/a, reason: x }, { service: shop/a, reason: y }]\n",
                "palisade.yaml:6:",
                "waived twice",
            ),
            ("    minWindows: 1d\n", "palisade.yaml:6:", "minWindows"),
        ] {
            assert_refused(&project(evidence), &shop, at, help);
        }
    }
}
