//! Synthetic repositories at the size of a large company: an intents folder
//! (Project + one Intents file per namespace), the cluster dump that matches
//! it (`kubectl get ns,pods -A -o yaml`) and a Hubble flow log of the traffic
//! the intents describe, plus a little traffic they do not (the audit's work).
//!
//! Everything is decided by one seeded generator, so the same size and seed
//! give byte-identical files: benchmarks compare like with like.

use std::{
    collections::BTreeSet,
    fmt::Write as _,
    fs,
    io::{self, BufWriter, Write},
    path::Path,
};

/// How big a repository to generate
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub namespaces: usize,
    pub services: usize,
    pub edges: usize,
    pub pods: usize,
    pub flows: usize,
    pub seed: u64,
}

/// What was written, for the bench table
#[derive(Debug, Clone, Default)]
pub struct Written {
    pub services: usize,
    pub edges: usize,
    pub pods: usize,
    pub flows: usize,
    pub fqdn_edges: usize,
    pub cidr_edges: usize,
    pub l7_edges: usize,
    pub cross_namespace_edges: usize,
    /// One pod to pod connection the intents allow, for single-connection
    /// comparisons with other tools
    pub example: Option<Example>,
    /// With the flows spread over days: the conversation seen on one day only
    pub rare: Option<Rare>,
}

/// The conversation of a week seen in one hour of one day only (a weekly
/// job): what a
/// window shorter than the week misses, and the audit of the week must name
#[derive(Debug, Clone)]
pub struct Rare {
    pub from: ExamplePod,
    pub to: ExamplePod,
    pub port: u16,
    /// the day it was seen on, `YYYY-MM-DD`
    pub day: String,
    /// its records
    pub records: usize,
}

/// One connection along the first edge: both pods with their labels
#[derive(Debug, Clone)]
pub struct Example {
    pub from: ExamplePod,
    pub to: ExamplePod,
    pub port: u16,
}

/// A pod of the example connection
#[derive(Debug, Clone)]
pub struct ExamplePod {
    pub namespace: String,
    pub name: String,
    /// `k=v,k=v`, as kubectl and kube-netpol take them
    pub labels: String,
}

/// SplitMix64: tiny, fast, and the same sequence on every machine
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    /// True with probability `percent` in 100
    fn percent(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    /// Skewed towards small indices, as traffic is: a few services carry most
    fn skewed(&mut self, n: usize) -> usize {
        let a = self.below(n);
        let b = self.below(n);
        a.min(b)
    }
}

const WORDS: &[&str] = &[
    "api",
    "web",
    "cart",
    "checkout",
    "ledger",
    "search",
    "auth",
    "orders",
    "billing",
    "catalog",
    "inventory",
    "notify",
    "report",
    "gateway",
    "session",
    "profile",
    "pricing",
    "shipping",
    "review",
    "media",
];
const TEAMS: &[&str] = &["shop", "pay", "data", "core", "growth", "ops", "ml", "risk"];
const PORTS: &[u16] = &[8080, 8443, 9090, 5432, 6379, 3000];

