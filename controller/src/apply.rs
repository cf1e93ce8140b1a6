//! Putting manifests on the cluster: server-side apply with field manager
//! `palisade`, ownership labels and an owner annotation on every object, and
//! pruning that lists only objects carrying palisade's labels for this owner
//! and stage, so nothing palisade does not own is ever touched.
//!
//! Ownership is proved, not claimed: an object is palisade's for an owner
//! when its managedFields hold the manager `palisade` AND its
//! `palisade.dev/owner-uid` annotation is the owner's UID (the Intents
//! resource's `metadata.uid`). Labels are only a list filter: anyone can set
//! them. Every apply reads each object first; one that exists and is not
//! proved ours is a conflict: nothing of the call is written (no force over
//! it), and pruning never deletes it.
//!
//! Applying is idempotent (a restart re-applies the same bodies); a 404 on
//! delete means already gone; conflicts, throttling and server errors are
//! retried a few times.

use kube::{
    api::{
        Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, ObjectMeta, Patch, PatchParams,
    },
    Client,
};
pub use palisade_engine::stage::{owner_label, Owner, Stage};
use palisade_targets::{kinds, Manifest};
use serde_json::Value;
use std::{collections::BTreeSet, time::Duration};

/// The field manager of every apply
pub const FIELD_MANAGER: &str = "palisade";
/// Set on every object palisade writes
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "palisade");
/// The owner an object belongs to (`<namespace>.<name>`, bounded to 63
/// characters): a list filter only, never a proof
pub const OWNER: &str = "palisade.dev/intents";
/// The proof of ownership: the owning resource's `metadata.uid`
pub const OWNER_UID: &str = "palisade.dev/owner-uid";
/// `audit` or `enforce`
pub const STAGE: &str = "palisade.dev/stage";
/// `"true"` on an object whose deletion can only widen what passes (a
/// default deny, REGISTRY_ONLY): pruning lists only metadata, so the fact is
/// written at apply time and deletions are ordered by it
pub const RESTRICTS_ONLY: &str = "palisade.dev/restricts-only";

/// Whether `metadata` proves the object is `owner`'s: palisade's field
/// manager wrote it and it carries the owner's UID
pub fn is_owned(metadata: &ObjectMeta, owner: &Owner) -> bool {
    let managed = metadata
        .managed_fields
        .iter()
        .flatten()
        .any(|f| f.manager.as_deref() == Some(FIELD_MANAGER));
    let uid = metadata.annotations.as_ref().and_then(|a| a.get(OWNER_UID));
    managed && uid.is_some_and(|u| !owner.uid.is_empty() && *u == owner.uid)
}

/// What went wrong talking to the API server
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// the API server refused or failed, after retries
    #[error("{verb} {object}: {source}")]
    Api {
        /// apply or delete
        verb: &'static str,
        /// `Kind namespace/name`
        object: String,
        /// the client's error
        source: Box<kube::Error>,
    },
    /// a manifest without apiVersion, kind or name
    #[error("a manifest palisade rendered has no {0}")]
    Malformed(&'static str),
    /// objects of the same name exist and palisade did not create them for this owner
    #[error(
        "{} already exist and palisade did not create them for this Intents resource: nothing was applied; \
         rename or delete them, or remove them from the intents",
        objects.join(", ")
    )]
    Conflict {
        /// `Kind namespace/name` of each
        objects: Vec<String>,
    },
}

impl ApplyError {
    /// A short reason, for metrics and conditions
    pub fn reason(&self) -> &'static str {
        match self {
            ApplyError::Api { .. } => "ApiError",
            ApplyError::Malformed(_) => "Malformed",
            ApplyError::Conflict { .. } => "Conflict",
        }
    }
}

/// What one apply did
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// objects written
    pub applied: usize,
    /// audit forms not written because this owner enforces an object of that name
    pub kept_enforced: Vec<String>,
}

/// Applies and prunes one owner's objects
pub struct Applier {
    client: Client,
    dry_run: bool,
    retries: u32,
    backoff: Duration,
}

