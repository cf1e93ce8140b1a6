//! `palisade lint PATH...`: the classic traps of hand-written policies, each
//! with its id, severity, object, place and fix. Exit 1 when an
//! error-severity check fires (or any check, with `--deny-warnings`), and on
//! bad input (an unreadable policy, an unknown check id).

use crate::{
    report::{self, sarif, Output},
    Exit,
};
use palisade_engine::manifests::{self, Origin};
use palisade_intents::{Diag, Diags, Severity};
use palisade_targets::{
    lint::{self, CHECKS},
    Manifest,
};
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
    /// Turn a check off for this run, by id or name (repeat it, or separate with commas); one object turns checks off with the annotation `palisade.dev/lint-disable: PAL002,PAL009`
    #[arg(long, value_name = "CHECK")]
    disable: Vec<String>,
    /// How the result is written: text (on stderr), or one document on stdout holding every finding: json, or sarif (SARIF 2.1.0, for code scanning)
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT", default_value_t)]
    output: Output,
    /// List the checks and exit
    #[arg(long)]
    list: bool,
}

/// A finding as printed: the diagnostic and the object it is about
struct Found {
    diag: Diag,
    object: Option<String>,
}

/// Lint and print
pub fn run(args: &Args, sink: &mut Diags, format: report::ErrorFormat) -> Exit {
    if args.list {
        for check in CHECKS {
            let severity = match check.severity {
                lint::Severity::Error => "error",
                lint::Severity::Warning => "warning",
            };
            println!("{} {:<24} {severity:<8} {}", check.id, check.name, check.summary);
        }
        return Exit::Ok;
    }
    let (count, found, exit) = match lint_paths(args) {
        Ok((count, found)) => {
            let errors = found.iter().filter(|f| f.diag.is_error()).count();
            let failed = errors > 0 || (args.deny_warnings && found.len() > errors);
            (Some(count), found, if failed { Exit::Input } else { Exit::Ok })
        }
        Err(diags) => {
            let found = diags.into_iter().map(|diag| Found { diag, object: None }).collect();
            (None, found, Exit::Input)
        }
    };
    match args.output {
        Output::Text => {
            for f in &found {
                sink.push(f.diag.clone());
            }
            if let (Some(count), true) = (count, format != report::ErrorFormat::Json) {
                eprintln!("palisade lint: {}", summary(count, &found));
            }
        }
        Output::Json => report::document(&json(count, &found)),
        Output::Sarif => report::document(&sarif_log(&found)),
    }
    exit
}

/// `4 manifests, 1 error, 2 warnings`
fn summary(count: usize, found: &[Found]) -> String {
    let errors = found.iter().filter(|f| f.diag.is_error()).count();
    let warnings = found.len() - errors;
    format!(
        "{count} manifests, {errors} error{}, {warnings} warning{}",
        if errors == 1 { "" } else { "s" },
        if warnings == 1 { "" } else { "s" }
    )
}

/// The manifests read and their findings, or why there are none to give
fn lint_paths(args: &Args) -> Result<(usize, Vec<Found>), Diags> {
    let disabled = lint::resolve(args.disable.iter().map(String::as_str)).map_err(|e| {
        let mut diags = Diags::new();
        let help = match e.suggestion() {
            Some(suggestion) => format!("{suggestion} `palisade lint --list` names every check"),
            None => "`palisade lint --list` names every check".to_string(),
        };
        diags.push(Diag::error("unknown_check", format!("--disable: {e}")).help(help));
        diags
    })?;
    let (manifests, origins) = manifests::read_located(&args.paths)?;
    let cluster = args.cluster.as_ref().map(|c| manifests::read_cluster(c)).transpose()?;
    // A policy no evaluator can read makes every check below guess: stop
    // first; so does an annotation that names no check (a typo would
    // silently turn nothing off).
    let mut problems = manifests::problems(&manifests, &origins);
    problems.extend(annotation_problems(&manifests, &origins));
    if problems.has_errors() {
        return Err(problems);
    }
    let found = lint::lint(&manifests, cluster.as_ref())
        .into_iter()
        .filter(|f| !disabled.contains(f.check))
        .map(|f| found(&f, &manifests, &origins))
        .collect();
    Ok((manifests.len(), found))
}

fn found(f: &lint::Finding, manifests: &[Manifest], origins: &[Origin]) -> Found {
    // A finding is never dropped: one of a check missing from the registry
    // is still printed, under its id
    let name = lint::check(f.check).map_or(f.check, |check| check.name);
    let object = manifests.get(f.manifest).map(Manifest::reference);
    let message = match &object {
        Some(object) => format!("[{name}] {object}: {}", f.message),
        None => format!("[{name}] {}", f.message),
    };
    let diag = match f.severity {
        lint::Severity::Error => Diag::error(f.check, message),
        lint::Severity::Warning => Diag::warning(f.check, message),
    };
    let diag = match origins.get(f.manifest) {
        Some(origin) => diag.at(&origin.locate(&f.pointer)),
        None => diag,
    };
    Found {
        diag: diag.help(f.fix.clone()),
        object,
    }
}

/// Every id of a `palisade.dev/lint-disable` annotation that names no check,
/// at the annotation
fn annotation_problems(manifests: &[Manifest], origins: &[Origin]) -> Diags {
    let mut diags = Diags::new();
    let pointer = format!("/metadata/annotations/{}", lint::DISABLE_ANNOTATION.replace('/', "~1"));
    for (index, manifest) in manifests.iter().enumerate() {
        let Some(written) = lint::disabled_by(manifest) else {
            continue;
        };
        for word in written.split(',') {
            if let Err(e) = lint::resolve([word]) {
                let help = e
                    .suggestion()
                    .map_or("`palisade lint --list` names every check".to_string(), str::to_string);
                let diag = Diag::error("unknown_check", format!("{}: {e}", lint::DISABLE_ANNOTATION)).help(help);
                diags.push(match origins.get(index) {
                    Some(origin) => diag.at(&origin.locate(&pointer)),
                    None => diag,
                });
            }
        }
    }
    diags
}

fn json(count: Option<usize>, found: &[Found]) -> serde_json::Value {
    let errors = found.iter().filter(|f| f.diag.is_error()).count();
    let findings: Vec<serde_json::Value> = found
        .iter()
        .map(|f| {
            let mut value = report::diag_json(&f.diag);
            value["object"] = serde_json::json!(f.object);
            value
        })
        .collect();
    serde_json::json!({
        "manifests": count,
        "errors": errors,
        "warnings": found.len() - errors,
        "findings": findings,
    })
}

fn sarif_log(found: &[Found]) -> serde_json::Value {
    let rules = CHECKS
        .iter()
        .map(|c| sarif::Rule {
            id: c.id,
            name: Some(c.name),
            summary: Some(c.summary),
            severity: match c.severity {
                lint::Severity::Error => Severity::Error,
                lint::Severity::Warning => Severity::Warning,
            },
        })
        .collect();
    let entries: Vec<sarif::Entry> = found
        .iter()
        .map(|f| sarif::Entry {
            object: f.object.clone(),
            ..sarif::Entry::of(&f.diag)
        })
        .collect();
    sarif::log(rules, &entries)
}
