//! `palisade migrate PATH... --to TARGET --out OUT`: import the existing
//! policies, compile the intents for the new target, and compare old and new
//! manifests on the model: every connection whose verdict differs is listed
//! (none is the goal). Where the new target cannot express an intent, its
//! refusal says what to choose instead. Exit 2 when some connection differs.

use crate::{
    cmd::import::{Output, Summary},
    Exit,
};
use palisade_engine::TargetSet;
use palisade_intents::Diags;
use palisade_targets::{
    equivalence::{compare, Decider},
    Manifest, Mode,
};
use std::path::PathBuf;

/// Arguments of `palisade migrate`
#[derive(clap::Args)]
pub struct Args {
    /// Policy files or folders (any mix of NetworkPolicy, Cilium and Calico)
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The target(s) to migrate to, comma-separated (e.g. `cilium`)
    #[arg(long, short, required = true, value_delimiter = ',', value_name = "TARGET", value_parser = crate::values::targets())]
    target: Vec<String>,
    /// Write OUT/intents (the imported intents) and OUT/<target> (the new manifests)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The API server's address (Cilium's `kube-apiserver` entity becomes `kube-api`)
    #[arg(long)]
    api_server: Option<ipnet::IpNet>,
    /// The cluster's pod and service CIDRs, comma-separated: address rules of
    /// the imported policies except them (NetworkPolicy and Calico match pod
    /// addresses too); without them such rules are refused
    #[arg(long, value_delimiter = ',')]
    cluster_cidrs: Vec<ipnet::IpNet>,
    /// A cluster dump (`kubectl get ns,pods -A -o yaml`)
    #[arg(long)]
    cluster: Option<PathBuf>,
    /// Replace files already in OUT
    #[arg(long)]
    force: bool,
    /// text or json
    #[arg(long, short, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// Migrate and compare
pub fn run(args: &Args, sink: &mut Diags) -> Exit {
    let Ok(m) = palisade_engine::migration::import(
        &args.paths,
        args.cluster.as_ref(),
        args.api_server,
        &args.cluster_cidrs,
        &args.target,
    )
    .map_err(|diags| sink.extend(diags.clone())) else {
        return Exit::Input;
    };
    let Ok(targets) = TargetSet::resolve(None, &args.target).map_err(|diags| sink.extend(diags.clone())) else {
        return Exit::Input;
    };
    let (rendered, diags) = palisade_engine::render::render_ir(&m.ir, &targets, Mode::Enforce, |m| m);
    if diags.has_errors() {
        sink.extend(diags.clone());
        return Exit::Input;
    }
    let new: Vec<Manifest> = rendered.iter().flat_map(|(_, m)| m.iter().cloned()).collect();
    let comparison = compare(&m.model, &Decider::manifests(&m.originals), &Decider::manifests(&new));
    let mut files: std::collections::BTreeMap<String, String> = m
        .files
        .iter()
        .map(|(k, v)| (format!("intents/{k}"), v.clone()))
        .collect();
    for (target, folder) in palisade_engine::output::layout(&rendered) {
        files.extend(
            folder
                .into_iter()
                .map(|(path, text)| (format!("{target}/{path}"), text)),
        );
    }
    if let Err(diag) = palisade_engine::output::write_files(&args.out, &files, args.force) {
        sink.push(diag);
        return Exit::Input;
    }
    let summary = Summary {
        written_to: Some(args.out.display().to_string()),
        files: vec![
            "intents/".into(),
            args.target
                .iter()
                .map(|t| format!("{t}/"))
                .collect::<Vec<_>>()
                .join(", "),
        ],
        contents: None,
        losses: m.losses,
        compared: comparison.compared,
        differences: comparison.differences,
    };
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&summary).unwrap_or_default()),
        Output::Text => print!(
            "{}",
            summary.text("the migration", &format!("the {} manifests", args.target.join("+")))
        ),
    }
    if summary.differences.is_empty() {
        Exit::Ok
    } else {
        Exit::Changed
    }
}