impl Applier {
    /// An applier; with `dry_run` the API server validates (`dryRun=All`) and persists nothing
    pub fn new(client: Client, dry_run: bool) -> Self {
        Self {
            client,
            dry_run,
            retries: 3,
            backoff: Duration::from_millis(200),
        }
    }

    /// The same, with another wait between retries (tests use none)
    pub fn with_backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    /// Server-side apply every manifest as `owner`'s `stage`. Each object is
    /// read first: one that exists and is not `owner`'s is a conflict, and
    /// then nothing is written. An audit form is never written over an
    /// object `owner` enforces (it is kept and listed) unless
    /// `replace_enforced` (a rollback). Objects that grant something go
    /// before those that only restrict, so no moment has a deny without its
    /// allows.
    pub async fn apply(
        &self,
        owner: &Owner,
        stage: Stage,
        manifests: &[Manifest],
        replace_enforced: bool,
    ) -> Result<Applied, ApplyError> {
        let mut planned = Vec::new();
        let mut conflicts = Vec::new();
        let mut kept_enforced = Vec::new();
        for m in manifests {
            let name = m.name().to_string();
            if name.is_empty() {
                return Err(ApplyError::Malformed("metadata.name"));
            }
            let api = self.api(m.api_version(), m.kind(), m.namespace())?;
            let existing = self
                .retry("get", &m.reference(), || api.get_metadata_opt(&name))
                .await?;
            let exists = match existing {
                None => false,
                Some(object) if is_owned(&object.metadata, owner) => {
                    let enforced = label(&object.metadata, STAGE) == Some(Stage::Enforce.as_str());
                    if stage == Stage::Audit && enforced && !replace_enforced {
                        kept_enforced.push(m.reference());
                        continue;
                    }
                    true
                }
                Some(_) => {
                    conflicts.push(m.reference());
                    continue;
                }
            };
            planned.push((m, api, name, exists));
        }
        if !conflicts.is_empty() {
            return Err(ApplyError::Conflict { objects: conflicts });
        }
        planned.sort_by_key(|(m, ..)| kinds::restricts_only(m));
        for (m, api, name, exists) in &planned {
            let body = labelled(m, owner, stage);
            // A new object is applied without force: if someone created it
            // since it was read, the API server refuses instead of palisade
            // taking their fields.
            let base = PatchParams::apply(FIELD_MANAGER);
            let params = PatchParams {
                dry_run: self.dry_run,
                ..if *exists { base.force() } else { base }
            };
            let patch = Patch::Apply(&body);
            self.retry("apply", &m.reference(), || api.patch(name, &params, &patch))
                .await?;
        }
        Ok(Applied {
            applied: planned.len(),
            kept_enforced,
        })
    }

