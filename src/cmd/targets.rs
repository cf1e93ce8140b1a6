//! `palisade targets`: what each dialect can express, as a matrix.

use crate::Exit;

/// Arguments of `palisade targets`
#[derive(clap::Args)]
pub struct Args {}

/// Print the capability matrix
pub fn run(_args: &Args) -> Exit {
    print!("{}", palisade_targets::capabilities::matrix(palisade_targets::DIALECTS));
    println!("\nIstio combines with one L3/L4 target (`targets: [cilium, istio]`); FQDNs on the others need `via: egress-gateway`.");
    Exit::Ok
}