struct Service {
    namespace: usize,
    name: String,
    /// Label pairs of the selector; pods carry them and a few more
    labels: Vec<(&'static str, String)>,
    port: u16,
    /// Named port, declared in the intents and on the pods
    named: bool,
    pods: Vec<usize>,
}

struct Pod {
    service: usize,
    name: String,
    ip: String,
}

struct Edge {
    from: usize,
    to: usize,
    l7: bool,
}

struct World {
    namespaces: Vec<String>,
    services: Vec<Service>,
    pods: Vec<Pod>,
    edges: Vec<Edge>,
    /// Per service: outside names (through the egress gateway) and CIDRs
    fqdn: Vec<Option<String>>,
    cidr: Vec<Option<String>>,
    /// Pairs of services that talk though no intent says so
    unwritten: Vec<(usize, usize)>,
}

fn world(size: &Size) -> World {
    let mut rng = Rng(size.seed);
    let namespaces: Vec<String> = (0..size.namespaces.max(1))
        .map(|i| format!("{}-{i:03}", TEAMS[i % TEAMS.len()]))
        .collect();
    let mut services: Vec<Service> = (0..size.services.max(1))
        .map(|i| {
            let namespace = i % namespaces.len();
            let name = format!("{}-{}", WORDS[rng.below(WORDS.len())], i / namespaces.len());
            // Three label schemes, as clusters have them: the old `app`, the
            // recommended labels, and `app` with a tier.
            let labels = match namespace % 3 {
                0 => vec![("app", name.clone())],
                1 => vec![("app.kubernetes.io/name", name.clone())],
                _ => vec![
                    ("app", name.clone()),
                    ("tier", if rng.percent(50) { "frontend" } else { "backend" }.to_string()),
                ],
            };
            Service {
                namespace,
                name,
                labels,
                port: PORTS[rng.below(PORTS.len())],
                named: rng.percent(20),
                pods: Vec::new(),
            }
        })
        .collect();
    let mut pods = Vec::with_capacity(size.pods);
    for p in 0..size.pods.max(services.len()) {
        // Every service has a pod; the rest go to the busiest services.
        let service = if p < services.len() {
            p
        } else {
            rng.skewed(services.len())
        };
        let replica = services[service].pods.len();
        services[service].pods.push(p);
        pods.push(Pod {
            service,
            name: format!("{}-{:x}-{replica}", services[service].name, 0x5f00 + service % 4096),
            ip: format!("10.{}.{}.{}", 100 + p / 65_536, (p / 256) % 256, p % 256),
        });
    }
    let by_namespace: Vec<Vec<usize>> = (0..namespaces.len())
        .map(|n| (0..services.len()).filter(|s| s % namespaces.len() == n).collect())
        .collect();
    let mut seen = BTreeSet::new();
    let mut edges = Vec::with_capacity(size.edges);
    let mut attempts = 0;
    while edges.len() < size.edges && attempts < size.edges * 20 {
        attempts += 1;
        let from = rng.below(services.len());
        let home = &by_namespace[services[from].namespace];
        // Three in four calls stay inside the namespace.
        let to = if rng.percent(75) && home.len() > 1 {
            home[rng.below(home.len())]
        } else {
            rng.below(services.len())
        };
        if from == to || !seen.insert((from, to)) {
            continue;
        }
        edges.push(Edge {
            from,
            to,
            l7: rng.percent(5),
        });
    }
    let fqdn = (0..services.len())
        .map(|_| rng.percent(4).then(|| format!("api.vendor{}.com", rng.below(50))))
        .collect();
    let cidr = (0..services.len())
        .map(|_| rng.percent(2).then(|| format!("203.0.{}.0/24", rng.below(200))))
        .collect();
    let unwritten = unwritten_calls(services.len(), edges.len(), size.seed);
    World {
        namespaces,
        services,
        pods,
        edges,
        fqdn,
        cidr,
        unwritten,
    }
}

/// The calls nobody wrote down: one for every ten edges, between services
/// drawn at random, from a generator of their own so that the rest of the
/// world stays as it was. They recur as real undeclared dependencies do (a
/// client nobody listed calls its server all week), so the conversations of
/// a flow log grow with the world, not with its length: a pair drawn afresh
/// for every record made a week of 10M records 180,000 one-record
/// conversations that no cluster has.
fn unwritten_calls(services: usize, edges: usize, seed: u64) -> Vec<(usize, usize)> {
    let mut rng = Rng(seed ^ 0xCA11);
    (0..(edges / 10).max(1))
        .map(|_| (rng.below(services), rng.below(services)))
        .collect()
}

/// Write `dir/palisade.yaml`, `dir/intents/*.yaml`, `dir/cluster.yaml` and
/// `dir/flows/hubble.jsonl`, the flows within one hour
pub fn write(dir: &Path, size: &Size) -> io::Result<Written> {
    write_over(dir, size, 0)
}

/// [`write`], the flows spread evenly over `days` days from 2026-11-20
/// (0: within one hour of it, as [`write`]), with a conversation that no
/// intent allows seen in one hour of one day only (02:00 of the last but
/// one), described
/// in `dir/rare.json`
pub fn write_over(dir: &Path, size: &Size, days: usize) -> io::Result<Written> {
    let world = world(size);
    fs::create_dir_all(dir.join("intents"))?;
    fs::create_dir_all(dir.join("flows"))?;
    fs::write(dir.join("palisade.yaml"), PROJECT)?;
    let mut written = Written {
        services: world.services.len(),
        edges: world.edges.len(),
        pods: world.pods.len(),
        ..Written::default()
    };
    for (n, namespace) in world.namespaces.iter().enumerate() {
        let text = intents(&world, n, &mut written);
        fs::write(dir.join("intents").join(format!("{namespace}.yaml")), text)?;
    }
    write_cluster(&world, &dir.join("cluster.yaml"))?;
    let timeline = Timeline::new(size.flows, days);
    let rare = (days > 0).then(|| rare_pair(&world)).flatten();
    let (flows, rare_records) = write_flows(&world, size, &timeline, rare, &dir.join("flows/hubble.jsonl"))?;
    written.flows = flows;
    written.example = world.edges.first().map(|e| Example {
        from: example_pod(&world, e.from),
        to: example_pod(&world, e.to),
        port: world.services[e.to].port,
    });
    if let Some(example) = &written.example {
        let json = format!(
            r#"{{"from":{},"to":{},"port":{}}}"#,
            pod_json(&example.from),
            pod_json(&example.to),
            example.port
        );
        fs::write(dir.join("example.json"), json + "\n")?;
    }
    written.rare = rare.filter(|_| rare_records > 0).map(|(from, to)| Rare {
        from: example_pod(&world, from),
        to: example_pod(&world, to),
        port: RARE_PORT,
        day: civil_date(timeline.rare_day()),
        records: rare_records,
    });
    if let Some(rare) = &written.rare {
        let json = format!(
            r#"{{"from":{},"to":{},"port":{},"day":"{}","records":{}}}"#,
            pod_json(&rare.from),
            pod_json(&rare.to),
            rare.port,
            rare.day,
            rare.records
        );
        fs::write(dir.join("rare.json"), json + "\n")?;
    }
    Ok(written)
}

/// The first pod of service `s`, as the example files name it
fn example_pod(world: &World, s: usize) -> ExamplePod {
    let service = &world.services[s];
    let first = service.pods.first().map_or("", |&p| world.pods[p].name.as_str());
    let labels: Vec<String> = pod_labels(service, s).iter().map(|(k, v)| format!("{k}={v}")).collect();
    ExamplePod {
        namespace: world.namespaces[service.namespace].clone(),
        name: first.to_string(),
        labels: labels.join(","),
    }
}

fn pod_json(p: &ExamplePod) -> String {
    format!(
        r#"{{"namespace":"{}","name":"{}","labels":"{}"}}"#,
        p.namespace, p.name, p.labels
    )
}

/// The port of the rare conversation: no generated service listens on it,
/// so no intent allows it and the audit of the week must find it
const RARE_PORT: u16 = 6543;

/// In its hour, one record in this many is the rare conversation
const RARE_EVERY: usize = 1000;

/// The hour of the rare day the rare conversation is seen in
const RARE_HOUR: u64 = 2;

/// The rare conversation's two services: the last and the first, which
/// differ as soon as there are two
fn rare_pair(world: &World) -> Option<(usize, usize)> {
    let last = world.services.len().checked_sub(1)?;
    (last > 0).then_some((last, 0))
}

/// Days since 1970-01-01 of 2026-11-20, the day the generated flows start
const FIRST_DAY: i64 = 20_777;

/// When each record was seen: within one hour, or spread over days
struct Timeline {
    flows: usize,
    days: usize,
}

impl Timeline {
    fn new(flows: usize, days: usize) -> Self {
        Self { flows, days }
    }

