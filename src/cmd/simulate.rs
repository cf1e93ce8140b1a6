//! `palisade simulate`: decide connections on a cluster dump by a folder of
//! policies in any mix of dialects; one connection, or the whole matrix.
//! Where the CNI is not known and NetworkPolicy ipBlocks would decide a pod
//! differently on Cilium, the answer says it depends on the CNI.

use crate::values::TextOrJson as Output;
use crate::Exit;
use palisade_compiler::model::{ClusterModel, CniProfile, Connection, Endpoint, External, Request};
use palisade_engine::manifests;
use palisade_intents::{syntax::Protocol, Diag, Diags};
use palisade_targets::{Evaluator, Manifest, Verdict};
use serde_json::json;
use std::path::PathBuf;

/// Arguments of `palisade simulate`
#[derive(clap::Args)]
pub struct Args {
    /// Namespaces and pods (`kubectl get ns,pods -A -o yaml`)
    #[arg(long)]
    cluster: PathBuf,
    /// Policy files or folders, any mix of NetworkPolicy, Calico, Cilium, Istio
    #[arg(long, num_args = 1.., required = true)]
    policies: Vec<PathBuf>,
    /// Source: NS/POD, or an address outside the cluster
    #[arg(long, required_unless_present = "matrix")]
    from: Option<String>,
    /// Destination: NS/POD, an address, or a DNS name (for FQDN rules)
    #[arg(long, required_unless_present = "matrix")]
    to: Option<String>,
    /// Destination port
    #[arg(long)]
    port: u16,
    /// TCP, UDP or SCTP
    #[arg(long, default_value = "TCP")]
    protocol: String,
    /// HTTP method, to ask about L7 rules too
    #[arg(long, requires = "path")]
    method: Option<String>,
    /// HTTP path, to ask about L7 rules too
    #[arg(long, requires = "method")]
    path: Option<String>,
    /// Every pod to every pod: a table (by namespace past 30 pods), or with
    /// `--output json` the whole matrix
    #[arg(long)]
    matrix: bool,
    /// text (one line) or json
    #[arg(long, short, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// Namespace of policies without metadata.namespace (as kubectl -n)
    #[arg(long, short = 'n', default_value = palisade_engine::manifests::DEFAULT_NAMESPACE)]
    namespace: String,
    /// The cluster's CNI (calico, cilium, antrea, ...); else from the dump
    #[arg(long)]
    cni: Option<String>,
}

