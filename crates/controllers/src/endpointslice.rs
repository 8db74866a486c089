//! The EndpointSlice controller: each selecting Service's pods as IPv4 EndpointSlices of at
//! most 100 endpoints, one group per port set, with ready/serving/terminating conditions
//! (upstream's `pkg/controller/endpointslice`). A Service with no endpoints keeps one empty
//! placeholder slice, as upstream's does.

use std::{collections::BTreeMap, sync::Arc};

use k8s_openapi::{
    api::{
        core::v1::{Node, Pod, Service},
        discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice},
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{
    Api,
    api::{DeleteParams, ListParams, PostParams},
};

use crate::{
    endpoints::{
        ServiceController, ServiceSync, derived_labels, endpoint_hostname, namespace_terminating,
        pod_reference, publishes_not_ready, resolve_port, service_selector, should_be_in_endpoints,
    },
    events::{Recorder, Type},
    informer::{Informer, Informers, Key},
    owner::controller_ref,
    pods,
    runner::{api_message, is_not_found},
};

pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";
const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// Upstream's default `--max-endpoints-per-slice`.
const MAX_ENDPOINTS: usize = 100;

/// One slice's content: its ports and endpoints.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Desired {
    pub ports: Option<Vec<EndpointPort>>,
    pub endpoints: Vec<Endpoint>,
}

/// The slices a Service should have. `zone_of` gives a node's zone.
pub fn desired(svc: &Service, pods: &[Arc<Pod>], zone_of: impl Fn(&str) -> Option<String>) -> Vec<Desired> {
    let publish = publishes_not_ready(svc);
    let ports = svc.spec.as_ref().and_then(|s| s.ports.clone()).unwrap_or_default();
    let mut groups: BTreeMap<String, Desired> = BTreeMap::new();
    for pod in pods.iter().filter(|p| should_be_in_endpoints(p, true)) {
        let ip = pod.status.as_ref().and_then(|s| s.pod_ip.clone()).unwrap_or_default();
        if ip.contains(':') {
            continue;
        }
        let mut pod_ports: Vec<EndpointPort> = ports
            .iter()
            .filter_map(|p| {
                Some(EndpointPort {
                    name: Some(p.name.clone().unwrap_or_default()),
                    port: Some(resolve_port(pod, p)?),
                    protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".into())),
                    app_protocol: p.app_protocol.clone(),
                })
            })
            .collect();
        pod_ports.sort_by(|a, b| a.name.cmp(&b.name).then(a.port.cmp(&b.port)));
        let terminating = pods::is_terminating(pod);
        let ready = pods::is_ready(pod);
        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone()).filter(|n| !n.is_empty());
        let endpoint = Endpoint {
            addresses: vec![ip],
            conditions: Some(EndpointConditions {
                ready: Some(publish || (ready && !terminating)),
                serving: Some(publish || ready),
                terminating: Some(terminating),
            }),
            hostname: endpoint_hostname(pod, svc),
            zone: node.as_deref().and_then(&zone_of),
            node_name: node,
            target_ref: Some(pod_reference(pod)),
            ..Default::default()
        };
        let key = serde_json::to_string(&pod_ports).unwrap_or_default();
        let group = groups.entry(key).or_insert_with(|| Desired {
            ports: (!pod_ports.is_empty()).then_some(pod_ports),
            endpoints: Vec::new(),
        });
        group.endpoints.push(endpoint);
    }
    let mut slices: Vec<Desired> = Vec::new();
    for mut group in groups.into_values() {
        group.endpoints.sort_by(|a, b| a.addresses.cmp(&b.addresses));
        for chunk in group.endpoints.chunks(MAX_ENDPOINTS) {
            slices.push(Desired { ports: group.ports.clone(), endpoints: chunk.to_vec() });
        }
    }
    if slices.is_empty() {
        slices.push(Desired::default());
    }
    slices
}

/// The labels of a Service's slices.
pub fn slice_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels = derived_labels(svc);
    labels.insert(SERVICE_NAME_LABEL.into(), svc.metadata.name.clone().unwrap_or_default());
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
    labels
}