    /// Seconds after midnight of the first day at which record `i` was
    /// seen, when spread over days
    fn second(&self, i: usize) -> u64 {
        let span = self.days as u128 * 86_400;
        (i as u128 * span / self.flows.max(1) as u128) as u64
    }

    /// The day (since the epoch) of the rare conversation: the last but one
    fn rare_day(&self) -> i64 {
        FIRST_DAY + self.days.saturating_sub(2) as i64
    }

    /// Record `i`'s time in RFC 3339, as Hubble writes it
    fn time(&self, i: usize) -> String {
        if self.days == 0 {
            // The one-hour shape of old, byte for byte, so figures compare.
            let minute = i * 60 / self.flows.max(1);
            return format!(
                "2026-11-20T{:02}:{:02}:{:02}.000000000Z",
                10 + minute / 60,
                minute % 60,
                i % 60
            );
        }
        let second = self.second(i);
        let day = FIRST_DAY + (second / 86_400) as i64;
        let of_day = second % 86_400;
        format!(
            "{}T{:02}:{:02}:{:02}.{:09}Z",
            civil_date(day),
            of_day / 3600,
            of_day / 60 % 60,
            of_day % 60,
            (i % 1000) * 1_000_000
        )
    }

    /// Whether record `i` falls in the rare conversation's hour: 02:00 of
    /// the rare day, as a weekly batch job runs, so that a window of the
    /// last day holds none of it, whole hours or not
    fn in_rare_hour(&self, i: usize) -> bool {
        let second = self.second(i);
        self.days > 0 && FIRST_DAY + (second / 86_400) as i64 == self.rare_day() && second % 86_400 / 3600 == RARE_HOUR
    }
}

/// `YYYY-MM-DD` of a day since the epoch (the civil calendar's algorithm by
/// Howard Hinnant, days to year, month, day)
fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

const PROJECT: &str = "\
# Generated by `palisade-bench gen`: a synthetic company, deterministic from its seed.
apiVersion: palisade.dev/v1alpha1
kind: Project
metadata: { name: synthetic }
spec:
  targets: [kubernetes, calico, cilium, istio]
  cluster:
    cni: cilium
    dns: { namespace: kube-system, selector: { k8s-app: kube-dns }, ports: [udp/53, tcp/53] }
    apiServer: { cidrs: [10.0.0.2/32], ports: [tcp/443] }
    egressGateway: { namespace: istio-system, selector: { istio: egressgateway }, service: istio-egressgateway }
    clusterCIDRs: [10.96.0.0/12, 10.100.0.0/14]
";

fn selector(labels: &[(&str, String)]) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    format!("{{ {} }}", pairs.join(", "))
}

