//! The Endpoints controller: for each Service with a selector, the IPs of its pods, ready ones
//! as `addresses` and the rest as `notReadyAddresses`, grouped by the ports they resolve
//! (upstream's `pkg/controller/endpoint`). Also the pieces the EndpointSlice controller shares:
//! which pods back a Service, and how a named targetPort resolves on a pod.

use std::{collections::BTreeMap, future::Future, sync::Arc, time::Duration};

use k8s_openapi::{
    api::core::v1::{
        EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Pod, Service, ServicePort,
    },
    apimachinery::pkg::{apis::meta::v1::ObjectMeta, util::intstr::IntOrString},
};
use kube::{
    Api,
    api::{DeleteParams, PostParams},
};
use tokio::sync::broadcast::{Receiver, error::RecvError};

use crate::{
    events::{Recorder, Type},
    informer::{Change, Informer, Informers, Key},
    owner::Selector,
    pods,
    queue::Queue,
    runner::{api_message, is_not_found, spawn_workers},
};

/// Set on headless Services' Endpoints and EndpointSlices.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";
/// Tells the EndpointSlice mirroring controller these Endpoints already have slices.
const SKIP_MIRROR_LABEL: &str = "endpointslice.kubernetes.io/skip-mirror";

/// The selector of a Service that has one; Services without are managed by hand.
pub fn service_selector(svc: &Service) -> Option<Selector> {
    let map = svc.spec.as_ref()?.selector.as_ref().filter(|m| !m.is_empty())?;
    Some(Selector::from_map(Some(map)))
}

pub fn is_headless(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

pub fn publishes_not_ready(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.publish_not_ready_addresses).unwrap_or(false)
}

/// Whether a pod belongs in a Service's endpoints at all (upstream's `ShouldPodBeInEndpoints`):
/// it has an IP, is not finished for good, and is not terminating unless `include_terminating`.
pub fn should_be_in_endpoints(pod: &Pod, include_terminating: bool) -> bool {
    let ip = pod.status.as_ref().and_then(|s| s.pod_ip.as_deref()).unwrap_or("");
    if ip.is_empty() || (!include_terminating && pods::is_terminating(pod)) {
        return false;
    }
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    match pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()) {
        Some("Never") => !matches!(phase, Some("Succeeded" | "Failed")),
        Some("OnFailure") => phase != Some("Succeeded"),
        _ => true,
    }
}

/// The port a service port reaches on `pod` (upstream's `FindPort`): a named targetPort is
/// looked up among the pod's container ports of the same protocol; a number is used as is.
pub fn resolve_port(pod: &Pod, port: &ServicePort) -> Option<i32> {
    let protocol = port.protocol.as_deref().unwrap_or("TCP");
    match &port.target_port {
        Some(IntOrString::String(name)) => pod.spec.as_ref()?.containers.iter().find_map(|c| {
            c.ports.as_ref()?.iter().find_map(|p| {
                (p.name.as_deref() == Some(name) && p.protocol.as_deref().unwrap_or("TCP") == protocol)
                    .then_some(p.container_port)
            })
        }),
        Some(IntOrString::Int(n)) if *n != 0 => Some(*n),
        _ => Some(port.port),
    }
}

/// The hostname an endpoint carries: the pod's, when its subdomain is the Service.
pub fn endpoint_hostname(pod: &Pod, svc: &Service) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let hostname = spec.hostname.clone().filter(|h| !h.is_empty())?;
    (spec.subdomain.as_deref() == svc.metadata.name.as_deref()
        && pod.metadata.namespace == svc.metadata.namespace)
        .then_some(hostname)
}

pub fn pod_reference(pod: &Pod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".into()),
        namespace: pod.metadata.namespace.clone(),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
        ..Default::default()
    }
}

/// The labels of a Service's Endpoints and EndpointSlices: the Service's own, plus the
/// headless marker.
pub fn derived_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels = svc.metadata.labels.clone().unwrap_or_default();
    if is_headless(svc) {
        labels.insert(HEADLESS_LABEL.into(), String::new());
    }
    labels
}

