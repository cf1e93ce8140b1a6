//! `palisade rollout DIR --stage audit|enforce|auto`: the controller's rollout
//! for pipelines without the controller, through the same state machine and
//! applier. `auto` runs the audit gate on `--flows` and enforces only when
//! nothing observed would be dropped (exit 3 otherwise, with audit applied).
//! `--dry-run` prints the planned calls and contacts nothing;
//! `--server-dry-run` sends them with `dryRun=All`.

use crate::{
    flows::FlowArgs,
    report::{self, ErrorFormat},
    workspace, Exit,
};
use clap::ValueEnum;
use palisade_controller::{
    apply::Applier,
    engine::{self, Call},
    rollout::{self, Input, Phase, Policy, State},
};
use palisade_intents::Diag;
use palisade_targets::{Dialect, Manifest, Mode};
use std::collections::BTreeMap;

/// Arguments of `palisade rollout`
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    intents: workspace::IntentsArgs,
    /// audit, enforce, or auto (enforce when the flows show nothing would be dropped)
    #[arg(long, value_enum)]
    stage: StageArg,
    /// Flow logs for `--stage auto` (repeatable; `-` is stdin)
    #[arg(long)]
    flows: Vec<std::path::PathBuf>,
    /// The flow format (default: recognised)
    #[arg(long)]
    format: Option<String>,
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
pub fn run(args: &Args, format: ErrorFormat) -> Exit {
    let Some((ws, dialects)) = workspace::load_with_targets(&args.intents.dir, None, &args.intents.target, format)
    else {
        return Exit::Input;
    };
    let mut rendered: BTreeMap<&str, Vec<(&str, Vec<Manifest>)>> = BTreeMap::new();
    for (name, mode) in [("audit", Mode::Audit), ("enforce", Mode::Enforce)] {
        let (manifests, diags) = workspace::render(&ws, &dialects, mode);
        if diags.has_errors() {
            report::print(&diags, format);
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
            if args.flows.is_empty() {
                report::print_one(
                    Diag::error("auto_needs_flows", "`--stage auto` decides by observed traffic")
                        .help("pass --flows FILE (Hubble, Calico or Envoy records), or choose --stage audit|enforce"),
                    format,
                );
                return Exit::Input;
            }
            let flow_args = FlowArgs {
                flows: args.flows.clone(),
                format: args.format.clone(),
                cluster: None,
            };
            let Some((evidence, _)) = flow_args.read(format) else {
                return Exit::Input;
            };
            let enforce: Vec<(&dyn Dialect, &[Manifest])> = rendered
                .get("enforce")
                .into_iter()
                .flatten()
                .filter_map(|(id, m)| palisade_targets::dialect(id).map(|d| (d, m.as_slice())))
                .collect();
            let files = ws
                .repository
                .intents
                .iter()
                .map(|i| (i.namespace.value.clone(), i.namespace.loc.file.path.clone()))
                .collect();
            let gate = palisade_evidence::audit(&evidence, &ws.ir, &files, None, &enforce, Default::default());
            if gate.would_break() {
                eprintln!("the audit gate holds: enforcing would drop observed traffic; applying audit only");
                for group in gate.groups.iter().filter(|g| g.works_today) {
                    eprintln!(
                        "  {} -> {}: add `{}` to {}",
                        group.source, group.destination, group.intent, group.add_to
                    );
                }
                exit = Exit::WouldDrop;
                Phase::Auditing
            } else {
                eprintln!(
                    "the audit gate passes: {} observed connections, nothing would be dropped",
                    gate.judged
                );
                Phase::Enforcing
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
            report::print_one(Diag::error("io", format!("cannot start the runtime: {e}")), format);
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
            report::print_one(
                Diag::error("cluster", message)
                    .help("check the kubeconfig context, and the RBAC of deploy/ (kubectl auth can-i)"),
                format,
            );
            Exit::Input
        }
    }
}