fn port_text(service: &Service) -> String {
    if service.named {
        "http".to_string()
    } else {
        format!("tcp/{}", service.port)
    }
}

fn intents(world: &World, namespace: usize, written: &mut Written) -> String {
    let name = &world.namespaces[namespace];
    let mut out = format!(
        "apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: {{ name: {name}, namespace: {name} }}\nspec:\n  posture: default-deny\n  baseline: [dns]\n  services:\n"
    );
    let mine: Vec<usize> = (0..world.services.len())
        .filter(|&s| world.services[s].namespace == namespace)
        .collect();
    for &s in &mine {
        let service = &world.services[s];
        let ports = if service.named {
            format!(", ports: {{ http: tcp/{} }}", service.port)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "    {}: {{ selector: {}, serviceAccount: {}{ports} }}",
            service.name,
            selector(&service.labels),
            service.name
        );
    }
    out.push_str("  allow:\n");
    for edge in world
        .edges
        .iter()
        .filter(|e| world.services[e.from].namespace == namespace)
    {
        let (from, to) = (&world.services[edge.from], &world.services[edge.to]);
        let target = if to.namespace == namespace {
            to.name.clone()
        } else {
            written.cross_namespace_edges += 1;
            format!("{}/{}", world.namespaces[to.namespace], to.name)
        };
        if edge.l7 {
            written.l7_edges += 1;
            let _ = writeln!(
                out,
                "    - from: {}\n      to: {target}\n      ports: [{}]\n      http: [{{ method: GET, path: \"/api/v1/*\" }}]",
                from.name,
                port_text(to)
            );
        } else {
            let _ = writeln!(out, "    - {} -> {target} {}", from.name, port_text(to));
        }
    }
    for &s in &mine {
        let service = &world.services[s];
        if let Some(host) = &world.fqdn[s] {
            written.fqdn_edges += 1;
            let _ = writeln!(
                out,
                "    - from: {}\n      to: {{ fqdn: {host}, via: egress-gateway }}\n      ports: [tcp/443]",
                service.name
            );
        }
        if let Some(cidr) = &world.cidr[s] {
            written.cidr_edges += 1;
            let _ = writeln!(
                out,
                "    - from: {}\n      to: {{ cidr: {cidr} }}\n      ports: [tcp/443]",
                service.name
            );
        }
    }
    out
}

