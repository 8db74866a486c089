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
    create_if_absent(store, "/registry/core/services/default/kubernetes", &svc).await
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
