//! `palisade verify DIR`: translation validation. The manifests (compiled now,
//! or a rendered folder given with `--manifests`, to catch hand edits) must
//! decide every connection of the representative model as the intents do.
//! `-o json|sarif` writes the result as one document on stdout for CI.

use crate::{
    report::{self, sarif, Output},
    workspace, Exit,
};
use palisade_compiler::ir::Ir;
use palisade_engine::manifests::{self, Origin};
use palisade_intents::{Diags, Loc, Severity};
use palisade_targets::{verify::Mismatch, Dialect, Manifest, Mode};
use std::{collections::BTreeMap, path::PathBuf};

/// Arguments of `palisade verify`
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    intents: workspace::IntentsArgs,
    /// Read the intents as they are at this git revision (no checkout needed)
    #[arg(long)]
    rev: Option<String>,
    /// A rendered folder (OUT of `compile --out OUT`) to check instead of compiling
    #[arg(long)]
    manifests: Option<PathBuf>,
    /// How the result is written: text (on stderr, the differences on stdout), or one document on stdout holding every difference and diagnostic: json, or sarif (SARIF 2.1.0, for code scanning)
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT", default_value_t)]
    output: Output,
}

/// The rule of a difference, in SARIF and JSON
const MISMATCH: &str = "mismatch";
/// What to do about a difference
const FIX: &str = "compile again (`palisade compile --out`), or change the intents to say what the manifests do";

/// What a verification that ran found
struct Verified {
    targets: Vec<&'static str>,
    pods: usize,
    outsides: usize,
    compared: usize,
    mismatches: Vec<Mismatch>,
    /// where each difference points: the deciding manifest as read, else
    /// the intent it came from
    places: Vec<Option<Loc>>,
}

/// Verify; exit 4 with every differing connection on a mismatch, 1 on bad input
///
/// With text output, an error format for machines (`--error-format
/// github|plain|json`) also gets each difference as a diagnostic at the rule
/// that decides it, so a pull request's diff is annotated where to look.
pub fn run(args: &Args, sink: &mut Diags, format: report::ErrorFormat) -> Exit {
    let mut diags = Diags::new();
    let verified = verify(args, &mut diags);
    let exit = match &verified {
        None => Exit::Input,
        Some(v) if !v.mismatches.is_empty() => Exit::Mismatch,
        Some(_) => Exit::Ok,
    };
    match args.output {
        Output::Text => {
            sink.extend(diags);
            if let Some(v) = &verified {
                print_text(v);
                if format != report::ErrorFormat::Human {
                    sink.extend(mismatch_diags(v));
                }
            }
        }
        Output::Json => report::document(&json(verified.as_ref(), &diags)),
        Output::Sarif => report::document(&sarif_log(verified.as_ref(), &diags)),
    }
    exit
}

fn print_text(v: &Verified) {
    let ids = v.targets.join(", ");
    if v.mismatches.is_empty() {
        println!(
            "verified: every connection between {} pods and {} outside addresses ({} decided) means the same in the intents and in {ids}",
            v.pods, v.outsides, v.compared,
        );
        return;
    }
    for mismatch in &v.mismatches {
        println!("{mismatch}");
    }
    println!(
        "verification failed: {} between the intents and {ids}",
        palisade_evidence::plural(v.mismatches.len(), "difference"),
    );
}

/// Each difference as a diagnostic at its place
fn mismatch_diags(v: &Verified) -> Diags {
    let mut diags = Diags::new();
    for (mismatch, place) in v.mismatches.iter().zip(&v.places) {
        diags.push(
            palisade_intents::Diag::error(MISMATCH, mismatch.to_string())
                .at_opt(place.as_ref())
                .help(FIX),
        );
    }
    diags
}