/// Decide and print
pub fn run(args: &Args, sink: &mut Diags) -> Exit {
    let Ok(protocol) = args.protocol.parse::<Protocol>() else {
        sink.push(
            Diag::error("bad_protocol", format!("unknown protocol `{}`", args.protocol)).help("use TCP, UDP or SCTP"),
        );
        return Exit::Input;
    };
    let mut model = match manifests::read_cluster_warning(&args.cluster) {
        Ok((m, warnings)) => {
            sink.extend(warnings.clone());
            m
        }
        Err(d) => {
            sink.extend(d.clone());
            return Exit::Input;
        }
    };
    if let Some(name) = &args.cni {
        let Some(cni) = CniProfile::parse(name) else {
            let names: Vec<&str> = CniProfile::NAMED.iter().map(|c| c.name()).collect();
            sink.push(
                Diag::error("bad_value", format!("unknown CNI `{name}`")).help(
                    palisade_intents::diag::did_you_mean(name, names.iter().copied())
                        .unwrap_or_else(|| format!("write one of {}", names.join(", "))),
                ),
            );
            return Exit::Input;
        };
        model.cni = cni;
    }
    let policies = match manifests::read_located_in(&args.policies, &args.namespace) {
        Ok((m, origins, warnings)) => {
            sink.extend(warnings.clone());
            let problems = manifests::problems(&m, &origins);
            if problems.has_errors() {
                sink.extend(problems.clone());
                return Exit::Input;
            }
            m
        }
        Err(d) => {
            sink.extend(d.clone());
            return Exit::Input;
        }
    };
    if args.matrix {
        return matrix(&model, &policies, protocol, args.port, args.output);
    }
    let (Some(from), Some(to)) = (&args.from, &args.to) else {
        return Exit::Input;
    };
    // Outside addresses and names join the model so both ends are endpoints.
    for end in [from, to] {
        if !end.contains('/') || end.parse::<ipnet::IpNet>().is_ok() {
            model.externals.push(external(end));
        }
    }
    let request = args
        .method
        .as_ref()
        .zip(args.path.as_ref())
        .map(|(m, p)| Request::new(m, p.clone()));
    let (Some(source), Some(destination)) = (endpoint(&model, from), endpoint(&model, to)) else {
        let missing = if endpoint(&model, from).is_none() { from } else { to };
        sink.push(
            Diag::error(
                "unknown_pod",
                format!("no pod `{missing}` in `{}`", args.cluster.display()),
            )
            .help("write NS/POD as in `kubectl get pods -A`, or an address"),
        );
        return Exit::Input;
    };
    let conn = Connection {
        from: source,
        to: destination,
        protocol,
        port: args.port,
        request: request.as_ref(),
    };
    let verdicts = decide(&policies, &model, &conn);
    let allowed = verdicts.iter().all(|(_, v)| v.allowed);
    let on_cilium = on_cilium(&model).and_then(|cilium| {
        let other = decide(&policies, &cilium, &conn).iter().all(|(_, v)| v.allowed);
        (other != allowed).then_some(other)
    });
    match args.output {
        Output::Text => {
            let deciding: Vec<String> = verdicts
                .iter()
                .filter(|(_, v)| v.allowed == allowed)
                .flat_map(|(d, v)| v.decided_by.iter().map(move |r| format!("{d}: {r}")))
                .collect();
            let why = if deciding.is_empty() {
                "no policy selects either end".to_string()
            } else {
                deciding.join("; ")
            };
            let depends = match on_cilium {
                Some(other) => format!(
                    " (depends on the CNI: {} on Cilium, whose ipBlocks never match pods; pass --cni)",
                    if other { "allowed" } else { "denied" }
                ),
                None => String::new(),
            };
            println!(
                "{} {}{depends}: {why}",
                if allowed { "ALLOWED" } else { "DENIED" },
                conn.describe()
            );
        }
        Output::Json => {
            let decided_by: Vec<_> = verdicts
                .iter()
                .flat_map(|(d, v)| v.decided_by.iter().map(move |r| json!({ "target": d, "allowed": v.allowed, "policy": r.policy, "rule": r.rule, "source": r.source })))
                .collect();
            let mut out = json!({ "from": from, "to": to, "protocol": protocol.as_k8s(), "port": args.port, "allowed": allowed, "decided_by": decided_by });
            if let (Some(other), Some(fields)) = (on_cilium, out.as_object_mut()) {
                fields.insert("depends_on_cni".into(), json!({ "cilium": other }));
            }
            println!("{out}");
        }
    }
    Exit::Ok
}

fn external(text: &str) -> External {
    match text.parse::<std::net::IpAddr>() {
        Ok(ip) => External {
            ip,
            fqdn: None,
            kube_apiserver: false,
        },
        // A name resolves to some outside address; FQDN rules decide by the name.
        Err(_) => External {
            ip: std::net::IpAddr::from([198, 51, 100, 200]),
            fqdn: Some(text.to_string()),
            kube_apiserver: false,
        },
    }
}

fn endpoint<'m>(model: &'m ClusterModel, text: &str) -> Option<Endpoint<'m>> {
    if let Some(pod) = model.pods.iter().find(|p| p.id() == text) {
        return Some(Endpoint::Pod(pod));
    }
    let ip = text.parse::<std::net::IpAddr>().ok();
    model
        .externals
        .iter()
        .find(|e| Some(e.ip) == ip && e.fqdn.is_none() || e.fqdn.as_deref() == Some(text))
        .map(Endpoint::External)
}