fn write_cluster(world: &World, path: &Path) -> io::Result<()> {
    let mut out = BufWriter::new(fs::File::create(path)?);
    writeln!(out, "apiVersion: v1\nkind: List\nitems:")?;
    let system = ["kube-system", "istio-system"];
    for name in world.namespaces.iter().map(String::as_str).chain(system) {
        writeln!(
            out,
            "- {{ apiVersion: v1, kind: Namespace, metadata: {{ name: {name}, labels: {{ kubernetes.io/metadata.name: {name} }} }} }}"
        )?;
    }
    writeln!(
        out,
        "- {{ apiVersion: v1, kind: Pod, metadata: {{ name: coredns-0, namespace: kube-system, labels: {{ k8s-app: kube-dns }} }}, spec: {{ containers: [{{ name: coredns }}] }}, status: {{ podIP: 10.96.0.10 }} }}"
    )?;
    writeln!(
        out,
        "- {{ apiVersion: v1, kind: Pod, metadata: {{ name: istio-egressgateway-0, namespace: istio-system, labels: {{ istio: egressgateway }} }}, spec: {{ containers: [{{ name: istio-proxy }}] }}, status: {{ podIP: 10.96.0.20 }} }}"
    )?;
    for pod in &world.pods {
        let service = &world.services[pod.service];
        let labels = pod_labels(service, pod.service);
        let ports = if service.named {
            format!(
                ", ports: [{{ name: http, containerPort: {}, protocol: TCP }}]",
                service.port
            )
        } else {
            String::new()
        };
        writeln!(
            out,
            "- {{ apiVersion: v1, kind: Pod, metadata: {{ name: {}, namespace: {}, labels: {} }}, spec: {{ serviceAccountName: {}, containers: [{{ name: main{ports} }}] }}, status: {{ podIP: {} }} }}",
            pod.name,
            world.namespaces[service.namespace],
            selector(&labels),
            service.name,
            pod.ip
        )?;
    }
    out.flush()
}

/// A pod's labels: its service's selector and the ReplicaSet's hash
fn pod_labels(service: &Service, index: usize) -> Vec<(&'static str, String)> {
    let mut labels = service.labels.clone();
    labels.push(("pod-template-hash", format!("{:x}", 0x5f00 + index % 4096)));
    labels
}

/// One flow endpoint as Hubble prints it
fn endpoint(world: &World, pod: usize) -> String {
    let pod = &world.pods[pod];
    let service = &world.services[pod.service];
    let namespace = &world.namespaces[service.namespace];
    let mut labels: Vec<String> = service.labels.iter().map(|(k, v)| format!("\"k8s:{k}={v}\"")).collect();
    labels.push(format!("\"k8s:io.kubernetes.pod.namespace={namespace}\""));
    labels.push(format!(
        "\"k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name={namespace}\""
    ));
    labels.push(format!("\"k8s:io.cilium.k8s.policy.serviceaccount={}\"", service.name));
    format!(
        r#"{{"namespace":"{namespace}","labels":[{}],"pod_name":"{}","workloads":[{{"name":"{}","kind":"Deployment"}}]}}"#,
        labels.join(","),
        pod.name,
        service.name
    )
}

const DNS: &str = r#"{"namespace":"kube-system","labels":["k8s:k8s-app=kube-dns","k8s:io.kubernetes.pod.namespace=kube-system"],"pod_name":"coredns-0"}"#;
const WORLD: &str = r#"{"identity":2,"labels":["reserved:world"]}"#;

