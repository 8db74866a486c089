//! Objects every cluster has from the start: the four system namespaces, the `kubernetes`
//! Service in `default`, the `cluster-admin` role and binding, the local APIServices, and the
//! two system PriorityClasses.

use serde_json::{Value, json};
use tug_store::{Store, StoreError};

/// The Service IP of the API server inside the cluster (first address of the service range).
pub const KUBERNETES_SERVICE_IP: &str = "10.43.0.1";

pub async fn ensure(store: &dyn Store) -> Result<(), StoreError> {
    let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let obj = json!({
            "kind": "Namespace",
            "apiVersion": "v1",
            "metadata": {
                "name": ns,
                "uid": uid_for(ns),
                "creationTimestamp": now,
                "labels": {"kubernetes.io/metadata.name": ns},
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        });
        create_if_absent(store, &format!("/registry/core/namespaces/{ns}"), &obj).await?;
    }
    let svc = json!({
        "kind": "Service",
        "apiVersion": "v1",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "uid": uid_for("kubernetes-service"),
            "creationTimestamp": now,
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {
            "clusterIP": KUBERNETES_SERVICE_IP,
            "clusterIPs": [KUBERNETES_SERVICE_IP],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
            "sessionAffinity": "None",
            "type": "ClusterIP",
        },
        "status": {"loadBalancer": {}},
    });
    // Its address is claimed like any other Service's (see rest/allocate.rs).
    let claim = format!("/registry/ranges/serviceips/{KUBERNETES_SERVICE_IP}");
    match store.create(&claim, bytes::Bytes::from_static(b"default/kubernetes")).await {
        Ok(_) | Err(StoreError::AlreadyExists { .. }) => {}
        Err(other) => return Err(other),
    }
    create_if_absent(store, "/registry/core/services/default/kubernetes", &svc).await?;
    for (plural, obj) in cluster_admin(&now) {
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        create_if_absent(store, &format!("/registry/rbac.authorization.k8s.io/{plural}/{name}"), &obj)
            .await?;
    }
    for service in api_services(&now) {
        let name = service.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        create_if_absent(store, &format!("/registry/apiregistration.k8s.io/apiservices/{name}"), &service)
            .await?;
    }
    // Upstream's API server creates these for critical add-ons (DNS, the node agent's pods).
    for (name, value, description) in [
        (
            "system-node-critical",
            2_000_001_000,
            "Used for system critical pods that must not be moved from their current node.",
        ),
        (
            "system-cluster-critical",
            2_000_000_000,
            "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
        ),
    ] {
        let class = json!({
            "kind": "PriorityClass",
            "apiVersion": "scheduling.k8s.io/v1",
            "metadata": {"name": name, "uid": uid_for(name), "creationTimestamp": now, "generation": 1},
            "value": value,
            "globalDefault": false,
            "description": description,
            "preemptionPolicy": "PreemptLowerPriority",
        });
        create_if_absent(store, &format!("/registry/scheduling.k8s.io/priorityclasses/{name}"), &class)
            .await?;
    }
    for crd in snapshot_crds(&now) {
        let name = crd.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        create_if_absent(
            store,
            &format!("/registry/apiextensions.k8s.io/customresourcedefinitions/{name}"),
            &crd,
        )
        .await?;
    }
    Ok(())
}

