//! Binding: `POST pods/{name}/binding`, as upstream's DefaultBinder. Many run at once; the
//! scheduling loop does not wait for them.

use k8s_openapi::{
    api::core::v1::{Binding, ObjectReference, Pod},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{Api, Client, api::PostParams};

/// Binds the pod (by uid, so that a re-created pod of the same name is not bound) to the node.
///
/// # Errors
/// The API's refusal: the pod is gone, already bound, or being deleted.
pub async fn bind(
    client: Client,
    namespace: &str,
    name: &str,
    uid: &str,
    node: &str,
) -> Result<(), kube::Error> {
    let api: Api<Pod> = Api::namespaced(client, namespace);
    let binding = Binding {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            uid: Some(uid.to_string()),
            ..ObjectMeta::default()
        },
        target: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(node.to_string()),
            ..ObjectReference::default()
        },
    };
    api.create_subresource::<_, serde_json::Value>("binding", name, &PostParams::default(), &binding).await?;
    Ok(())
}
