//! `palisade evidence ingest|follow|show|prune --store URL`: flow logs kept
//! in a store, aggregated per conversation and hour, so that evidence
//! outlives the files and processes that saw it (a week, not Hubble's last
//! minutes). `follow` takes a growing file or Hubble Relay's stream, with
//! checkpoints to resume from after a restart.

use crate::values::TextOrJson as Output;
use crate::{flows::FlowArgs, Exit};
use palisade_evidence::{cron::human, Evidence};
use palisade_intents::{Diag, Diags};
use palisade_store::{FileMark, Ingested, Store, StoreError, Summary, Window};
use palisade_targets::flows::{self, format_time, FlowFormat, StreamError};
use std::path::PathBuf;
use std::sync::{atomic::AtomicBool, Arc};
use std::time::Duration;

/// Arguments of `palisade evidence`
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Add flow logs to a store (aggregated per conversation and hour)
    Ingest(IngestArgs),
    /// Follow a growing flow log or Hubble Relay into a store until Ctrl-C
    /// or SIGTERM; a restart resumes where the last checkpoint stopped
    Follow(FollowArgs),
    /// What a store holds: its window, coverage per namespace and service,
    /// gaps and the busiest conversations
    Show(ShowArgs),
    /// Forget evidence older than `--keep` (retention)
    Prune(PruneArgs),
}

/// Arguments of `palisade evidence ingest`
#[derive(clap::Args)]
struct IngestArgs {
    /// The flows to store, and `--store` where (`sqlite:PATH` or a file
    /// path, created if missing)
    #[command(flatten)]
    flows: FlowArgs,
    /// Ingest a file even if this store took it before (its flows then
    /// count twice)
    #[arg(long)]
    again: bool,
}

/// Arguments of `palisade evidence follow`
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("followed").required(true).multiple(false)))]
struct FollowArgs {
    /// The flow store: `sqlite:PATH` or a file path, created if missing
    #[arg(long, value_name = "URL")]
    store: String,
    /// A flow log to follow as it grows, like `tail -F` (rotation and
    /// truncation are followed)
    #[arg(long, value_name = "FILE", group = "followed")]
    flows: Option<PathBuf>,
    /// Hubble Relay's gRPC address to follow (Cilium's:
    /// hubble-relay.kube-system.svc.cluster.local:80)
    #[arg(long, value_name = "HOST:PORT", group = "followed")]
    hubble_relay: Option<String>,
    /// How often what was taken is written, with the position to resume from
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = crate::flows::duration_ms)]
    flush_every: i64,
}

/// Arguments of `palisade evidence show`
#[derive(clap::Args)]
struct ShowArgs {
    /// The flow store: `sqlite:PATH` or a file path
    #[arg(long, value_name = "URL")]
    store: String,
    /// How far back from the newest stored record to look: `90m`, `24h`, `7d`
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = crate::flows::duration_ms)]
    since: i64,
    /// Minutes without any flow of a namespace that count as a gap in its evidence
    #[arg(long, value_name = "MINUTES", default_value_t = 10, value_parser = clap::value_parser!(i64).range(1..=527_040))]
    max_gap: i64,
    /// Output format
    #[arg(long, short, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// Arguments of `palisade evidence prune`
#[derive(clap::Args)]
struct PruneArgs {
    /// The flow store: `sqlite:PATH` or a file path
    #[arg(long, value_name = "URL")]
    store: String,
    /// How much to keep, back from the newest stored record: `30d`, `24h`
    #[arg(long, value_name = "DURATION", value_parser = crate::flows::duration_ms)]
    keep: i64,
}

/// Run `palisade evidence`
pub fn run(args: &Args, sink: &mut Diags) -> Exit {
    let done = match &args.command {
        Command::Ingest(a) => ingest(a, sink),
        Command::Follow(a) => return follow(a, sink),
        Command::Show(a) => show(a),
        Command::Prune(a) => prune(a),
    };
    match done {
        Ok(exit) => exit,
        Err(e) => {
            sink.push(Diag::error("store", e.to_string()).help(e.help()));
            Exit::Input
        }
    }
}

