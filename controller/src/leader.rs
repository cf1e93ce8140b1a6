//! Leader election through a coordination.k8s.io Lease, so two replicas are
//! safe: only the holder reconciles. The holder renews the lease; another
//! replica takes it over only after it expired, and an update carries the
//! resourceVersion it read, so two replicas never both win (the loser gets a
//! 409 and stays a follower).

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    chrono::{DateTime, Duration, Utc},
};
use kube::{
    api::{Api, PostParams},
    Client,
};

/// One replica's view of the lease
pub struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration_seconds: i32,
}

impl Elector {
    /// The lease `name` in `namespace`, held as `identity` (the pod's name)
    pub fn new(client: Client, namespace: &str, name: &str, identity: &str, duration_seconds: i32) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.into(),
            identity: identity.into(),
            duration_seconds,
        }
    }

    /// Take or renew the lease at `now`; whether this replica leads
    pub async fn lead(&self, now: DateTime<Utc>) -> Result<bool, kube::Error> {
        let existing = match self.api.get_opt(&self.name).await? {
            None => {
                let lease = self.lease(ObjectMeta::default(), now, now, 0);
                return match self.api.create(&PostParams::default(), &lease).await {
                    Ok(_) => Ok(true),
                    Err(kube::Error::Api(e)) if e.code == 409 => Ok(false), // another replica was first
                    Err(e) => Err(e),
                };
            }
            Some(lease) => lease,
        };
        let spec = existing.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.as_deref();
        let renewed = spec.renew_time.as_ref().map(|t| t.0);
        let duration = Duration::seconds(i64::from(spec.lease_duration_seconds.unwrap_or(self.duration_seconds)));
        let expired = renewed.is_none_or(|r| r + duration < now);
        let (acquired, transitions) = match holder {
            Some(h) if h == self.identity => (
                spec.acquire_time.map_or(now, |t| t.0),
                spec.lease_transitions.unwrap_or(0),
            ),
            _ if expired => (now, spec.lease_transitions.unwrap_or(0) + 1),
            _ => return Ok(false),
        };
        let lease = self.lease(existing.metadata, acquired, now, transitions);
        match self.api.replace(&self.name, &PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false), // someone renewed or took it meanwhile
            Err(e) => Err(e),
        }
    }

    fn lease(&self, metadata: ObjectMeta, acquired: DateTime<Utc>, renewed: DateTime<Utc>, transitions: i32) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                // The resourceVersion read makes the update conditional.
                resource_version: metadata.resource_version,
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.identity.clone()),
                lease_duration_seconds: Some(self.duration_seconds),
                acquire_time: Some(MicroTime(acquired)),
                renew_time: Some(MicroTime(renewed)),
                lease_transitions: Some(transitions),
                ..LeaseSpec::default()
            }),
        }
    }
}
