//! `palisade crds`: the CustomResourceDefinitions of `Intents` and `Project`,
//! to `kubectl apply -f -` before the controller runs.

use crate::Exit;

/// Arguments of `palisade crds`
#[derive(clap::Args)]
pub struct Args {}

/// Print both CRDs as one YAML stream
pub fn run(_args: &Args) -> Exit {
    let docs: Vec<String> = palisade_controller::crd::crds()
        .iter()
        .filter_map(|crd| serde_yaml_ng::to_string(crd).ok())
        .collect();
    print!("{}", docs.join("---\n"));
    Exit::Ok
}