fn ingest(args: &IngestArgs, sink: &mut Diags) -> Result<Exit, StoreError> {
    let Some((reader, files)) = inputs(&args.flows, sink) else {
        return Ok(Exit::Input);
    };
    if args.flows.cluster.is_some() {
        sink.push(
            Diag::warning(
                "cluster_not_read",
                "`ingest` stores flows as they were recorded and does not read `--cluster`",
            )
            .help("pass the cluster dump to `audit` or `discover`, which place the stored flows on it"),
        );
    }
    let Some(url) = &args.flows.store else {
        sink.push(
            Diag::error("no_store", "`evidence ingest` needs the store to add to")
                .help("pass `--store sqlite:PATH` (created if missing)"),
        );
        return Ok(Exit::Input);
    };
    let mut store = Store::open(url)?;
    let formats = flows::formats();
    let mut total = 0;
    let marks = files
        .iter()
        .map(|path| FileMark::of(path))
        .collect::<std::io::Result<Vec<_>>>();
    let marks = match marks {
        Ok(marks) => marks,
        Err(e) => {
            sink.push(Diag::error("io", format!("cannot read the flow logs: {e}")));
            return Ok(Exit::Input);
        }
    };
    for (path, mark) in files.iter().zip(&marks) {
        let held = match mark {
            Some(mark) => store.already_ingested(mark)?,
            None => Ingested::No,
        };
        if held != Ingested::No && !args.again {
            let (what, help) = match held {
                Ingested::Part => (
                    "the first part of",
                    "an earlier ingest of it stopped midway: prune the store back to before it (`evidence prune --keep`), or pass --again to count that part twice",
                ),
                _ => ("", "ingest only the files that are new, or pass --again to count this one again"),
            };
            sink.push(
                Diag::error(
                    "already_ingested",
                    format!(
                        "`{}` holds {what}`{}` already: its flows would count twice",
                        store.name(),
                        path.display(),
                    ),
                )
                .help(help),
            );
            return Ok(Exit::Input);
        }
    }
    for (path, mark) in files.iter().zip(&marks) {
        let mut ingest = store.ingester();
        if let Some(mark) = mark {
            ingest.mark_begun(mark)?;
        }
        let mut failed = None;
        let read = flows::read_repeating(
            path,
            reader,
            &formats,
            |repeat| {
                if failed.is_none() {
                    failed = ingest.add_repeat(repeat).err();
                }
            },
            &|_| {},
        );
        if let Some(e) = failed {
            return Err(e);
        }
        let stats = match read {
            Ok(stats) => stats,
            Err(StreamError::Io(message) | StreamError::UnknownFormat(message)) => {
                sink.push(Diag::error("io", message).help(
                    "pass `hubble observe -o json` output, Calico Whisker/Goldmane flows or Envoy JSON access logs; --flow-format names the format",
                ));
                return Ok(Exit::Input);
            }
        };
        total += ingest.taken();
        if let Some(mark) = mark {
            ingest.mark_ingested(mark)?;
        }
        ingest.finish(Some((&path.display().to_string(), &stats)))?;
        crate::flows::print_reads(&Evidence {
            reads: vec![stats],
            ..Evidence::default()
        });
    }
    println!(
        "stored {} of {} in `{}`",
        palisade_evidence::plural(total, "flow"),
        palisade_evidence::plural(files.len(), "stream"),
        store.name()
    );
    Ok(Exit::Ok)
}

fn follow(args: &FollowArgs, sink: &mut Diags) -> Exit {
    use palisade_controller::stored::{self, Checkpoints, FollowError};
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            sink.push(Diag::error("io", format!("cannot start the runtime: {e}")));
            return Exit::Input;
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let every = Duration::from_millis(u64::try_from(args.flush_every).unwrap_or(u64::MAX));
    let checkpoints = Checkpoints::new(every, stop.clone());
    let url = args.store.clone();
    let followed = runtime.block_on(async move {
        tokio::spawn(stored::stop_on_signal(stop));
        let store = stored::blocking(move || Store::open(&url)).await?;
        // Named as the store names itself: never with the URL's password.
        let name = store.name().to_string();
        let followed = match (&args.flows, &args.hubble_relay) {
            (Some(path), _) => {
                let path = path.clone();
                let mut store = store;
                tokio::task::spawn_blocking(move || stored::follow_file(&mut store, &path, &checkpoints))
                    .await
                    .map_err(|e| FollowError::Ended(format!("the follower stopped: {e}")))?
            }
            (None, Some(address)) => {
                let options = palisade_controller::relay::RelayOptions::default();
                stored::follow_relay(store, address, options, checkpoints).await
            }
            (None, None) => Err(FollowError::Ended("nothing to follow".into())),
        };
        followed.map(|f| (name, f))
    });
    match followed {
        Ok((name, f)) => {
            println!(
                "stored {} in `{}`: {} reported lost, {} unreadable, {}",
                palisade_evidence::plural(f.flows, "flow"),
                name,
                f.lost,
                f.unreadable,
                palisade_evidence::plural(f.checkpoints, "checkpoint")
            );
            Exit::Ok
        }
        Err(e) => {
            sink.push(Diag::error("follow", e.to_string()).help(e.help()));
            Exit::Input
        }
    }
}

