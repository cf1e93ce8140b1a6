//! The permissions the code needs, from what it does, and derived from the
//! dialects' own facts (`palisade_targets::kinds::emitted`), so a new dialect
//! needs no line here:
//!
//! - the ClusterRole reads only: get, list and watch of the kinds the
//!   dialects emit (the apply reads each object first; compiling reads every
//!   Intents; the Project is watched);
//! - writes happen only in the namespaces palisade manages: one Role per
//!   namespace ([`namespace_roles`]) grants create, patch and delete of the
//!   emitted kinds there, the Intents' finalizer and status, and Events. No
//!   namespace is written that is not listed (kube-system included);
//! - the Lease of leader election, in the controller's own namespace.
//!
//! `deploy/` must be exactly this (a test compares them), so the roles never
//! grant more than the code calls.

use k8s_openapi::{
    api::rbac::v1::{ClusterRole, PolicyRule, Role, RoleBinding, RoleRef, Subject},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use palisade_targets::kinds;
use std::collections::{BTreeMap, BTreeSet};

/// The controller's name: its ServiceAccount, roles and bindings
pub const NAME: &str = "palisade-controller";
/// The namespace the controller runs in (deploy/)
pub const CONTROLLER_NAMESPACE: &str = "palisade-system";

fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.to_string()]),
        resources: Some(resources.iter().map(|r| r.to_string()).collect()),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        ..PolicyRule::default()
    }
}

/// One rule per API group over the emitted kinds that `keep` selects
fn emitted_rules(verbs: &[&str], keep: impl Fn(&kinds::Kind) -> bool) -> Vec<PolicyRule> {
    let mut by_group: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for kind in kinds::emitted().iter().filter(|k| keep(k)) {
        by_group.entry(kind.group).or_default().insert(kind.plural);
    }
    by_group
        .into_iter()
        .map(|(group, plurals)| rule(group, &plurals.into_iter().collect::<Vec<_>>(), verbs))
        .collect()
}

/// The controller's ClusterRole: reading only, everywhere. The one write it
/// holds is of cluster-scoped kinds a dialect emits (the guardrails'
/// ClusterNetworkPolicies, Calico's tiers and global policies): they live
/// in no namespace a Role could grant.
pub fn cluster_role() -> ClusterRole {
    let mut rules = emitted_rules(&["get", "list", "watch"], |_| true);
    rules.extend(emitted_rules(&["create", "delete", "patch"], |k| !k.namespaced));
    // Every Intents is compiled with the others; the Project is watched.
    rules.push(rule("palisade.dev", &["intents"], &["get", "list", "watch"]));
    rules.push(rule("palisade.dev", &["projects"], &["get", "list", "watch"]));
    // The gate's evidence window must cover each CronJob's period.
    rules.push(rule("batch", &["cronjobs"], &["list"]));
    ClusterRole {
        metadata: ObjectMeta {
            name: Some(NAME.into()),
            ..Default::default()
        },
        rules: Some(rules),
        ..ClusterRole::default()
    }
}

/// What the controller writes in a namespace it manages: the emitted kinds
/// (apply = patch, create for a new object; prune = delete), the Intents'
/// finalizer (patch) and status, and Events
pub fn namespace_rules() -> Vec<PolicyRule> {
    let mut rules = emitted_rules(&["create", "delete", "patch"], |k| k.namespaced);
    rules.push(rule("palisade.dev", &["intents"], &["patch"]));
    rules.push(rule("palisade.dev", &["intents/status"], &["patch"]));
    rules.push(rule("events.k8s.io", &["events"], &["create", "patch"]));
    rules
}

/// A Role and its RoleBinding (to the controller's ServiceAccount in
/// `palisade-system`) for each namespace palisade manages, sorted, each once.
/// Only the namespaces listed: kube-system gets one only if it is named.
pub fn namespace_roles(namespaces: &[String]) -> Vec<(Role, RoleBinding)> {
    let listed: BTreeSet<&str> = namespaces.iter().map(|n| n.trim()).filter(|n| !n.is_empty()).collect();
    listed
        .into_iter()
        .map(|namespace| {
            let metadata = ObjectMeta {
                name: Some(NAME.into()),
                namespace: Some(namespace.into()),
                ..Default::default()
            };
            let role = Role {
                metadata: metadata.clone(),
                rules: Some(namespace_rules()),
            };
            let binding = RoleBinding {
                metadata,
                role_ref: RoleRef {
                    api_group: "rbac.authorization.k8s.io".into(),
                    kind: "Role".into(),
                    name: NAME.into(),
                },
                subjects: Some(vec![Subject {
                    kind: "ServiceAccount".into(),
                    name: NAME.into(),
                    namespace: Some(CONTROLLER_NAMESPACE.into()),
                    ..Subject::default()
                }]),
            };
            (role, binding)
        })
        .collect()
}

/// The Role for leader election, in the controller's namespace
pub fn lease_role(namespace: &str) -> Role {
    Role {
        metadata: ObjectMeta {
            name: Some("palisade-controller-lease".into()),
            namespace: Some(namespace.into()),
            ..Default::default()
        },
        rules: Some(vec![rule(
            "coordination.k8s.io",
            &["leases"],
            &["create", "get", "update"],
        )]),
    }
}
