//! `palisade discover --flows FILE --out DIR`: proposed intents from observed
//! traffic, a starting point for a namespace that has none. The proposal is
//! loaded and compiled before anything is written, so what lands in DIR
//! passes `palisade check`.

use crate::{flows::FlowArgs, values::TextOrJson as Output, Exit};
use palisade_evidence::{
    discover::{DiscoverOptions, Known},
    suggest::WORKLOAD_LABELS,
    Requirements,
};
use palisade_intents::{Diag, Diags};
use std::path::PathBuf;

/// Arguments of `palisade discover`
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    flows: FlowArgs,
    /// Propose for this namespace only (repeatable; default: every namespace seen but kube-*)
    #[arg(long, short)]
    namespace: Vec<String>,
    /// Label keys that name a workload, in order of preference (repeatable)
    #[arg(long, default_values_t = WORKLOAD_LABELS.map(String::from))]
    label: Vec<String>,
    /// Targets for the proposed project (default: the layer that wrote the flows)
    #[arg(long, short, value_delimiter = ',', value_name = "TARGET", value_parser = crate::values::targets())]
    target: Vec<String>,
    /// The cluster's pod and service CIDRs, comma-separated, for the proposed
    /// project: NetworkPolicy and Calico address rules except them
    #[arg(long, value_delimiter = ',')]
    cluster_cidrs: Vec<ipnet::IpNet>,
    /// Intents already written: list their unseen services, use their minWindow
    ///
    /// A project folder. Its services that no flow shows are listed, and its
    /// evidence.minWindow is the minimum below which a namespace is too
    /// briefly seen to propose default deny for.
    #[arg(long, value_name = "DIR")]
    intents: Option<PathBuf>,
    /// Write the proposal here (palisade.yaml and one file per namespace); default: stdout
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Replace files already in OUT
    #[arg(long)]
    force: bool,
    /// `json`: the files and what they rest on, one document on stdout
    ///
    /// The window, how often and when each line was seen, the services no
    /// flow shows, and the namespaces seen too briefly for default deny.
    #[arg(long, short, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// Discover and write
pub fn run(args: &Args, sink: &mut Diags) -> Exit {
    let Some((evidence, cluster)) = args.flows.read(sink) else {
        return Exit::Input;
    };
    if evidence.flows.is_empty() {
        // Nothing seen is no evidence of a cluster without traffic: a
        // proposal from it would put every namespace on default deny.
        sink.push(
            Diag::error(
                "no_flows",
                "no conversation was observed: there is nothing to propose intents from",
            )
            .help("pass flow logs that hold records, or a longer `--since` for a store"),
        );
        return Exit::Input;
    }
    if let Err(diag) = namespaces_seen(&evidence, &args.namespace) {
        sink.push(diag);
        return Exit::Input;
    }
    let targets = if args.target.is_empty() {
        palisade_targets::kinds::for_flow_format(evidence.reads.first().map(|r| r.format.as_str()))
            .iter()
            .map(|d| d.id().to_string())
            .collect()
    } else {
        args.target.clone()
    };
    let fqdn = targets.iter().any(|t| {
        palisade_targets::dialect(t)
            .is_some_and(|d| d.capabilities().fqdn == palisade_targets::capabilities::FqdnSupport::Direct)
    });
    let written = match &args.intents {
        None => None,
        Some(dir) => match crate::workspace::load(dir, None, sink) {
            Some(ws) => Some(ws),
            None => return Exit::Input,
        },
    };
    let known = Known {
        ir: written.as_ref().map(|ws| &ws.ir),
        requirements: Requirements::new(written.as_ref().and_then(|ws| ws.repository.project.as_ref())),
    };
    let proposal = palisade_evidence::discover::discover_knowing(
        &evidence,
        cluster.as_ref(),
        &known,
        &DiscoverOptions {
            namespaces: args.namespace.clone(),
            workload_labels: args.label.clone(),
            targets,
            fqdn,
            cluster_cidrs: args.cluster_cidrs.clone(),
        },
    );
    // What is written must load and compile (discover compiled it to prune
    // what the intents refuse): a failure here is a bug, said as one.
    if let Some(diags) = &proposal.refused {
        sink.extend(diags.clone());
        sink.push(
            Diag::error(
                "internal",
                "the proposed intents do not compile: this is a palisade bug",
            )
            .help("please report it with the flow records that produced it"),
        );
        return Exit::Input;
    }
    crate::flows::print_reads(&evidence);
    for note in &proposal.notes {
        eprintln!("note: {note}");
    }
    if args.output == Output::Json {
        match serde_json::to_string_pretty(&proposal) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                sink.push(Diag::error(
                    "internal",
                    format!("cannot write the proposal as JSON: {e}"),
                ));
                return Exit::Input;
            }
        }
    }
    match &args.out {
        None if args.output == Output::Json => Exit::Ok,
        None => {
            // The project first, as a reader expects it.
            let mut docs: Vec<&str> = proposal
                .files
                .get("palisade.yaml")
                .map(String::as_str)
                .into_iter()
                .collect();
            docs.extend(
                proposal
                    .files
                    .iter()
                    .filter(|(k, _)| *k != "palisade.yaml")
                    .map(|(_, v)| v.as_str()),
            );
            print!("{}", docs.join("---\n"));
            Exit::Ok
        }
        Some(out) => match palisade_engine::output::write_files(out, &proposal.files, args.force) {
            Ok(()) => {
                let dir = out.display();
                eprintln!(
                    "wrote {} files to {dir}; next: `palisade check {dir}`, then `palisade audit {dir} --flows ...`",
                    proposal.files.len()
                );
                Exit::Ok
            }
            Err(diag) => {
                sink.push(diag);
                Exit::Input
            }
        },
    }
}

/// Each namespace of `-n` must be one the flows name: a mistyped one would
/// propose nothing for it and say nothing
fn namespaces_seen(evidence: &palisade_evidence::Evidence, asked: &[String]) -> Result<(), Diag> {
    let seen: std::collections::BTreeSet<&str> = evidence
        .flows
        .keys()
        .flat_map(|k| [&k.source.namespace, &k.destination.namespace])
        .filter_map(|ns| ns.as_deref())
        .collect();
    match asked.iter().find(|ns| !seen.contains(ns.as_str())) {
        None => Ok(()),
        Some(missing) => {
            let help = palisade_intents::diag::did_you_mean(missing, seen.iter().copied()).unwrap_or_else(|| {
                let listed: Vec<&str> = seen.iter().copied().collect();
                format!("the flows name: {}", listed.join(", "))
            });
            Err(Diag::error("namespace_not_seen", format!("no flow names namespace `{missing}`")).help(help))
        }
    }
}
