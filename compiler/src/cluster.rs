//! A cluster model read from plain Kubernetes manifests: Namespace, Pod and
//! CronJob objects, multi-document or `kind: List`, as `kubectl get
//! ns,pods,cronjobs -A -o yaml` prints them. Other kinds are ignored. The CNI is recognised by its agent
//! pods. Text comes in; no I/O here.

use crate::model::{ClusterModel, CniProfile, ContainerPort, CronJob, Namespace, Pod};
use palisade_intents::{syntax::Protocol, types::Labels, Diag, Diags, Loc, SourceFile};
use serde_json::Value;
use std::{net::IpAddr, sync::Arc};

/// Read namespaces and pods from YAML text; `path` names the file in errors
pub fn from_yaml(path: &str, text: &str) -> Result<ClusterModel, Diags> {
    read(path, text).map(|(model, _)| model)
}

/// Like [`from_yaml`], with the warnings a user should see: pods without an
/// address, a CNI that could not be told
pub fn read(path: &str, text: &str) -> Result<(ClusterModel, Diags), Diags> {
    let file = SourceFile::new(path, text);
    let mut diags = Diags::new();
    let mut model = ClusterModel::default();
    for object in documents(&file, &mut diags) {
        match object["kind"].as_str() {
            Some("Namespace") => {
                let name = object
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let mut labels = labels(&object, "/metadata/labels");
                labels.insert("kubernetes.io/metadata.name".into(), name.clone());
                model.namespaces.insert(name.clone(), Namespace { name, labels });
            }
            Some("Pod") => match pod(&object) {
                Ok(p) => {
                    if p.address().is_none() {
                        diags.push(
                            Diag::warning(
                                "pod_without_address",
                                format!("pod `{}` has no `status.podIP`: no ipBlock or address rule matches it", p.id()),
                            )
                            .at(&Loc::new(file.clone(), 0, 0))
                            .help("dump the pods once they run (`kubectl get ns,pods -A -o yaml`), or add `status: { podIP: <address> }`"),
                        );
                    }
                    model.pods.push(p)
                }
                Err(message) => diags.push(
                    Diag::error("bad_cluster", message)
                        .at(&Loc::new(file.clone(), 0, 0))
                        .help("pods need metadata.name and metadata.namespace"),
                ),
            },
            Some("CronJob") => match cron_job(&object) {
                Ok(job) => model.cron_jobs.push(job),
                // A CronJob whose schedule cannot be read would leave a period
                // of traffic unknown: refused, not skipped.
                Err(message) => diags.push(
                    Diag::error("bad_cluster", message)
                        .at(&Loc::new(file.clone(), 0, 0))
                        .help("CronJobs need metadata.name and spec.schedule, as `kubectl get cronjobs -A -o yaml` prints them"),
                ),
            },
            _ => {}
        }
    }
    for pod in &model.pods {
        if !model.namespaces.contains_key(&pod.namespace) {
            let labels = Labels::from([("kubernetes.io/metadata.name".to_string(), pod.namespace.clone())]);
            model.namespaces.insert(
                pod.namespace.clone(),
                Namespace {
                    name: pod.namespace.clone(),
                    labels,
                },
            );
        }
    }
    model
        .pods
        .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    model
        .cron_jobs
        .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let found = cnis(&model);
    model.cni = match found.as_slice() {
        [one] => *one,
        [] => CniProfile::Unknown,
        several => {
            diags.push(
                Diag::warning(
                    "cni_unclear",
                    format!(
                        "agent pods of several CNIs in the dump ({}): the CNI is taken as unknown",
                        several.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
                    ),
                )
                .at(&Loc::new(file.clone(), 0, 0))
                .help("name the CNI that enforces policies (`--cni`)"),
            );
            CniProfile::Unknown
        }
    };
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok((model, diags))
    }
}