/// Each dialect that reads some of the policies, and its verdict; a
/// connection passes when every layer lets it
fn decide(policies: &[Manifest], model: &ClusterModel, conn: &Connection) -> Vec<(&'static str, Verdict)> {
    evaluators(policies)
        .iter()
        .map(|(id, e)| (*id, e.evaluate(model, conn)))
        .collect()
}

fn evaluators(policies: &[Manifest]) -> Vec<(&'static str, Box<dyn Evaluator + '_>)> {
    palisade_targets::DIALECTS
        .iter()
        .filter(|d| policies.iter().any(|m| d.reads(m)))
        .map(|d| (d.id(), d.evaluator(policies)))
        .collect()
}

/// The same model on Cilium, when the CNI is not known: the one named
/// profile whose NetworkPolicy ipBlocks answer differently for pods
fn on_cilium(model: &ClusterModel) -> Option<ClusterModel> {
    (model.cni == CniProfile::Unknown).then(|| ClusterModel {
        cni: CniProfile::Cilium,
        ..model.clone()
    })
}

fn matrix(model: &ClusterModel, policies: &[Manifest], protocol: Protocol, port: u16, output: Output) -> Exit {
    let evaluators = evaluators(policies);
    let grid = |model: &ClusterModel| -> Vec<Vec<bool>> {
        // On sets where every layer has them: every pair at once
        let universe = palisade_relation::Universe::new(model, false);
        if let Some(combined) = palisade_targets::all_enforce(evaluators.iter().map(|(_, e)| e.as_ref()), &universe) {
            return palisade_relation::matrix::matrix(
                &combined,
                &universe,
                palisade_relation::services::key(protocol, port, 0),
            );
        }
        model
            .pods
            .iter()
            .map(|from| {
                model
                    .pods
                    .iter()
                    .map(|to| {
                        let conn = Connection {
                            from: Endpoint::Pod(from),
                            to: Endpoint::Pod(to),
                            protocol,
                            port,
                            request: None,
                        };
                        evaluators.iter().all(|(_, e)| e.allows(model, &conn))
                    })
                    .collect()
            })
            .collect()
    };
    let allowed = grid(model);
    let pods: Vec<String> = model.pods.iter().map(|p| p.id()).collect();
    if output == Output::Text {
        print!("{}", matrix_table(model, &pods, &allowed, protocol, port));
        return Exit::Ok;
    }
    let mut depends_on_cni: Vec<serde_json::Value> = Vec::new();
    if let Some(cilium) = on_cilium(model) {
        let other = grid(&cilium);
        depends_on_cni = allowed
            .iter()
            .zip(&other)
            .enumerate()
            .flat_map(|(i, (row, other_row))| {
                row.iter()
                    .zip(other_row)
                    .enumerate()
                    .filter(|(_, (a, b))| a != b)
                    .map(move |(j, (_, b))| (i, j, *b))
            })
            .map(|(i, j, b)| json!({ "from": pods.get(i), "to": pods.get(j), "cilium": b }))
            .collect();
        if !depends_on_cni.is_empty() {
            eprintln!(
                "note: {} cells depend on the CNI: NetworkPolicy ipBlocks cover pod addresses, which Cilium does not match (pass --cni); `allowed` answers as the e2e suite expects",
                depends_on_cni.len()
            );
        }
    }
    let matrix = MatrixJson {
        allowed: &allowed,
        depends_on_cni: &depends_on_cni,
        pods: &pods,
        port,
        protocol: protocol.as_k8s(),
    };
    match matrix.write(&mut std::io::BufWriter::new(std::io::stdout().lock())) {
        Ok(()) => Exit::Ok,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Exit::ClosedPipe,
        Err(e) => {
            eprintln!("error: could not write the matrix: {e}");
            Exit::Input
        }
    }
}

/// The matrix as JSON, written as it is read: on 20,000 pods the document
/// is gigabytes, which a `serde_json::Value` would hold several times over
struct MatrixJson<'a> {
    allowed: &'a [Vec<bool>],
    depends_on_cni: &'a [serde_json::Value],
    pods: &'a [String],
    port: u16,
    protocol: &'a str,
}

