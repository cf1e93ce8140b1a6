//! `cargo run --release -p palisade-bench --bin gen -- --namespaces 20
//! --services 1000 --edges 5000 --pods 2000 --flows 100000 [--days 7] --out DIR`

use clap::Parser;
use std::{path::PathBuf, process::ExitCode};

/// Write a synthetic intents repository, its cluster dump and a Hubble flow log
#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 10)]
    namespaces: usize,
    #[arg(long, default_value_t = 50)]
    services: usize,
    /// Allow edges between services (the FQDN and CIDR egress come on top)
    #[arg(long, default_value_t = 250)]
    edges: usize,
    /// Pods (at least one per service)
    #[arg(long, default_value_t = 100)]
    pods: usize,
    /// Hubble flow records
    #[arg(long, default_value_t = 10_000)]
    flows: usize,
    /// Days the flows are spread over (0: all within one hour); a
    /// conversation no intent allows is seen at 02:00 of the last but one only
    #[arg(long, default_value_t = 0)]
    days: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long)]
    out: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let size = palisade_bench::Size {
        namespaces: args.namespaces,
        services: args.services,
        edges: args.edges,
        pods: args.pods,
        flows: args.flows,
        seed: args.seed,
    };
    match palisade_bench::write_over(&args.out, &size, args.days) {
        Ok(w) => {
            println!(
                "{} services, {} pods, {} edges ({} across namespaces, {} with HTTP rules), {} FQDN and {} CIDR egress, {} flows in {}",
                w.services,
                w.pods,
                w.edges,
                w.cross_namespace_edges,
                w.l7_edges,
                w.fqdn_edges,
                w.cidr_edges,
                w.flows,
                args.out.display()
            );
            if let Some(r) = &w.rare {
                println!(
                    "a conversation seen on {} 02:00-03:00 only ({} records): {}/{} -> {}/{} tcp/{}",
                    r.day, r.records, r.from.namespace, r.from.name, r.to.namespace, r.to.name, r.port
                );
            }
            if let Some(e) = w.example {
                println!(
                    "an allowed connection: {}/{} -> {}/{} tcp/{}",
                    e.from.namespace, e.from.name, e.to.namespace, e.to.name, e.port
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", args.out.display());
            ExitCode::FAILURE
        }
    }
}