/// What went wrong writing one slice, in upstream's reconciler's words.
pub fn write_error(op: &str, slice: Option<&str>, ns: &str, service: &str, error: &str) -> String {
    match slice {
        Some(slice) => format!("failed to {op} {slice} EndpointSlice for Service {ns}/{service}: {error}"),
        None => format!("failed to {op} EndpointSlice for Service {ns}/{service}: {error}"),
    }
}

/// The message of the `FailedToUpdateEndpointSlices` Warning on the Service.
pub fn failure_message(ns: &str, service: &str, error: &str) -> String {
    format!("Error updating Endpoint Slices for Service {ns}/{service}: {error}")
}

pub struct EndpointSliceSync {
    client: kube::Client,
    nodes: Arc<Informer<Node>>,
    recorder: Recorder,
}

impl EndpointSliceSync {
    pub fn start(informers: &Informers) {
        let client = informers.client();
        let recorder = Recorder::new(client.clone(), Self::COMPONENT);
        let me = EndpointSliceSync { client, nodes: informers.get(), recorder };
        ServiceController::start(informers, me);
    }
}

impl ServiceSync for EndpointSliceSync {
    const COMPONENT: &'static str = "endpointslice-controller";

    async fn sync(&self, key: &Key, svc: Option<Arc<Service>>, pods: Vec<Arc<Pod>>) -> anyhow::Result<()> {
        let api: Api<EndpointSlice> =
            Api::namespaced(self.client.clone(), key.namespace.as_deref().unwrap_or(""));
        // Read from the API rather than a cache, so a slice just created is never made twice.
        let params = ListParams::default()
            .labels(&format!("{SERVICE_NAME_LABEL}={},{MANAGED_BY_LABEL}={MANAGED_BY}", key.name));
        let existing = api.list(&params).await?.items;
        let wanted = match svc.as_ref().filter(|s| service_selector(s).is_some()) {
            Some(svc) => desired(svc, &pods, |node| {
                let node = self.nodes.get(&Key { namespace: None, name: node.to_string() })?;
                node.metadata.labels.as_ref()?.get(ZONE_LABEL).cloned()
            }),
            None => Vec::new(),
        };
        match self.reconcile(&api, key, svc.as_ref(), wanted, existing).await {
            Err(error) if let Some(svc) = svc.as_ref() => {
                let ns = key.namespace.as_deref().unwrap_or("");
                let message = failure_message(ns, &key.name, &error.to_string());
                self.recorder
                    .record(svc.as_ref(), Type::Warning, "FailedToUpdateEndpointSlices", &message)
                    .await;
                Err(error)
            }
            other => other,
        }
    }
}

