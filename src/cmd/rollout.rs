//! `palisade rollout DIR --stage audit|enforce|auto`: the controller's rollout
//! for pipelines without the controller, through the same state machine and
//! applier. `auto` runs the audit gate on `--flows` and enforces only when
//! nothing observed would be dropped and the evidence is enough to tell (the
//! verdict `audit` prints); otherwise exit 3, with audit applied.
//! `--dry-run` prints the planned calls and contacts nothing;
//! `--server-dry-run` sends them with `dryRun=All`.

use crate::{flows::FlowArgs, workspace, Exit};
use clap::ValueEnum;
use palisade_controller::{
    apply::Applier,
    engine::{self, Call},
    rollout::{self, Input, Phase, Policy, State},
};
use palisade_intents::{Diag, Diags};
use palisade_targets::{Manifest, Mode};
use std::collections::BTreeMap;

/// Arguments of `palisade rollout`
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    intents: workspace::IntentsArgs,
    /// audit, enforce, or auto (enforce when the flows show nothing would be dropped)
    #[arg(long, value_enum)]
    stage: StageArg,
    /// The flows `--stage auto` decides by
    #[command(flatten)]
    flows: FlowArgs,
    /// Print the calls it would make; contact no cluster
    #[arg(long)]
    dry_run: bool,
    /// Send the calls with dryRun=All: the API server validates, persists nothing
    #[arg(long)]
    server_dry_run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StageArg {
    Audit,
    Enforce,
    Auto,
}

/// Roll out
pub fn run(args: &Args, sink: &mut Diags) -> Exit {
    let Some((ws, dialects)) =
        workspace::load_with_targets(&args.intents.dir, None, &args.intents.targets.target, sink)
    else {
        return Exit::Input;
    };
    let mut rendered: BTreeMap<&str, Vec<(&'static str, Vec<Manifest>)>> = BTreeMap::new();
    for (name, mode) in [("audit", Mode::Audit), ("enforce", Mode::Enforce)] {
        let (manifests, diags) = workspace::render(&ws, &dialects, mode);
        if diags.has_errors() {
            sink.extend(diags.clone());
            return Exit::Input;
        }
        rendered.insert(name, manifests);
    }
    let flat = |name: &str| -> Vec<Manifest> {
        rendered
            .get(name)
            .into_iter()
            .flatten()
            .flat_map(|(_, m)| m.iter().cloned())
            .collect()
    };
    let mut exit = Exit::Ok;
    let stage = match args.stage {
        StageArg::Audit => Phase::Auditing,
        StageArg::Enforce => Phase::Enforcing,
        StageArg::Auto => {
            if args.flows.flows.is_empty() {
                sink.push(
                    Diag::error("auto_needs_flows", "`--stage auto` decides by observed traffic")
                        .help("pass --flows FILE (Hubble, Calico or Envoy records), or choose --stage audit|enforce"),
                );
                return Exit::Input;
            }
            let Some((evidence, cluster)) = args.flows.read_for_gate(sink) else {
                return Exit::Input;
            };
            let enforce = rendered.get("enforce").map(Vec::as_slice).unwrap_or_default();
            // The gate `audit` prints: one computation, the same verdict.
            let gate = crate::cmd::audit::gate(&ws, enforce, &evidence, cluster.as_ref(), args.flows.max_gap);
            eprint!("{}", crate::cmd::audit::verdict_text(&gate.evidence));
            // The sentence `audit` opens with, so both commands say the same.
            let (outcome, reason) = crate::cmd::audit::outcome(&gate);
            if gate.passes {
                eprintln!("the audit gate {outcome}: {reason}");
                Phase::Enforcing
            } else {
                eprintln!("the audit gate {outcome}: {reason}; applying audit only");
                for group in gate.report.groups.iter().filter(|g| g.works_today) {
                    eprintln!(
                        "  {} -> {}: add `{}` to {}",
                        group.source, group.destination, group.intent, group.add_to
                    );
                }
                exit = Exit::WouldDrop;
                Phase::Auditing
            }
        }
    };
    // The controller's own transitions: a first audit, or an approved promotion.
    let policy = Policy::default();
    let actions = match stage {
        Phase::Enforcing => {
            let ready = State {
                phase: Phase::Ready,
                generation: 1,
                ..State::new(0)
            };
            rollout::step(&ready, &Input::Approve, 0, &policy).1
        }
        _ => rollout::step(&State::new(0), &Input::IntentsChanged(1), 0, &policy).1,
    };
    let names: BTreeMap<String, String> = ws
        .repository
        .intents
        .iter()
        .map(|i| (i.namespace.value.clone(), i.name.value.clone()))
        .collect();
    let owned = engine::owned(flat("audit"), flat("enforce"), |ns| match names.get(ns) {
        Some(name) => format!("{ns}.{name}"),
        None if ns.is_empty() => "cluster".to_string(),
        None => format!("{ns}.palisade"),
    });
    let calls: Vec<Call> = owned.iter().flat_map(|set| engine::calls(set, &actions)).collect();
    if args.dry_run {
        for call in &calls {
            for line in call.describe() {
                println!("{line}");
            }
        }
        return exit;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            sink.push(Diag::error("io", format!("cannot start the runtime: {e}")));
            return Exit::Input;
        }
    };
    let result = runtime.block_on(async {
        let client = palisade_controller::connect()
            .await
            .map_err(|e| format!("cannot reach the cluster: {e}"))?;
        let applier = Applier::new(client, args.server_dry_run);
        engine::execute(&applier, &calls).await.map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => {
            println!(
                "rolled out: {} calls{}",
                calls.len(),
                if args.server_dry_run { " (server dry run)" } else { "" }
            );
            exit
        }
        Err(message) => {
            sink.push(
                Diag::error("cluster", message)
                    .help("check the kubeconfig context, and the RBAC of deploy/ (kubectl auth can-i)"),
            );
            Exit::Input
        }
    }
}