/// The manifests of each target with where each was read (none when compiled now)
type Read = Vec<(&'static dyn Dialect, Vec<Manifest>, Vec<Origin>)>;

/// Compile or read, then compare; `None` (and why, in `diags`) on bad input
fn verify(args: &Args, diags: &mut Diags) -> Option<Verified> {
    let (ws, dialects) = workspace::load_with_targets(
        &args.intents.dir,
        args.rev.as_deref(),
        &args.intents.targets.target,
        diags,
    )?;
    let rendered = match &args.manifests {
        None => compiled(&ws, &dialects, diags)?,
        Some(out) => read(out, &dialects, diags)?,
    };
    let mut model = palisade_compiler::model::synthesize(&ws.ir);
    // What the manifests name beyond the intents is probed too: a hand edit
    // that opens a namespace, a block or a port the intents never mention
    // would otherwise have no connection to be caught on
    palisade_targets::probes::add(&mut model, rendered.iter().flat_map(|(_, m, _)| m));
    let borrowed: Vec<(&dyn Dialect, &[Manifest])> = rendered.iter().map(|(d, m, _)| (*d, m.as_slice())).collect();
    let result = palisade_targets::verify::verify(&ws.ir, &model, &borrowed);
    drop(borrowed);
    let places = result.mismatches.iter().map(|m| place(m, &rendered, &ws.ir)).collect();
    let verified = Verified {
        targets: dialects.iter().map(|d| d.id()).collect(),
        pods: model.pods.len(),
        outsides: model.externals.len(),
        compared: result.compared,
        mismatches: result.mismatches,
        places,
    };
    workspace::leave((ws, rendered, model));
    Some(verified)
}

fn compiled(ws: &palisade_engine::Workspace, dialects: &[&'static dyn Dialect], diags: &mut Diags) -> Option<Read> {
    let (rendered, rendering) = workspace::render(ws, dialects, Mode::Enforce);
    if rendering.has_errors() {
        diags.extend(rendering);
        return None;
    }
    for (_, m) in &rendered {
        let problems = manifests::rendered_problems(m);
        if problems.has_errors() {
            diags.extend(problems);
            return None;
        }
    }
    Some(
        rendered
            .into_iter()
            .filter_map(|(id, m)| palisade_targets::dialect(id).map(|d| (d, m, Vec::new())))
            .collect(),
    )
}

fn read(out: &std::path::Path, dialects: &[&'static dyn Dialect], diags: &mut Diags) -> Option<Read> {
    let mut rendered = Vec::new();
    for dialect in dialects {
        match manifests::read_located(&[out.join(dialect.id())]) {
            Ok((m, origins)) => {
                let problems = manifests::problems(&m, &origins);
                if problems.has_errors() {
                    diags.extend(problems);
                    return None;
                }
                rendered.push((*dialect, m, origins));
            }
            Err(read) => {
                diags.extend(read);
                return None;
            }
        }
    }
    Some(rendered)
}

/// Where a difference is best looked at: the first deciding manifest in
/// the file it was read from, else the intent its `palisade.dev/source`
/// annotation names
fn place(mismatch: &Mismatch, rendered: &Read, ir: &Ir) -> Option<Loc> {
    let read = mismatch.rules.iter().find_map(|rule| {
        rendered.iter().find_map(|(_, manifests, origins)| {
            let index = manifests.iter().position(|m| m.reference() == rule.policy)?;
            let manifest = manifests.get(index)?;
            // `ingress[0]` is the rule's place in the spec; `isolates
            // ingress` and the like are the whole object's doing
            let pointer = rule
                .rule
                .strip_suffix(']')
                .and_then(|r| r.split_once('['))
                .map(|(list, n)| format!("/spec/{list}/{n}"))
                .filter(|p| manifest.object.pointer(p).is_some())
                .unwrap_or_else(|| "/metadata/name".to_string());
            origins.get(index).map(|o| o.locate(&pointer))
        })
    });
    read.or_else(|| {
        let sources = intent_sources(ir);
        mismatch
            .rules
            .iter()
            .filter_map(|rule| rule.source.as_deref())
            .flat_map(|s| s.split(", "))
            .find_map(|id| sources.get(id).cloned())
    })
}

/// Every intent's stable id (`file#rule`, what annotations name) and its place
fn intent_sources(ir: &Ir) -> BTreeMap<String, Loc> {
    let namespaces = ir.namespaces.values();
    let services = ir.namespaces.values().flat_map(|n| n.services.values());
    ir.edges
        .iter()
        .map(|e| &e.source)
        .chain(namespaces.clone().map(|n| &n.posture_source))
        .chain(namespaces.flat_map(|n| n.baseline.values()))
        .chain(services.clone().flat_map(|s| s.baseline.values()))
        .chain(services.map(|s| &s.source))
        .map(|s| (s.id(), s.loc.clone()))
        .collect()
}

fn json(verified: Option<&Verified>, diags: &Diags) -> serde_json::Value {
    let mismatches: Vec<serde_json::Value> = verified
        .into_iter()
        .flat_map(|v| v.mismatches.iter().zip(&v.places))
        .map(|(m, place)| {
            serde_json::json!({
                "connection": m.connection,
                "targets": m.targets,
                "intents": if m.expected { "allow" } else { "deny" },
                "manifests": if m.expected { "deny" } else { "allow" },
                "intent_rules": m.intents,
                "rules": m.rules.iter().map(|r| serde_json::json!({
                    "policy": r.policy,
                    "rule": r.rule,
                    "source": r.source,
                })).collect::<Vec<_>>(),
                "file": place.as_ref().map(|l| l.file.shown.clone()),
                "line": place.as_ref().map(Loc::line),
                "column": place.as_ref().map(Loc::column),
            })
        })
        .collect();
    serde_json::json!({
        "verified": verified.is_some_and(|v| v.mismatches.is_empty()),
        "targets": verified.map(|v| &v.targets),
        "pods": verified.map(|v| v.pods),
        "outside_addresses": verified.map(|v| v.outsides),
        "compared": verified.map(|v| v.compared),
        "mismatches": mismatches,
        "diagnostics": diags.iter().map(report::diag_json).collect::<Vec<_>>(),
    })
}

fn sarif_log(verified: Option<&Verified>, diags: &Diags) -> serde_json::Value {
    let rules = vec![sarif::Rule {
        id: MISMATCH,
        name: Some("manifests-differ-from-intents"),
        summary: Some("the manifests decide a connection otherwise than the intents (a hand edit, or a compiler bug)"),
        severity: Severity::Error,
    }];
    let mut entries: Vec<sarif::Entry> = diags.iter().map(sarif::Entry::of).collect();
    entries.extend(
        verified
            .into_iter()
            .flat_map(|v| v.mismatches.iter().zip(&v.places))
            .map(|(m, place)| sarif::Entry {
                code: MISMATCH,
                severity: Severity::Error,
                message: m.to_string(),
                help: Some(FIX.to_string()),
                place: place
                    .as_ref()
                    .map(|l| (l.file.shown.clone(), Some((l.line(), l.column())))),
                object: m.rules.first().map(|r| r.policy.clone()),
            }),
    );
    sarif::log(rules, &entries)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail by panicking")]

    use super::*;
    use palisade_targets::RuleRef;

    #[test]
    fn a_compiled_difference_points_at_the_intent_its_annotation_names() {
        let ws = palisade_engine::Workspace::load_dir(std::path::Path::new("examples/multi-namespace"))
            .unwrap_or_else(|d| panic!("{d:?}"));
        let mismatch = Mismatch {
            connection: "data/backup -> data/catalog-db tcp/5432".to_string(),
            targets: "kubernetes".to_string(),
            expected: true,
            rules: vec![RuleRef {
                policy: "NetworkPolicy data/catalog-db-ingress".to_string(),
                rule: "isolates ingress".to_string(),
                source: Some(
                    "intents/nowhere.yaml#gone, intents/data.yaml#backup-catalog-db-tcp-5432-1f2a".to_string(),
                ),
            }],
            intents: Vec::new(),
        };
        let loc = place(&mismatch, &Vec::new(), &ws.ir).unwrap();
        assert_eq!(
            (loc.file.shown.as_str(), loc.line()),
            ("examples/multi-namespace/intents/data.yaml", 12)
        );
    }
}
