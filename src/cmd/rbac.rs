//! `palisade rbac DIR`: the namespaced Roles and RoleBindings the controller
//! needs to write what these intents render, one per namespace the manifests
//! land in, and no other: write access exactly where palisade writes (the
//! ClusterRole in deploy/ only reads).

use crate::{workspace, Exit};
use palisade_intents::{Diag, Diags};
use std::collections::BTreeSet;

/// Arguments of `palisade rbac`
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    intents: workspace::IntentsArgs,
}

/// Print the Roles and RoleBindings as one YAML stream
pub fn run(args: &Args, sink: &mut Diags) -> Exit {
    let Some((ws, targets)) = workspace::load_with_targets(&args.intents.dir, None, &args.intents.targets.target, sink)
    else {
        return Exit::Input;
    };
    let (audit, enforce, _) = match palisade_engine::render::render_both(&ws, &targets) {
        Ok(done) => done,
        Err(diags) => {
            sink.extend(diags.clone());
            return Exit::Input;
        }
    };
    // The Intents' own namespaces too: the controller writes their status and finalizers.
    let namespaces: BTreeSet<String> = audit
        .iter()
        .chain(&enforce)
        .map(|m| m.namespace().to_string())
        .chain(ws.repository.intents.iter().map(|i| i.namespace.value.clone()))
        .filter(|n| !n.is_empty())
        .collect();
    let namespaces: Vec<String> = namespaces.into_iter().collect();
    let mut documents = Vec::new();
    for (role, binding) in palisade_controller::rbac::namespace_roles(&namespaces) {
        for object in [serde_json::to_value(role), serde_json::to_value(binding)] {
            match object {
                Ok(mut value) => {
                    let kind = if value.get("roleRef").is_some() {
                        "RoleBinding"
                    } else {
                        "Role"
                    };
                    value["apiVersion"] = "rbac.authorization.k8s.io/v1".into();
                    value["kind"] = kind.into();
                    documents.push(palisade_targets::manifest::value_to_yaml(&value));
                }
                Err(e) => {
                    sink.push(Diag::error(
                        "internal",
                        format!("a Role does not serialise ({e}): this is a palisade bug"),
                    ));
                    return Exit::Input;
                }
            }
        }
    }
    print!("---\n{}", documents.join("---\n"));
    Exit::Ok
}
