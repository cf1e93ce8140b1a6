//! `palisade lint PATH...`: the classic traps of hand-written policies, each
//! with its id, severity, place and fix. Exit 1 when an error-severity check
//! fires (or any check, with `--deny-warnings`).

use crate::Exit;
use palisade_engine::manifests;
use palisade_intents::{Diag, Diags};
use palisade_targets::lint::{self, Severity, CHECKS};
use std::path::PathBuf;

/// Arguments of `palisade lint`
#[derive(clap::Args)]
pub struct Args {
    /// Policy files or folders (NetworkPolicy, Cilium, Calico, Istio)
    #[arg(required_unless_present = "list")]
    paths: Vec<PathBuf>,
    /// A cluster dump (`kubectl get ns,pods -A -o yaml`): finds policies that select no pod
    #[arg(long)]
    cluster: Option<PathBuf>,
    /// Fail (exit 1) on warnings too
    #[arg(long)]
    deny_warnings: bool,
    /// List the checks and exit
    #[arg(long)]
    list: bool,
}

/// Lint and print
pub fn run(args: &Args, sink: &mut Diags, format: crate::report::ErrorFormat) -> Exit {
    if args.list {
        for check in CHECKS {
            let severity = match check.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            println!("{} {:<24} {severity:<8} {}", check.id, check.name, check.summary);
        }
        return Exit::Ok;
    }
    let (manifests, origins) = match manifests::read_located(&args.paths) {
        Ok(read) => read,
        Err(diags) => {
            sink.extend(diags.clone());
            return Exit::Input;
        }
    };
    let cluster = match args.cluster.as_ref().map(|c| manifests::read_cluster(c)).transpose() {
        Ok(c) => c,
        Err(diags) => {
            sink.extend(diags.clone());
            return Exit::Input;
        }
    };
    // A policy no evaluator can read makes every check below guess: stop first.
    let problems = manifests::problems(&manifests, &origins);
    if problems.has_errors() {
        sink.extend(problems.clone());
        return Exit::Input;
    }
    let findings = lint::lint(&manifests, cluster.as_ref());
    let mut diags = Diags::new();
    for f in &findings {
        // A finding is never dropped: one of a check missing from the
        // registry is still printed, under its id
        let name = lint::check(f.check).map_or(f.check, |check| check.name);
        let message = format!("[{name}] {}", f.message);
        let diag = match f.severity {
            Severity::Error => Diag::error(f.check, message),
            Severity::Warning => Diag::warning(f.check, message),
        };
        let diag = match origins.get(f.manifest) {
            Some(origin) => diag.at(&origin.locate(&f.pointer)),
            None => diag,
        };
        diags.push(diag.help(f.fix.clone()));
    }
    sink.extend(diags.clone());
    let errors = findings.iter().filter(|f| f.severity == Severity::Error).count();
    let warnings = findings.len() - errors;
    if format != crate::report::ErrorFormat::Json {
        eprintln!(
            "palisade lint: {} manifests, {errors} error{}, {warnings} warning{}",
            manifests.len(),
            if errors == 1 { "" } else { "s" },
            if warnings == 1 { "" } else { "s" }
        );
    }
    if errors > 0 || (args.deny_warnings && warnings > 0) {
        Exit::Input
    } else {
        Exit::Ok
    }
}
