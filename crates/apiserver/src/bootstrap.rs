//! Objects every cluster has from the start: the four system namespaces and the `kubernetes`
//! Service in `default`.

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
    match store.create(key, bytes::Bytes::from(obj.to_string())).await {
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
