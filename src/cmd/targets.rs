//! `palisade targets`: what each dialect can express, as a matrix or JSON.

use crate::values::TextOrJson as Output;
use crate::Exit;

/// Arguments of `palisade targets`
#[derive(clap::Args)]
pub struct Args {
    /// text (the matrix) or json (each target's capabilities, for scripts)
    #[arg(long, short, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// Print the capability matrix
pub fn run(args: &Args) -> Exit {
    let dialects = palisade_targets::DIALECTS;
    match args.output {
        Output::Text => {
            print!("{}", palisade_targets::capabilities::matrix(dialects));
            println!("\nIstio combines with one L3/L4 target (`targets: [cilium, istio]`); FQDNs on the others need `via: egress-gateway`.");
        }
        Output::Json => {
            let targets: Vec<serde_json::Value> = dialects
                .iter()
                .map(|d| serde_json::json!({ "target": d.id(), "capabilities": d.capabilities() }))
                .collect();
            println!("{}", serde_json::Value::Array(targets));
        }
    }
    Exit::Ok
}
