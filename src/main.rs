//! The `palisade` command line: parses arguments and dispatches to `cmd::*`.
//! Everything that can go wrong in the input comes back as diagnostics, which
//! are printed here in the chosen format, and as an exit code.

// Compiling a large repository builds and drops millions of small JSON
// values; mimalloc does that in two thirds of the system allocator's time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cmd;
mod flows;
mod git;
mod graph;
mod progress;
mod report;
mod values;
mod workspace;

use clap::{Parser, Subcommand};
use report::ErrorFormat;
use std::process::ExitCode;

/// Compile network intents into Kubernetes, Calico, Cilium and Istio policies
#[derive(Parser)]
#[command(name = "palisade", version, about, propagate_version = true)]
struct Cli {
    /// How diagnostics are printed: human (colours, snippets), plain, json, github
    #[arg(long, global = true, value_enum, default_value_t = ErrorFormat::Human, env = "PALISADE_ERROR_FORMAT")]
    error_format: ErrorFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compile intents into manifests for one or more targets
    Compile(cmd::compile::Args),
    /// Check intents for errors and warnings without writing anything
    Check(cmd::check::Args),
    /// Print the JSON Schema of the Intents and Project kinds
    Schema(cmd::schema::Args),
    /// Show what each target can express
    Targets(cmd::targets::Args),
    /// Decide connections on a cluster dump by policies of any dialect
    Simulate(cmd::simulate::Args),
    /// Prove the manifests mean what the intents say (translation validation)
    Verify(cmd::verify::Args),
    /// Say whether a connection is allowed, by which intent and which rule
    Explain(cmd::explain::Args),
    /// What a change opens and closes between two git revisions
    Plan(cmd::plan::Args),
    /// Judge observed flows against the enforce manifests (exit 3: something would be dropped)
    Audit(cmd::audit::Args),
    /// Propose intents from observed flows
    Discover(cmd::discover::Args),
    /// Keep flow logs in a store, aggregated per conversation and hour: ingest, show, prune
    Evidence(cmd::evidence::Args),
    /// Turn existing policies into intents, and prove they mean the same (exit 2: they do not)
    Import(cmd::import::Args),
    /// Roll out to the cluster: audit, enforce, or auto (enforce when the flows allow it)
    Rollout(cmd::rollout::Args),
    /// Run the in-cluster controller (staged rollout of every Intents resource)
    Controller(cmd::controller::Args),
    /// Print the CustomResourceDefinitions of Intents and Project
    Crds(cmd::crds::Args),
    /// Print the namespaced Roles the controller needs to write what these intents render
    Rbac(cmd::rbac::Args),
    /// Find the classic traps in existing policies (exit 1 on errors)
    Lint(cmd::lint::Args),
    /// Move existing policies to another target, listing every connection that changes
    Migrate(cmd::migrate::Args),
    /// Draw the service map (dot, mermaid or one HTML page), with observed traffic by verdict
    Graph(cmd::graph::Args),
    /// One HTML page: compile, verify and audit, per namespace, with the map
    Report(cmd::report::Args),
    /// Print the completion script of a shell (bash, zsh, fish, elvish, powershell)
    Completions(cmd::completions::Args),
    /// Print a man page (roff): `palisade man compile | man -l -`, or all with `--out DIR`
    Man(cmd::completions::ManArgs),
}

impl Cli {
    /// The command tree, for completions and the man page
    fn command_for_tools() -> clap::Command {
        Self::tree()
    }

    /// The derived tree, with `--flows` required where the flows are the
    /// command's work: one definition of the flow flags, required per command
    fn tree() -> clap::Command {
        let tree = flows::NEED_FLOWS
            .iter()
            .fold(<Cli as clap::CommandFactory>::command(), |tree, name| {
                tree.mut_subcommand(name, |command| {
                    command.mut_arg("flows", |arg| arg.required_unless_present("store"))
                })
            });
        // Ingest reads files into a store: both are its work, a window is not.
        tree.mut_subcommand("evidence", |evidence| {
            evidence.mut_subcommand("ingest", |ingest| {
                ingest
                    .mut_arg("flows", |arg| arg.required(true))
                    .mut_arg("store", |arg| arg.required(true))
                    .mut_arg("since", |arg| arg.hide(true))
            })
        })
    }
}

/// Exit codes every command keeps
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// success
    Ok = 0,
    /// the input is wrong (diagnostics on stderr)
    Input = 1,
    /// `plan --detailed-exitcode`: connectivity changes; `import`, `migrate`:
    /// some connection is decided differently
    Changed = 2,
    /// `audit`: enforcing would drop observed traffic that works today
    WouldDrop = 3,
    /// `verify`, `explain`: the manifests do not mean the intents
    Mismatch = 4,
    /// `explain`: the intents and every target deny the connection
    Denied = 5,
    /// the reader closed stdout (`| head`): what a process killed by SIGPIPE
    /// returns, so that `set -o pipefail` never reads a cut-off gate as passed
    ClosedPipe = 141,
}