/// The format named and the files to read, or the diagnostics of why not
fn inputs(args: &FlowArgs, sink: &mut Diags) -> Option<(Option<&'static dyn FlowFormat>, Vec<PathBuf>)> {
    let reader = args.reader(sink).ok()?;
    let files = args.files(sink)?;
    if files.is_empty() {
        sink.push(
            Diag::error("no_flows", "`evidence ingest` needs flow logs to store")
                .help("pass `--flows FILE` (repeatable, or a folder; `-` is stdin)"),
        );
        return None;
    }
    Some((reader, files))
}

fn show(args: &ShowArgs) -> Result<Exit, StoreError> {
    let store = Store::open_existing(&args.store)?;
    // An empty store is an empty window ending now, in the same shape.
    let last = match store.last_seen_ms()? {
        Some(last) => last,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
    };
    let summary = store.summary(Window::ending(last, args.since), args.max_gap)?;
    match args.output {
        Output::Json => match serde_json::to_string_pretty(&summary) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                return Err(StoreError::Corrupt {
                    store: store.name().to_string(),
                    why: e.to_string(),
                })
            }
        },
        Output::Text => print!("{}", text(&summary, args.max_gap)),
    }
    Ok(Exit::Ok)
}

fn span(from_ms: i64, to_ms: i64) -> String {
    format!(
        "{} .. {} ({})",
        format_time(from_ms),
        format_time(to_ms),
        human((to_ms - from_ms) / 1000)
    )
}

fn gap_list(gaps: &[palisade_store::Gap]) -> String {
    if gaps.is_empty() {
        return "no gaps".into();
    }
    let longest = gaps.iter().map(|g| g.to_ms - g.from_ms).max().unwrap_or(0);
    format!(
        "{}, the longest {}",
        palisade_evidence::plural(gaps.len(), "gap"),
        human(longest / 1000)
    )
}

/// The summary for a terminal: one line per fact, namespaces and their
/// services indented, then the busiest conversations
fn text(s: &Summary, max_gap: i64) -> String {
    let mut out = String::new();
    let asked = human((s.window.until_ms - s.window.since_ms) / 1000);
    match (s.first_ms, s.last_ms) {
        (Some(first), Some(last)) => out += &format!("window: {} of the {asked} asked\n", span(first, last)),
        _ => out += &format!("window: nothing in the {asked} asked\n"),
    }
    out += &format!(
        "{} in {}, {} active; {} ingested: {} reported lost, {} unreadable\n",
        palisade_evidence::plural(s.records, "record"),
        palisade_evidence::plural(s.conversations, "conversation"),
        palisade_evidence::plural(s.active_minutes, "minute"),
        palisade_evidence::plural(s.streams, "stream"),
        s.lost,
        s.malformed
    );
    out += &format!("silences over {max_gap} minutes: {}\n", gap_list(&s.gaps));
    out += "\nnamespaces:\n";
    for c in &s.namespaces {
        let seen = match (c.first_ms, c.last_ms) {
            (Some(first), Some(last)) => span(first, last),
            _ => "no timed record".into(),
        };
        out += &format!(
            "  {}: {} active, {seen}, {}\n",
            c.namespace,
            palisade_evidence::plural(c.active_minutes, "minute"),
            gap_list(&c.gaps)
        );
        for service in &c.services {
            out += &format!(
                "    {}: {} out, {} in\n",
                service.name, service.outbound, service.inbound
            );
        }
    }
    out += "\ntop conversations:\n";
    for c in &s.top {
        let verdicts: Vec<String> = c.verdicts.iter().map(|(v, n)| format!("{n} {v}")).collect();
        let request = c.request.as_ref().map(|r| format!(" {r}")).unwrap_or_default();
        let last = c
            .last_ms
            .map(|t| format!(", last {}", format_time(t)))
            .unwrap_or_default();
        out += &format!(
            "  {} -> {} {}{request}: {} ({}){last}\n",
            c.source,
            c.destination,
            c.port,
            c.count,
            verdicts.join(", ")
        );
    }
    out
}

fn prune(args: &PruneArgs) -> Result<Exit, StoreError> {
    let mut store = Store::open_existing(&args.store)?;
    let Some(last) = store.last_seen_ms()? else {
        println!("`{}` holds no flows: nothing to prune", store.name());
        return Ok(Exit::Ok);
    };
    let cutoff = last.saturating_sub(args.keep);
    let pruned = store.prune(cutoff)?;
    println!(
        "kept what was seen since {}: removed {}, {} no longer seen, {} of activity and {}",
        format_time(cutoff),
        palisade_evidence::plural(pruned.buckets, "conversation-hour"),
        palisade_evidence::plural(pruned.conversations, "conversation"),
        palisade_evidence::plural(pruned.minutes, "minute"),
        palisade_evidence::plural(pruned.streams, "stream record"),
    );
    Ok(Exit::Ok)
}
