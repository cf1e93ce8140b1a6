//! `palisade verify DIR`: translation validation. The manifests (compiled now,
//! or a rendered folder given with `--manifests`, to catch hand edits) must
//! decide every connection of the representative model as the intents do.

use crate::{workspace, Exit};
use palisade_engine::manifests;
use palisade_intents::Diags;
use palisade_targets::{Dialect, Manifest, Mode};
use std::path::PathBuf;

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
}

/// Verify; exit 4 with every differing connection on a mismatch, 1 on bad input
pub fn run(args: &Args, sink: &mut Diags) -> Exit {
    let Some((ws, dialects)) =
        workspace::load_with_targets(&args.intents.dir, args.rev.as_deref(), &args.intents.target, sink)
    else {
        return Exit::Input;
    };
    let rendered: Vec<(&'static dyn Dialect, Vec<Manifest>)> = match &args.manifests {
        None => {
            let (rendered, diags) = workspace::render(&ws, &dialects, Mode::Enforce);
            if diags.has_errors() {
                sink.extend(diags.clone());
                return Exit::Input;
            }
            for (_, m) in &rendered {
                let problems = manifests::rendered_problems(m);
                if problems.has_errors() {
                    sink.extend(problems.clone());
                    return Exit::Input;
                }
            }
            rendered
                .into_iter()
                .filter_map(|(id, m)| palisade_targets::dialect(id).map(|d| (d, m)))
                .collect()
        }
        Some(out) => {
            let mut rendered = Vec::new();
            for dialect in &dialects {
                match manifests::read_located(&[out.join(dialect.id())]) {
                    Ok((m, origins)) => {
                        let problems = manifests::problems(&m, &origins);
                        if problems.has_errors() {
                            sink.extend(problems.clone());
                            return Exit::Input;
                        }
                        rendered.push((*dialect, m));
                    }
                    Err(diags) => {
                        sink.extend(diags.clone());
                        return Exit::Input;
                    }
                }
            }
            rendered
        }
    };
    let mut model = palisade_compiler::model::synthesize(&ws.ir);
    // What the manifests name beyond the intents is probed too: a hand edit
    // that opens a namespace, a block or a port the intents never mention
    // would otherwise have no connection to be caught on
    palisade_targets::probes::add(&mut model, rendered.iter().flat_map(|(_, m)| m));
    let borrowed: Vec<(&dyn Dialect, &[Manifest])> = rendered.iter().map(|(d, m)| (*d, m.as_slice())).collect();
    let result = palisade_targets::verify::verify(&ws.ir, &model, &borrowed);
    let (pods, outsides) = (model.pods.len(), model.externals.len());
    drop(borrowed);
    workspace::leave((ws, rendered, model));
    let ids: Vec<&str> = dialects.iter().map(|d| d.id()).collect();
    if result.mismatches.is_empty() {
        println!(
            "verified: every connection between {} pods and {} outside addresses ({} decided) means the same in the intents and in {}",
            pods,
            outsides,
            result.compared,
            ids.join(", ")
        );
        return Exit::Ok;
    }
    for mismatch in &result.mismatches {
        println!("{mismatch}");
    }
    println!(
        "verification failed: {} difference(s) between the intents and {}",
        result.mismatches.len(),
        ids.join(", ")
    );
    Exit::Mismatch
}