/// A closed stdout or stderr ends the process quietly with [`Exit::ClosedPipe`]:
/// the standard library's `print!` and `eprint!` panic on EPIPE, and a panic message (exit
/// 101) under `| head` reads like a crash. Any other panic reports as before.
fn quiet_on_closed_pipe() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        let printing =
            message.starts_with("failed printing to stdout") || message.starts_with("failed printing to stderr");
        if printing && message.contains("Broken pipe") {
            std::process::exit(Exit::ClosedPipe as i32);
        }
        report(info);
    }));
}

/// The command as this process was started: `kubectl palisade` when kubectl
/// runs it as its plugin (an executable named `kubectl-palisade` on PATH)
fn command() -> clap::Command {
    let invoked = std::env::args_os().next().and_then(|arg| {
        std::path::Path::new(&arg)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
    });
    let command = Cli::tree();
    if invoked.as_deref() == Some("kubectl-palisade") {
        command.bin_name("kubectl palisade").display_name("kubectl palisade")
    } else {
        command
    }
}

fn main() -> ExitCode {
    use clap::FromArgMatches;
    quiet_on_closed_pipe();
    let matches = match command().try_get_matches() {
        Ok(matches) => matches,
        // DESIGN.md, exit codes: a usage error is bad input (1), never the 2 of
        // a difference, or a CI step that accepts 2 lets a typo through
        Err(e) if e.use_stderr() => {
            let _ = e.print();
            return ExitCode::from(Exit::Input as u8);
        }
        Err(e) => e.exit(),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(Exit::Input as u8);
        }
    };
    let format = cli.error_format;
    // Every command hands its diagnostics back; they are printed once, here.
    let mut sink = palisade_intents::Diags::new();
    let exit = match cli.command {
        Command::Compile(args) => cmd::compile::run(&args, &mut sink),
        Command::Check(args) => cmd::check::run(&args, &mut sink),
        Command::Schema(args) => cmd::schema::run(&args),
        Command::Targets(args) => cmd::targets::run(&args),
        Command::Simulate(args) => cmd::simulate::run(&args, &mut sink),
        Command::Verify(args) => cmd::verify::run(&args, &mut sink, format),
        Command::Explain(args) => cmd::explain::run(&args, &mut sink),
        Command::Plan(args) => cmd::plan::run(&args, &mut sink),
        Command::Audit(args) => cmd::audit::run(&args, &mut sink),
        Command::Discover(args) => cmd::discover::run(&args, &mut sink),
        Command::Evidence(args) => cmd::evidence::run(&args, &mut sink),
        Command::Import(args) => cmd::import::run(&args, &mut sink),
        Command::Migrate(args) => cmd::migrate::run(&args, &mut sink),
        Command::Lint(args) => cmd::lint::run(&args, &mut sink, format),
        Command::Graph(args) => cmd::graph::run(&args, &mut sink),
        Command::Report(args) => cmd::report::run(&args, &mut sink),
        Command::Completions(args) => cmd::completions::run(&args, Cli::command_for_tools()),
        Command::Man(args) => cmd::completions::man(&args, Cli::command_for_tools(), &mut sink),
        Command::Crds(args) => cmd::crds::run(&args),
        Command::Rbac(args) => cmd::rbac::run(&args, &mut sink),
        Command::Controller(args) => cmd::controller::run(&args, &mut sink),
        Command::Rollout(args) => cmd::rollout::run(&args, &mut sink),
    };
    report::print(&sink, format);
    ExitCode::from(exit as u8)
}

#[cfg(test)]
mod tests {
    use super::Cli;

    /// The flags a user learns once: `-o/--output` is the output format,
    /// `--out` a path with no short form, the flow flags one group, and no
    /// flag named for two things
    #[test]
    fn every_command_follows_the_flag_conventions() {
        let tree = Cli::tree();
        tree.clone().debug_assert();
        for command in tree.get_subcommands() {
            let name = command.get_name();
            for arg in command.get_arguments() {
                let flag = format!("{name} --{}", arg.get_long().unwrap_or_default());
                match arg.get_long() {
                    Some("output") => assert_eq!(arg.get_short(), Some('o'), "{flag}: -o/--output"),
                    Some("out") => assert_eq!(arg.get_short(), None, "{flag}: a path has no short flag"),
                    Some("format") => panic!("{flag}: name the format `--output` or `--flow-format`"),
                    Some("to") => assert_eq!(name, "simulate", "{flag}: `--to` is a connection's destination"),
                    _ => assert_ne!(arg.get_short(), Some('o'), "{flag}: -o is --output"),
                }
            }
        }
        // The controller's `--flows` is a file it follows, not this group.
        for reads_flows in ["audit", "discover", "rollout", "graph", "report"] {
            let command = tree.find_subcommand(reads_flows);
            let has = |long: &str| command.is_some_and(|c| c.get_arguments().any(|a| a.get_long() == Some(long)));
            for flag in ["flows", "flow-format", "cluster", "max-gap"] {
                assert!(has(flag), "{reads_flows} --{flag}: the flow flags come as one group");
            }
        }
    }
}