impl MatrixJson<'_> {
    /// One line, keys in order, as `serde_json` prints an object
    fn write(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        out.write_all(b"{\"allowed\":[")?;
        let mut line: Vec<u8> = Vec::new();
        for (i, row) in self.allowed.iter().enumerate() {
            line.clear();
            line.extend_from_slice(if i == 0 { b"[" } else { b",[" });
            for (j, cell) in row.iter().enumerate() {
                if j > 0 {
                    line.push(b',');
                }
                line.extend_from_slice(if *cell { b"true" } else { b"false" });
            }
            line.push(b']');
            out.write_all(&line)?;
        }
        out.write_all(b"]")?;
        if !self.depends_on_cni.is_empty() {
            out.write_all(b",\"depends_on_cni\":")?;
            serde_json::to_writer(&mut *out, self.depends_on_cni)?;
        }
        out.write_all(b",\"pods\":")?;
        serde_json::to_writer(&mut *out, self.pods)?;
        write!(out, ",\"port\":{},\"protocol\":", self.port)?;
        serde_json::to_writer(&mut *out, self.protocol)?;
        out.write_all(b"}\n")?;
        out.flush()
    }
}

/// Past this many pods the table shows namespaces, not pods
const TABLE_PODS: usize = 30;

/// The matrix for a terminal: pods against pods (`✓` allowed, `·` denied),
/// or for a larger cluster, how many pairs each namespace pair allows
fn matrix_table(model: &ClusterModel, pods: &[String], allowed: &[Vec<bool>], protocol: Protocol, port: u16) -> String {
    let total = pods.len() * pods.len();
    let passing: usize = allowed.iter().map(|row| row.iter().filter(|&&a| a).count()).sum();
    let mut out = format!(
        "{}/{port}: {passing} of {total} pod pairs allowed (rows: from, columns: to)\n",
        protocol.as_str()
    );
    if pods.len() <= TABLE_PODS {
        let width = pods.iter().map(String::len).max().unwrap_or(0);
        out.push_str(&format!("{:>w$}", "", w = width + 4));
        for column in 1..=pods.len() {
            out.push_str(&format!("{column:>3}"));
        }
        out.push('\n');
        for (i, (pod, row)) in pods.iter().zip(allowed).enumerate() {
            out.push_str(&format!("{:>3} {pod:<width$}", i + 1));
            for &cell in row {
                out.push_str(if cell { "  ✓" } else { "  ·" });
            }
            out.push('\n');
        }
        return out;
    }
    let namespaces: Vec<&str> = {
        let mut names: Vec<&str> = model.pods.iter().map(|p| p.namespace.as_str()).collect();
        names.dedup();
        names
    };
    let of: Vec<usize> = model
        .pods
        .iter()
        .map(|p| namespaces.iter().position(|n| *n == p.namespace).unwrap_or(0))
        .collect();
    let mut counts = vec![vec![(0usize, 0usize); namespaces.len()]; namespaces.len()];
    for (&from, row) in of.iter().zip(allowed) {
        for (&to, &cell) in of.iter().zip(row) {
            let entry = &mut counts[from][to];
            entry.0 += usize::from(cell);
            entry.1 += 1;
        }
    }
    out.push_str("allowed pairs / pairs, per namespace (rows: from, columns: to):\n");
    let width = namespaces.iter().map(|n| n.len()).max().unwrap_or(0);
    let cell_width = counts
        .iter()
        .flatten()
        .map(|(a, t)| format!("{a}/{t}").len())
        .max()
        .unwrap_or(3)
        + 2;
    out.push_str(&format!("{:>w$}", "", w = width + 4));
    for column in 1..=namespaces.len() {
        out.push_str(&format!("{column:>cell_width$}"));
    }
    out.push('\n');
    for (i, (namespace, row)) in namespaces.iter().zip(&counts).enumerate() {
        out.push_str(&format!("{:>3} {namespace:<width$}", i + 1));
        for (a, t) in row {
            out.push_str(&format!("{:>cell_width$}", format!("{a}/{t}")));
        }
        out.push('\n');
    }
    out.push_str("`--output json` gives every pod pair\n");
    out
}