/// The CNIs whose agent pods run in the cluster, by the labels and names
/// their installation manifests give them
fn cnis(model: &ClusterModel) -> Vec<CniProfile> {
    let mut out = Vec::new();
    for pod in &model.pods {
        let label = |k: &str| pod.labels.get(k).map(String::as_str);
        let found = match (
            label("k8s-app"),
            label("app"),
            label("app.kubernetes.io/name"),
            label("name"),
        ) {
            (Some("cilium"), ..) | (_, _, Some("cilium-agent"), _) => Some(CniProfile::Cilium),
            (Some("calico-node"), ..) | (_, _, Some("calico-node"), _) => Some(CniProfile::Calico),
            (_, Some("antrea"), ..) if label("component") == Some("antrea-agent") => Some(CniProfile::Antrea),
            (_, Some("ovnkube-node"), ..) => Some(CniProfile::OvnKubernetes),
            (Some("kube-router"), ..) => Some(CniProfile::KubeRouter),
            (_, Some("kindnet"), ..) => Some(CniProfile::Kindnet),
            (_, _, _, Some("weave-net")) => Some(CniProfile::Weave),
            _ => None,
        };
        if let Some(cni) = found.filter(|c| !out.contains(c)) {
            out.push(cni);
        }
    }
    out
}

/// Every object of the YAML stream, `kind: List` items included
pub fn documents(file: &Arc<SourceFile>, diags: &mut Diags) -> Vec<Value> {
    let mut out = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(&file.text) {
        match <Value as serde::Deserialize>::deserialize(document) {
            Ok(Value::Null) => {}
            Ok(value) if value["kind"].as_str() == Some("List") => {
                out.extend(value["items"].as_array().cloned().unwrap_or_default())
            }
            Ok(value) => out.push(value),
            Err(e) => {
                diags.push(yaml_error(file, &e));
                break;
            }
        }
    }
    out
}

/// A YAML syntax error at its place in the file
pub fn yaml_error(file: &Arc<SourceFile>, e: &serde_yaml_ng::Error) -> Diag {
    // Line and column, not the byte index: callers may parse one document
    // whose earlier lines were blanked, so only lines match the file's.
    let loc = e.location().map_or_else(
        || Loc::new(file.clone(), 0, 0),
        |l| Loc::at_scalar(file.clone(), l.line(), l.column()),
    );
    let message = e.to_string();
    let message = message.split(" at line ").next().unwrap_or(&message).to_string();
    Diag::error("yaml", format!("invalid YAML: {message}"))
        .at(&loc)
        .help("check indentation, quotes and brackets near here")
}

fn labels(object: &Value, pointer: &str) -> Labels {
    object
        .pointer(pointer)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string)))
                .collect()
        })
        .unwrap_or_default()
}

fn pod(object: &Value) -> Result<Pod, String> {
    let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str).map(str::to_string);
    let name = text("/metadata/name").ok_or("a Pod without metadata.name")?;
    let namespace = text("/metadata/namespace").unwrap_or_else(|| "default".into());
    let ip = text("/status/podIP")
        .and_then(|ip| ip.parse::<IpAddr>().ok())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let ports = object
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| {
            let port = u16::try_from(p["containerPort"].as_u64()?).ok()?;
            let protocol = p["protocol"].as_str().unwrap_or("TCP").parse::<Protocol>().ok()?;
            Some(ContainerPort {
                name: p["name"].as_str().map(str::to_string),
                protocol,
                port,
            })
        })
        .collect();
    Ok(Pod {
        labels: labels(object, "/metadata/labels"),
        service_account: text("/spec/serviceAccountName"),
        name,
        namespace,
        ip,
        ports,
    })
}

