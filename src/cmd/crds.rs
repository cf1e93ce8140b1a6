//! `palisade crds`: the CustomResourceDefinitions of `Intents` and `Project`,
//! to `kubectl apply -f -` before the controller runs.

use crate::Exit;

/// Arguments of `palisade crds`
#[derive(clap::Args)]
pub struct Args {}

/// Print both CRDs as one YAML stream
pub fn run(_args: &Args) -> Exit {
    match palisade_controller::crd::crds_yaml() {
        Ok(stream) => {
            print!("{stream}");
            Exit::Ok
        }
        Err(e) => {
            eprintln!("error: the CustomResourceDefinitions do not serialise ({e}): this is a palisade bug");
            Exit::Input
        }
    }
}
