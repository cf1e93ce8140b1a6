//! Putting manifests on the cluster: server-side apply with field manager
//! `palisade`, ownership labels on every object, and pruning that lists only
//! objects carrying palisade's labels for this Intents resource and stage, so
//! nothing palisade does not own is ever touched. Applying is idempotent (a
//! restart re-applies the same bodies); a 404 on delete means already gone;
//! conflicts, throttling and server errors are retried a few times.

use kube::{
    api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams},
    Client,
};
use palisade_targets::Manifest;
use serde_json::Value;
use std::time::Duration;

/// The field manager of every apply
pub const FIELD_MANAGER: &str = "palisade";
/// Set on every object palisade writes
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "palisade");
/// The Intents resource an object belongs to (`<namespace>.<name>`)
pub const OWNER: &str = "palisade.dev/intents";
/// `audit` or `enforce`
pub const STAGE: &str = "palisade.dev/stage";

/// Which manifests
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// observe only
    Audit,
    /// drop what the intents do not allow
    Enforce,
}

impl Stage {
    /// The label value
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Audit => "audit",
            Stage::Enforce => "enforce",
        }
    }
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
}

/// Applies and prunes one Intents resource's objects
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

    /// Server-side apply every manifest, labelled as `owner`'s `stage`
    pub async fn apply(&self, owner: &str, stage: Stage, manifests: &[Manifest]) -> Result<usize, ApplyError> {
        let params = PatchParams {
            dry_run: self.dry_run,
            ..PatchParams::apply(FIELD_MANAGER).force()
        };
        for m in manifests {
            let body = labelled(&m.object, owner, stage);
            let name = m.name().to_string();
            if name.is_empty() {
                return Err(ApplyError::Malformed("metadata.name"));
            }
            let api = self.api(m.api_version(), m.kind(), m.namespace())?;
            let patch = Patch::Apply(&body);
            self.retry("apply", &m.reference(), || api.patch(&name, &params, &patch))
                .await?;
        }
        Ok(manifests.len())
    }

    /// Delete every object of `kinds` in `namespace` that palisade wrote for
    /// `owner` at `stage` and that is not named in `keep`
    pub async fn prune(
        &self,
        owner: &str,
        stage: Stage,
        namespace: &str,
        kinds: &[(String, String)],
        keep: &[Manifest],
    ) -> Result<usize, ApplyError> {
        let selector = format!(
            "{}={},{OWNER}={owner},{STAGE}={}",
            MANAGED_BY.0,
            MANAGED_BY.1,
            stage.as_str()
        );
        let params = DeleteParams {
            dry_run: self.dry_run,
            ..DeleteParams::default()
        };
        let owned_by = ListParams::default().labels(&selector);
        // Everything owned first, then deleted isolating objects first (default
        // deny, REGISTRY_ONLY): removing protection never cuts traffic on the way.
        let mut owned = Vec::new();
        for (api_version, kind) in kinds {
            let api = self.api(api_version, kind, namespace)?;
            let listed = self
                .retry("list", &format!("{kind} {namespace}"), || api.list_metadata(&owned_by))
                .await?;
            for object in listed.items {
                let name = object.metadata.name.unwrap_or_default();
                let kept = keep
                    .iter()
                    .any(|m| m.kind() == kind && m.name() == name && m.namespace() == namespace);
                if !kept {
                    owned.push((api.clone(), kind.clone(), name));
                }
            }
        }
        owned.sort_by_key(|(_, kind, name)| !(name.contains("default-deny") || kind == "Sidecar"));
        let mut deleted = 0;
        for (api, kind, name) in owned {
            let reference = format!("{kind} {namespace}/{name}");
            match self.retry("delete", &reference, || api.delete(&name, &params)).await {
                Ok(_) => deleted += 1,
                // Already gone: what a restart after a delete sees.
                Err(ApplyError::Api { source, .. }) if matches!(&*source, kube::Error::Api(e) if e.code == 404) => {}
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
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
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

/// The manifest with palisade's ownership labels
pub fn labelled(object: &Value, owner: &str, stage: Stage) -> Value {
    let mut body = object.clone();
    if let Some(metadata) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        let labels = metadata
            .entry("labels")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if let Some(labels) = labels.as_object_mut() {
            labels.insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
            labels.insert(OWNER.into(), owner.into());
            labels.insert(STAGE.into(), stage.as_str().into());
        }
    }
    body
}