    /// Delete every object of `kinds` (apiVersion, kind) in `namespace` that
    /// palisade wrote for `owner` at `stage` (labels to list, the UID and the
    /// field manager to prove it) and that is not in `keep`; objects that
    /// only restrict go first, so removing protection never cuts traffic on
    /// the way. A kind the cluster does not serve (its CRD is not installed)
    /// holds nothing to prune.
    pub async fn prune(
        &self,
        owner: &Owner,
        stage: Stage,
        namespace: &str,
        kinds: &[(String, String)],
        keep: &[Manifest],
    ) -> Result<usize, ApplyError> {
        let selector = format!(
            "{}={},{OWNER}={},{STAGE}={}",
            MANAGED_BY.0,
            MANAGED_BY.1,
            owner.label,
            stage.as_str()
        );
        let params = DeleteParams {
            dry_run: self.dry_run,
            ..DeleteParams::default()
        };
        let kept: BTreeSet<(&str, &str, &str, &str)> = keep
            .iter()
            .map(|m| (m.api_version(), m.kind(), m.namespace(), m.name()))
            .collect();
        let owned_by = ListParams::default().labels(&selector);
        let mut owned = Vec::new();
        for (api_version, kind) in kinds {
            let api = self.api(api_version, kind, namespace)?;
            let listed = match self
                .retry("list", &format!("{kind} {namespace}"), || api.list_metadata(&owned_by))
                .await
            {
                Ok(listed) => listed,
                Err(ApplyError::Api { source, .. }) if is_not_found(&source) => continue,
                Err(e) => return Err(e),
            };
            for object in listed.items {
                if !is_owned(&object.metadata, owner) {
                    // Labelled as ours by someone else: not proved ours, never deleted.
                    continue;
                }
                let Some(name) = object.metadata.name.clone() else {
                    continue;
                };
                if kept.contains(&(api_version.as_str(), kind.as_str(), namespace, name.as_str())) {
                    continue;
                }
                let restricts = label(&object.metadata, RESTRICTS_ONLY) == Some("true");
                owned.push((api.clone(), kind.clone(), name, restricts));
            }
        }
        owned.sort_by_key(|(_, _, _, restricts)| !restricts);
        let mut deleted = 0;
        for (api, kind, name, _) in owned {
            let reference = format!("{kind} {namespace}/{name}");
            match self.retry("delete", &reference, || api.delete(&name, &params)).await {
                Ok(_) => deleted += 1,
                // Already gone: what a restart after a delete sees.
                Err(ApplyError::Api { source, .. }) if is_not_found(&source) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(deleted)
    }

    fn api(&self, api_version: &str, kind: &str, namespace: &str) -> Result<Api<DynamicObject>, ApplyError> {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        if kind.is_empty() || version.is_empty() {
            return Err(ApplyError::Malformed("apiVersion or kind"));
        }
        let gvk = GroupVersionKind::gvk(group, version, kind);
        // The dialect's own plural where it states one (the API paths use it).
        let resource = match kinds::emitted()
            .into_iter()
            .find(|k| k.kind == kind && k.api_version() == api_version)
        {
            Some(k) => ApiResource::from_gvk_with_plural(&gvk, k.plural),
            None => ApiResource::from_gvk(&gvk),
        };
        Ok(if namespace.is_empty() {
            Api::all_with(self.client.clone(), &resource)
        } else {
            Api::namespaced_with(self.client.clone(), namespace, &resource)
        })
    }

    /// Run a call, again on conflict, throttling or a server error
    async fn retry<T, F, Fut>(&self, verb: &'static str, object: &str, call: F) -> Result<T, ApplyError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, kube::Error>>,
    {
        let mut attempt = 0;
        loop {
            match call().await {
                Ok(v) => return Ok(v),
                Err(kube::Error::Api(e))
                    if (e.code == 409 || e.code == 429 || e.code >= 500) && attempt + 1 < self.retries =>
                {
                    attempt += 1;
                    tokio::time::sleep(self.backoff * attempt).await;
                }
                Err(source) => {
                    return Err(ApplyError::Api {
                        verb,
                        object: object.to_string(),
                        source: Box::new(source),
                    })
                }
            }
        }
    }
}

fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(e) if e.code == 404)
}

fn label<'a>(metadata: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    metadata.labels.as_ref().and_then(|l| l.get(key)).map(String::as_str)
}

/// The manifest with palisade's ownership labels, the owner's UID and, for
/// an object that only restricts, the label pruning orders by
pub fn labelled(manifest: &Manifest, owner: &Owner, stage: Stage) -> Value {
    let mut body = manifest.object.clone();
    let restricts = kinds::restricts_only(manifest);
    if let Some(metadata) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        let labels = metadata
            .entry("labels")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if let Some(labels) = labels.as_object_mut() {
            labels.insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
            labels.insert(OWNER.into(), owner.label.clone().into());
            labels.insert(STAGE.into(), stage.as_str().into());
            if restricts {
                labels.insert(RESTRICTS_ONLY.into(), "true".into());
            }
        }
        let annotations = metadata
            .entry("annotations")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if let Some(annotations) = annotations.as_object_mut() {
            annotations.insert(OWNER_UID.into(), owner.uid.clone().into());
        }
    }
    body
}