/// Upstream's `cluster-admin` ClusterRole (everything) and its binding to `system:masters`,
/// the group of the admin credentials in the kubeconfig; RBAC's bootstrap policy creates both.
fn cluster_admin(now: &str) -> [(&'static str, Value); 2] {
    let metadata = |kind: &str| {
        json!({
            "name": "cluster-admin",
            "uid": uid_for(&format!("{kind}/cluster-admin")),
            "creationTimestamp": now,
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
        })
    };
    let role = json!({
        "kind": "ClusterRole",
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "metadata": metadata("ClusterRole"),
        "rules": [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
            {"nonResourceURLs": ["*"], "verbs": ["*"]},
        ],
    });
    let binding = json!({
        "kind": "ClusterRoleBinding",
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "metadata": metadata("ClusterRoleBinding"),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:masters"}],
    });
    [("clusterroles", role), ("clusterrolebindings", binding)]
}

/// Group and version priorities of the built-in group versions, from kube-apiserver's
/// aggregator; a group version without one gets no APIService (apiregistration.k8s.io itself).
const API_SERVICE_PRIORITIES: &[(&str, &str, i64, i64)] = &[
    ("", "v1", 18000, 1),
    ("apps", "v1", 17800, 15),
    ("events.k8s.io", "v1", 17750, 15),
    ("authentication.k8s.io", "v1", 17700, 15),
    ("authorization.k8s.io", "v1", 17600, 15),
    ("autoscaling", "v1", 17500, 15),
    ("autoscaling", "v2", 17500, 30),
    ("batch", "v1", 17400, 15),
    ("certificates.k8s.io", "v1", 17300, 15),
    ("networking.k8s.io", "v1", 17200, 15),
    ("policy", "v1", 17100, 15),
    ("rbac.authorization.k8s.io", "v1", 17000, 15),
    ("storage.k8s.io", "v1", 16800, 15),
    ("apiextensions.k8s.io", "v1", 16700, 15),
    ("admissionregistration.k8s.io", "v1", 16700, 15),
    ("scheduling.k8s.io", "v1", 16600, 15),
    ("coordination.k8s.io", "v1", 16500, 15),
    ("node.k8s.io", "v1", 16300, 15),
    ("discovery.k8s.io", "v1", 16200, 15),
    ("flowcontrol.apiserver.k8s.io", "v1", 16100, 21),
];

/// The APIServices the aggregator registers on start for the group versions served here:
/// local (no `spec.service`), hence always available.
fn api_services(now: &str) -> Vec<Value> {
    let served = tug_api::resources::builtin();
    API_SERVICE_PRIORITIES
        .iter()
        .filter(|(g, v, _, _)| served.iter().any(|r| r.group == *g && r.version == *v))
        .map(|&(group, version, group_priority, version_priority)| {
            let name = format!("{version}.{group}");
            json!({
                "kind": "APIService",
                "apiVersion": "apiregistration.k8s.io/v1",
                "metadata": {
                    "name": name,
                    "uid": uid_for(&format!("apiservice/{name}")),
                    "creationTimestamp": now,
                    "labels": {"kube-aggregator.kubernetes.io/automanaged": "onstart"},
                },
                "spec": {
                    "group": group,
                    "version": version,
                    "groupPriorityMinimum": group_priority,
                    "versionPriority": version_priority,
                },
                "status": {"conditions": [{
                    "type": "Available",
                    "status": "True",
                    "lastTransitionTime": now,
                    "reason": "Local",
                    "message": "Local APIServices are always available",
                }]},
            })
        })
        .collect()
}

/// The volume snapshot API (snapshot.storage.k8s.io/v1), which clusters ship as CRDs (k3s
/// among them) and the Kubernetes docs' examples use.
fn snapshot_crds(now: &str) -> Vec<Value> {
    let column = |name: &str, type_: &str, path: &str| json!({"name": name, "type": type_, "jsonPath": path});
    let age = column("Age", "date", ".metadata.creationTimestamp");
    let definitions = [
        (
            "volumesnapshots",
            "VolumeSnapshot",
            "volumesnapshot",
            vec!["vs"],
            "Namespaced",
            true,
            vec![
                column("ReadyToUse", "boolean", ".status.readyToUse"),
                column("SourcePVC", "string", ".spec.source.persistentVolumeClaimName"),
                column("SourceSnapshotContent", "string", ".spec.source.volumeSnapshotContentName"),
                column("RestoreSize", "string", ".status.restoreSize"),
                column("SnapshotClass", "string", ".spec.volumeSnapshotClassName"),
                column("SnapshotContent", "string", ".status.boundVolumeSnapshotContentName"),
                column("CreationTime", "date", ".status.creationTime"),
                age.clone(),
            ],
        ),
        (
            "volumesnapshotclasses",
            "VolumeSnapshotClass",
            "volumesnapshotclass",
            vec!["vsclass", "vsclasses"],
            "Cluster",
            false,
            vec![
                column("Driver", "string", ".driver"),
                column("DeletionPolicy", "string", ".deletionPolicy"),
                age.clone(),
            ],
        ),
        (
            "volumesnapshotcontents",
            "VolumeSnapshotContent",
            "volumesnapshotcontent",
            vec!["vsc", "vscs"],
            "Cluster",
            true,
            vec![
                column("ReadyToUse", "boolean", ".status.readyToUse"),
                column("RestoreSize", "integer", ".status.restoreSize"),
                column("DeletionPolicy", "string", ".spec.deletionPolicy"),
                column("Driver", "string", ".spec.driver"),
                column("VolumeSnapshotClass", "string", ".spec.volumeSnapshotClassName"),
                column("VolumeSnapshot", "string", ".spec.volumeSnapshotRef.name"),
                column("VolumeSnapshotNamespace", "string", ".spec.volumeSnapshotRef.namespace"),
                age,
            ],
        ),
    ];
    definitions
        .into_iter()
        .map(|(plural, kind, singular, short, scope, status, columns)| {
            let mut version = json!({
                "name": "v1",
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                "additionalPrinterColumns": columns,
            });
            if status {
                version["subresources"] = json!({"status": {}});
            }
            let mut crd = json!({
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": format!("{plural}.snapshot.storage.k8s.io"), "uid": uid_for(plural), "creationTimestamp": now},
                "spec": {
                    "group": "snapshot.storage.k8s.io",
                    "names": {"plural": plural, "singular": singular, "kind": kind, "listKind": format!("{kind}List"), "shortNames": short},
                    "scope": scope,
                    "versions": [version],
                },
            });
            let causes = tug_api::crd::prepare(&mut crd, now);
            debug_assert!(causes.is_empty(), "{causes:?}");
            crd
        })
        .collect()
}

async fn create_if_absent(store: &dyn Store, key: &str, obj: &Value) -> Result<(), StoreError> {
    match store.create(key, bytes::Bytes::from(crate::discovery::object_json(obj))).await {
        Ok(_) | Err(StoreError::AlreadyExists { .. }) => Ok(()),
        Err(other) => Err(other),
    }
}

/// A stable UUID-shaped uid for a built-in object (same on every server of a cluster).
fn uid_for(name: &str) -> String {
    use sha2::Digest;
    let h = hex::encode(sha2::Sha256::digest(name.as_bytes()));
    format!("{}-{}-4{}-8{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}