/// The subsets of a Service's Endpoints, grouped by identical port sets, addresses sorted.
pub fn subsets(svc: &Service, pods: &[Arc<Pod>]) -> Vec<EndpointSubset> {
    let publish = publishes_not_ready(svc);
    let ports = svc.spec.as_ref().and_then(|s| s.ports.clone()).unwrap_or_default();
    // Port set (as a sortable key) -> (ports, ready, not ready).
    type Group = (Vec<EndpointPort>, Vec<EndpointAddress>, Vec<EndpointAddress>);
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for pod in pods.iter().filter(|p| should_be_in_endpoints(p, publish)) {
        let address = EndpointAddress {
            ip: pod.status.as_ref().and_then(|s| s.pod_ip.clone()).unwrap_or_default(),
            hostname: endpoint_hostname(pod, svc),
            node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            target_ref: Some(pod_reference(pod)),
        };
        let mut pod_ports: Vec<EndpointPort> = ports
            .iter()
            .filter_map(|p| {
                Some(EndpointPort {
                    name: p.name.clone().filter(|n| !n.is_empty()),
                    port: resolve_port(pod, p)?,
                    protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".into())),
                    app_protocol: p.app_protocol.clone(),
                })
            })
            .collect();
        // A Service with ports none of which this pod has: not an endpoint (headless Services
        // without ports list every pod).
        if pod_ports.is_empty() && !ports.is_empty() {
            continue;
        }
        pod_ports.sort_by(|a, b| a.name.cmp(&b.name).then(a.port.cmp(&b.port)));
        let key = serde_json::to_string(&pod_ports).unwrap_or_default();
        let group = groups.entry(key).or_insert_with(|| (pod_ports, Vec::new(), Vec::new()));
        if publish || pods::is_ready(pod) {
            group.1.push(address);
        } else {
            group.2.push(address);
        }
    }
    groups
        .into_values()
        .map(|(ports, mut ready, mut not_ready)| {
            ready.sort_by(|a, b| a.ip.cmp(&b.ip));
            not_ready.sort_by(|a, b| a.ip.cmp(&b.ip));
            EndpointSubset {
                addresses: (!ready.is_empty()).then_some(ready),
                not_ready_addresses: (!not_ready.is_empty()).then_some(not_ready),
                ports: (!ports.is_empty()).then_some(ports),
            }
        })
        .collect()
}

/// Whether a create failed because its namespace is being deleted (upstream's
/// NamespaceTerminating cause): it will keep failing, so the endpoint controllers drop it
/// without an event.
pub fn namespace_terminating(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(e) if e.code == 403 && e.message.contains("because it is being terminated"))
}

/// The Warning event upstream's Endpoints controller records when writing a Service's
/// Endpoints fails (it quotes the API error).
pub fn write_failure_event(created: bool, ns: &str, name: &str, error: &str) -> (&'static str, String) {
    if created {
        ("FailedToCreateEndpoint", format!("Failed to create endpoint for service {ns}/{name}: {error}"))
    } else {
        ("FailedToUpdateEndpoint", format!("Failed to update endpoint {ns}/{name}: {error}"))
    }
}