/// The flow log; with `rare`, the records and how many of them were the rare
/// conversation
fn write_flows(
    world: &World,
    size: &Size,
    timeline: &Timeline,
    rare: Option<(usize, usize)>,
    path: &Path,
) -> io::Result<(usize, usize)> {
    let mut rng = Rng(size.seed ^ 0xF10E);
    let mut out = BufWriter::with_capacity(1 << 20, fs::File::create(path)?);
    let pod_of = |rng: &mut Rng, service: usize| {
        let pods = &world.services[service].pods;
        pods[rng.below(pods.len())]
    };
    let (mut on_rare_day, mut rare_records) = (0, 0);
    for i in 0..size.flows {
        let time = timeline.time(i);
        let roll = rng.below(100);
        let rare_now = match rare {
            Some(pair) if timeline.in_rare_hour(i) => {
                on_rare_day += 1;
                ((on_rare_day - 1) % RARE_EVERY == 0).then_some(pair)
            }
            _ => None,
        };
        let (from, destination, dst_ip, port, proto, extra) = if let Some((a, b)) = rare_now {
            rare_records += 1;
            let (from, to) = (pod_of(&mut rng, a), pod_of(&mut rng, b));
            (
                from,
                endpoint(world, to),
                world.pods[to].ip.clone(),
                RARE_PORT,
                "TCP",
                String::new(),
            )
        } else if roll < 10 || world.edges.is_empty() {
            // DNS lookups, before most calls
            let service = rng.below(world.services.len());
            let from = pod_of(&mut rng, service);
            let query = r#","l7":{"type":"REQUEST","dns":{"query":"api.example.com.","qtypes":["A"]}}"#;
            (
                from,
                DNS.to_string(),
                "10.96.0.10".to_string(),
                53,
                "UDP",
                query.to_string(),
            )
        } else if roll < 12 {
            // A call nobody wrote down: what the audit is for
            let (a, b) = world.unwritten[rng.below(world.unwritten.len())];
            let (from, to) = (pod_of(&mut rng, a), pod_of(&mut rng, b));
            (
                from,
                endpoint(world, to),
                world.pods[to].ip.clone(),
                7000,
                "TCP",
                String::new(),
            )
        } else if roll < 14 && world.fqdn.iter().any(Option::is_some) {
            let s = rng.below(world.services.len());
            match &world.fqdn[s] {
                Some(host) => {
                    let from = pod_of(&mut rng, s);
                    let names = format!(r#","destination_names":["{host}"]"#);
                    (from, WORLD.to_string(), "198.51.100.7".to_string(), 443, "TCP", names)
                }
                None => continue_edge(world, &mut rng, pod_of),
            }
        } else {
            continue_edge(world, &mut rng, pod_of)
        };
        let source = endpoint(world, from);
        writeln!(
            out,
            r#"{{"flow":{{"time":"{time}","verdict":"FORWARDED","IP":{{"source":"{}","destination":"{dst_ip}","ipVersion":"IPv4"}},"l4":{{"{proto}":{{"source_port":{},"destination_port":{port}}}}},"source":{source},"destination":{destination},"Type":"L3_L4","node_name":"node-{}","event_type":{{"type":4}},"traffic_direction":"EGRESS","is_reply":false{extra}}},"node_name":"node-{}","time":"{time}"}}"#,
            world.pods[from].ip,
            30_000 + i % 30_000,
            from % 8,
            from % 8
        )?;
    }
    out.flush()?;
    Ok((size.flows, rare_records))
}

/// A call along an allowed edge, busy edges more often
fn continue_edge(
    world: &World,
    rng: &mut Rng,
    pod_of: impl Fn(&mut Rng, usize) -> usize,
) -> (usize, String, String, u16, &'static str, String) {
    let edge = &world.edges[rng.skewed(world.edges.len())];
    let (from, to) = (pod_of(rng, edge.from), pod_of(rng, edge.to));
    (
        from,
        endpoint(world, to),
        world.pods[to].ip.clone(),
        world.services[edge.to].port,
        "TCP",
        String::new(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_since_the_epoch_are_civil_dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(FIRST_DAY), "2026-11-20");
        assert_eq!(civil_date(FIRST_DAY + 11), "2026-12-01");
        assert_eq!(civil_date(FIRST_DAY + 42), "2027-01-01");
        assert_eq!(civil_date(19_782), "2024-02-29");
    }

    #[test]
    fn a_week_spreads_over_seven_days_and_the_rare_day_is_the_sixth() {
        let timeline = Timeline::new(7_000, 7);
        assert!(timeline.time(0).starts_with("2026-11-20T00:00:00"));
        assert!(timeline.time(6_999).starts_with("2026-11-26T23:"));
        assert_eq!(civil_date(timeline.rare_day()), "2026-11-25");
        let rare: Vec<usize> = (0..7_000).filter(|i| timeline.in_rare_hour(*i)).collect();
        // 1000 records a day: 02:00 to 03:00 of the sixth is 5084 to 5124.
        assert_eq!((rare.first(), rare.last()), (Some(&5_084), Some(&5_124)));
        assert!(timeline.time(5_084).starts_with("2026-11-25T02:"));
    }
}