fn cron_job(object: &Value) -> Result<CronJob, String> {
    let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str).map(str::to_string);
    let name = text("/metadata/name").ok_or("a CronJob without metadata.name")?;
    let namespace = text("/metadata/namespace").unwrap_or_else(|| "default".into());
    let schedule =
        text("/spec/schedule").ok_or_else(|| format!("CronJob `{namespace}/{name}` has no spec.schedule"))?;
    Ok(CronJob {
        time_zone: text("/spec/timeZone"),
        namespace,
        name,
        schedule,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cron_jobs_sorted_with_their_schedule_and_zone() {
        let text = "apiVersion: batch/v1\nkind: CronJob\nmetadata: { name: report, namespace: shop }\nspec: { schedule: '0 3 * * 0', timeZone: Europe/Berlin }\n---\napiVersion: batch/v1\nkind: CronJob\nmetadata: { name: backup, namespace: shop }\nspec: { schedule: '@daily' }\n";
        let Ok(model) = from_yaml("c.yaml", text) else {
            unreachable!()
        };
        let jobs: Vec<(String, &str, Option<&str>)> = model
            .cron_jobs
            .iter()
            .map(|j| (j.id(), j.schedule.as_str(), j.time_zone.as_deref()))
            .collect();
        assert_eq!(
            jobs,
            [
                ("shop/backup".to_string(), "@daily", None),
                ("shop/report".to_string(), "0 3 * * 0", Some("Europe/Berlin"))
            ]
        );
        let Err(diags) = from_yaml(
            "c.yaml",
            "kind: CronJob\nmetadata: { name: x, namespace: shop }\nspec: {}\n",
        ) else {
            unreachable!()
        };
        assert!(diags
            .iter()
            .any(|d| d.message().contains("shop/x") && d.message().contains("spec.schedule")));
    }

    #[test]
    fn reads_a_kubectl_list() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: { name: shop, labels: { team: a } }\n- apiVersion: v1\n  kind: Pod\n  metadata: { name: web-1, namespace: shop, labels: { app: web } }\n  spec:\n    serviceAccountName: web\n    containers:\n    - name: c\n      ports: [{ name: http, containerPort: 8080 }]\n  status: { podIP: 10.0.0.5 }\n";
        let Ok(model) = from_yaml("c.yaml", text) else {
            unreachable!()
        };
        assert_eq!(
            model.namespaces["shop"]
                .labels
                .get("kubernetes.io/metadata.name")
                .map(String::as_str),
            Some("shop")
        );
        let pod = &model.pods[0];
        assert_eq!(
            (
                pod.id().as_str(),
                pod.ip.to_string().as_str(),
                pod.service_account.as_deref()
            ),
            ("shop/web-1", "10.0.0.5", Some("web"))
        );
        assert_eq!(pod.ports[0].name.as_deref(), Some("http"));
    }

    #[test]
    fn bad_yaml_is_located() {
        let Err(diags) = from_yaml("c.yaml", "kind: Pod\nmetadata: [\n") else {
            unreachable!()
        };
        assert!(diags.iter().all(|d| d.loc().is_some()));
    }
}

#[cfg(test)]
mod address_and_cni_tests {
    use super::*;

    #[test]
    fn a_pod_without_an_address_has_none_and_it_is_said() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata: { name: p, namespace: x }\n";
        let Ok((model, warnings)) = read("c.yaml", text) else {
            unreachable!()
        };
        assert_eq!(model.pods[0].address(), None);
        assert!(warnings
            .iter()
            .any(|d| d.code_str() == "pod_without_address" && d.message().contains("x/p")));
    }

    #[test]
    fn the_cni_is_told_by_its_agent_pods() {
        let agent = |labels: &str| {
            format!("apiVersion: v1\nkind: Pod\nmetadata: {{ name: agent, namespace: kube-system, labels: {labels} }}\nstatus: {{ podIP: 10.0.0.9 }}\n")
        };
        for (labels, cni) in [
            ("{ k8s-app: cilium }", CniProfile::Cilium),
            ("{ k8s-app: calico-node }", CniProfile::Calico),
            ("{ app: kindnet }", CniProfile::Kindnet),
            ("{ app: web }", CniProfile::Unknown),
        ] {
            let Ok(model) = from_yaml("c.yaml", &agent(labels)) else {
                unreachable!()
            };
            assert_eq!(model.cni, cni, "{labels}");
        }
    }
}