impl EndpointSliceSync {
    /// Writes the slices towards `wanted`: reuses, creates, then deletes the rest.
    async fn reconcile(
        &self,
        api: &Api<EndpointSlice>,
        key: &Key,
        svc: Option<&Arc<Service>>,
        wanted: Vec<Desired>,
        existing: Vec<EndpointSlice>,
    ) -> anyhow::Result<()> {
        let ns = key.namespace.as_deref().unwrap_or("");
        let labels = svc.map(|s| slice_labels(s));
        let mut unused: Vec<&EndpointSlice> = existing.iter().collect();
        for want in &wanted {
            // Reuse a slice with the same ports; rewrite it only if it differs.
            let reuse = unused.iter().position(|s| s.ports == want.ports);
            let current = reuse.map(|i| unused.remove(i));
            if let Some(cur) = current
                && cur.endpoints == want.endpoints
                && cur.metadata.labels == labels
            {
                continue;
            }
            let Some(svc) = svc else { continue };
            let slice = EndpointSlice {
                metadata: ObjectMeta {
                    name: current.and_then(|c| c.metadata.name.clone()),
                    generate_name: current.is_none().then(|| format!("{}-", key.name)),
                    namespace: key.namespace.clone(),
                    labels: labels.clone(),
                    owner_references: Some(vec![controller_ref(svc.as_ref())]),
                    resource_version: current.and_then(|c| c.metadata.resource_version.clone()),
                    ..Default::default()
                },
                address_type: "IPv4".into(),
                endpoints: want.endpoints.clone(),
                ports: want.ports.clone(),
            };
            let name = current.and_then(|c| c.metadata.name.as_deref());
            let result = match name {
                Some(name) => api.replace(name, &PostParams::default(), &slice).await.map(drop),
                None => api.create(&PostParams::default(), &slice).await.map(drop),
            };
            match result {
                Ok(()) => {}
                // Creates in a namespace being deleted keep failing: dropped, as upstream.
                Err(e) if name.is_none() && namespace_terminating(&e) => return Ok(()),
                // Conflicts included: the next sync reads again.
                Err(e) => {
                    let op = if name.is_some() { "update" } else { "create" };
                    anyhow::bail!(write_error(op, name, ns, &key.name, &api_message(&e)));
                }
            }
        }
        for stale in unused {
            let name = stale.metadata.name.clone().unwrap_or_default();
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => anyhow::bail!(write_error("delete", Some(&name), ns, &key.name, &api_message(&e))),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::endpoints::tests::{pod, service};

    #[test]
    fn failures_read_as_upstream_words_them() {
        let update = write_error("update", Some("web-x1"), "ns", "web", "conflict");
        assert_eq!(update, "failed to update web-x1 EndpointSlice for Service ns/web: conflict");
        let create = write_error("create", None, "ns", "web", "denied");
        assert_eq!(create, "failed to create EndpointSlice for Service ns/web: denied");
        assert_eq!(
            failure_message("ns", "web", &create),
            "Error updating Endpoint Slices for Service ns/web: failed to create EndpointSlice for Service ns/web: denied"
        );
    }

    #[test]
    fn slices_carry_conditions_ports_and_zones() {
        let svc = service(json!({}));
        let mut terminating = (*pod("c", "10.0.0.3", true, "http")).clone();
        terminating.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()));
        let pods =
            [pod("a", "10.0.0.1", true, "http"), pod("b", "10.0.0.2", false, "http"), Arc::new(terminating)];
        let slices = desired(&svc, &pods, |_| Some("zone-a".into()));
        assert_eq!(slices.len(), 1);
        let s = &slices[0];
        assert_eq!(s.ports.as_ref().unwrap()[0].port, Some(8080));
        let conditions: Vec<_> = s
            .endpoints
            .iter()
            .map(|e| {
                let c = e.conditions.as_ref().unwrap();
                (e.addresses[0].as_str(), c.ready, c.serving, c.terminating)
            })
            .collect();
        assert_eq!(
            conditions,
            [
                ("10.0.0.1", Some(true), Some(true), Some(false)),
                ("10.0.0.2", Some(false), Some(false), Some(false)),
                ("10.0.0.3", Some(false), Some(true), Some(true)),
            ]
        );
        assert_eq!(s.endpoints[0].zone.as_deref(), Some("zone-a"));
        let labels = slice_labels(&service(json!({"clusterIP": "None"})));
        assert_eq!(labels[SERVICE_NAME_LABEL], "web");
        assert_eq!(labels[MANAGED_BY_LABEL], MANAGED_BY);
        assert_eq!(labels["service.kubernetes.io/headless"], "");
    }

    #[test]
    fn no_endpoints_leave_a_placeholder_and_large_services_split() {
        let svc = service(json!({}));
        assert_eq!(desired(&svc, &[], |_| None), [Desired::default()]);
        let pods: Vec<_> = (0..150)
            .map(|i| pod(&format!("p{i}"), &format!("10.0.{}.{}", i / 100, i % 100), true, "http"))
            .collect();
        let slices = desired(&svc, &pods, |_| None);
        assert_eq!(slices.iter().map(|s| s.endpoints.len()).collect::<Vec<_>>(), [100, 50]);
    }
}