/// What a controller keyed by Service does per sync.
pub trait ServiceSync: Send + Sync + 'static {
    const COMPONENT: &'static str;
    /// Reconciles the Service at `key` (`None`: deleted) given the pods its selector picks.
    fn sync(
        &self,
        key: &Key,
        svc: Option<Arc<Service>>,
        pods: Vec<Arc<Pod>>,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// The wiring both endpoint controllers share: Services and their pods feed a queue of
/// Service keys.
pub struct ServiceController<S: ServiceSync> {
    services: Arc<Informer<Service>>,
    pods: Arc<Informer<Pod>>,
    queue: Arc<Queue<Key>>,
    inner: S,
}

impl<S: ServiceSync> ServiceController<S> {
    pub fn start(informers: &Informers, inner: S) {
        let me = Arc::new(ServiceController {
            services: informers.get(),
            pods: informers.get(),
            queue: Queue::new(),
            inner,
        });
        let (services, pods) = (me.services.subscribe(), me.pods.subscribe());
        let watcher = me.clone();
        tokio::spawn(async move {
            watcher.services.wait_synced().await;
            watcher.pods.wait_synced().await;
            watcher.resync();
            watcher.follow(services, pods).await;
        });
        let worker = me.clone();
        spawn_workers(me.queue.clone(), 5, S::COMPONENT, move |key| {
            let worker = worker.clone();
            async move { worker.sync(&key).await }
        });
    }

    fn resync(&self) {
        for svc in self.services.list(None) {
            self.queue.add(Key::of(svc.as_ref()));
        }
    }

    async fn follow(
        &self,
        mut services: Receiver<Arc<Change<Service>>>,
        mut pods: Receiver<Arc<Change<Pod>>>,
    ) {
        loop {
            tokio::select! {
                change = services.recv() => match change {
                    Ok(change) => self.queue.add(Key::of(change.object().as_ref())),
                    Err(RecvError::Lagged(_)) => self.resync(),
                    Err(RecvError::Closed) => return,
                },
                change = pods.recv() => match change {
                    Ok(change) => {
                        if let Change::Updated { old, .. } = change.as_ref() {
                            self.pod_changed(old);
                        }
                        self.pod_changed(change.object());
                    }
                    Err(RecvError::Lagged(_)) => self.resync(),
                    Err(RecvError::Closed) => return,
                },
            }
        }
    }

    fn pod_changed(&self, pod: &Pod) {
        for svc in self.services.list(pod.metadata.namespace.as_deref()) {
            if service_selector(&svc).is_some_and(|s| s.matches(pod.metadata.labels.as_ref())) {
                self.queue.add(Key::of(svc.as_ref()));
            }
        }
    }

    async fn sync(&self, key: &Key) -> anyhow::Result<Option<Duration>> {
        let svc = self.services.get(key);
        let pods = match svc.as_ref().and_then(|s| service_selector(s)) {
            Some(selector) => self
                .pods
                .list(key.namespace.as_deref())
                .into_iter()
                .filter(|p| selector.matches(p.metadata.labels.as_ref()))
                .collect(),
            None => Vec::new(),
        };
        self.inner.sync(key, svc, pods).await?;
        Ok(None)
    }
}

/// Keeps each selecting Service's Endpoints object.
pub struct EndpointsSync {
    client: kube::Client,
    recorder: Recorder,
}

impl EndpointsSync {
    pub fn start(informers: &Informers) {
        let client = informers.client();
        let recorder = Recorder::new(client.clone(), Self::COMPONENT);
        ServiceController::start(informers, EndpointsSync { client, recorder });
    }
}

impl ServiceSync for EndpointsSync {
    const COMPONENT: &'static str = "endpoint-controller";

    async fn sync(&self, key: &Key, svc: Option<Arc<Service>>, pods: Vec<Arc<Pod>>) -> anyhow::Result<()> {
        let api: Api<Endpoints> =
            Api::namespaced(self.client.clone(), key.namespace.as_deref().unwrap_or(""));
        let Some(svc) = svc else {
            return match api.delete(&key.name, &DeleteParams::default()).await {
                Err(e) if !is_not_found(&e) => Err(e.into()),
                _ => Ok(()),
            };
        };
        // Services without a selector have Endpoints someone else writes.
        if service_selector(&svc).is_none() {
            return Ok(());
        }
        let subsets = subsets(&svc, &pods);
        let mut labels = derived_labels(&svc);
        labels.insert(SKIP_MIRROR_LABEL.into(), "true".into());
        let existing = match api.get(&key.name).await {
            Ok(ep) => Some(ep),
            Err(e) if is_not_found(&e) => None,
            Err(e) => return Err(e.into()),
        };
        let wanted_subsets = (!subsets.is_empty()).then_some(subsets);
        if let Some(ep) = &existing
            && ep.subsets == wanted_subsets
            && ep.metadata.labels.as_ref() == Some(&labels)
        {
            return Ok(());
        }
        let endpoints = Endpoints {
            metadata: ObjectMeta {
                name: Some(key.name.clone()),
                namespace: key.namespace.clone(),
                labels: Some(labels),
                annotations: existing.as_ref().and_then(|e| e.metadata.annotations.clone()),
                resource_version: existing.as_ref().and_then(|e| e.metadata.resource_version.clone()),
                ..Default::default()
            },
            subsets: wanted_subsets,
        };
        let create = existing.is_none();
        let result = match existing {
            Some(_) => api.replace(&key.name, &PostParams::default(), &endpoints).await,
            None => api.create(&PostParams::default(), &endpoints).await,
        };
        match result {
            Ok(_) => Ok(()),
            Err(e) if create && namespace_terminating(&e) => Ok(()),
            // Conflicts included, as upstream: the next sync reads again.
            Err(e) => {
                let ns = key.namespace.as_deref().unwrap_or("");
                let (reason, message) = write_failure_event(create, ns, &key.name, &api_message(&e));
                self.recorder.record(&endpoints, Type::Warning, reason, &message).await;
                Err(anyhow::anyhow!(message))
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::json;

    use super::*;

    pub(crate) fn service(extra: serde_json::Value) -> Service {
        let mut svc = json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"},
                     "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}
        });
        if let (Some(spec), Some(extra)) = (svc["spec"].as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        serde_json::from_value(svc).unwrap()
    }

    pub(crate) fn pod(name: &str, ip: &str, ready: bool, port_name: &str) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"),
                             "labels": {"app": "web"}},
                "spec": {"nodeName": "n1", "hostname": name, "subdomain": "web",
                         "containers": [{"name": "c", "ports": [{"name": port_name, "containerPort": 8080}]}]},
                "status": {"phase": "Running", "podIP": ip,
                           "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
            }))
            .unwrap(),
        )
    }

    #[test]
    fn failed_writes_are_reported_as_upstream_words_them() {
        let (reason, message) = write_failure_event(true, "ns", "web", "quota exceeded");
        assert_eq!(reason, "FailedToCreateEndpoint");
        assert_eq!(message, "Failed to create endpoint for service ns/web: quota exceeded");
        let (reason, message) = write_failure_event(false, "ns", "web", "conflict");
        assert_eq!(
            (reason, message.as_str()),
            ("FailedToUpdateEndpoint", "Failed to update endpoint ns/web: conflict")
        );
        let api = |code: u16, message: &str| {
            kube::Error::Api(
                serde_json::from_value(
                    json!({"status": "Failure", "message": message, "reason": "Forbidden",
                                              "code": code}),
                )
                .unwrap(),
            )
        };
        let terminating = "endpoints \"web\" is forbidden: unable to create new content in namespace ns because it is being terminated";
        assert!(namespace_terminating(&api(403, terminating)));
        assert!(!namespace_terminating(&api(403, "endpoints \"web\" is forbidden: exceeded quota")));
        assert!(!namespace_terminating(&api(409, terminating)));
    }

    #[test]
    fn ready_and_unready_pods_with_resolved_named_ports() {
        let svc = service(json!({}));
        let pods = [
            pod("b", "10.0.0.2", true, "http"),
            pod("a", "10.0.0.1", true, "http"),
            pod("c", "10.0.0.3", false, "http"),
        ];
        let subsets = subsets(&svc, &pods);
        assert_eq!(subsets.len(), 1);
        let s = &subsets[0];
        let ips: Vec<_> = s.addresses.iter().flatten().map(|a| a.ip.as_str()).collect();
        assert_eq!(ips, ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(s.not_ready_addresses.as_ref().unwrap()[0].ip, "10.0.0.3");
        assert_eq!(s.ports.as_ref().unwrap()[0].port, 8080);
        let first = &s.addresses.as_ref().unwrap()[0];
        assert_eq!(first.node_name.as_deref(), Some("n1"));
        assert_eq!(first.hostname.as_deref(), Some("a"), "subdomain matches the service");
        assert_eq!(first.target_ref.as_ref().unwrap().name.as_deref(), Some("a"));
    }

    #[test]
    fn pods_without_the_named_port_or_an_ip_are_left_out_and_not_ready_can_be_published() {
        let svc = service(json!({}));
        let pods = [pod("a", "10.0.0.1", true, "other"), pod("b", "", true, "http")];
        assert!(subsets(&svc, &pods).is_empty());
        let publish = service(json!({"publishNotReadyAddresses": true}));
        let subsets = subsets(&publish, &[pod("c", "10.0.0.3", false, "http")]);
        assert_eq!(subsets[0].addresses.as_ref().unwrap()[0].ip, "10.0.0.3");
    }
}
