//! End to end: kube-rs, the client our controllers will use, against a real `tug server`:
//! typed CRUD, patch, server-side apply, a watcher and a reflector's list-then-watch.

mod common;

use common::Server;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{
    Api, Client,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
    runtime::{WatchStreamExt, watcher},
};

fn configmap(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"app": "kube-rs"}},
        "data": {"key": value},
    }))
    .unwrap()
}

async fn client(s: &Server) -> Client {
    let kubeconfig = Kubeconfig::read_from(s.kubeconfig()).unwrap();
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.unwrap();
    Client::try_from(config).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_crud_patch_apply_and_watch() {
    let s = Server::start();
    let cms: Api<ConfigMap> = Api::namespaced(client(&s).await, "default");

    let created = cms.create(&PostParams::default(), &configmap("one", "a")).await.unwrap();
    assert!(created.metadata.uid.is_some() && created.metadata.resource_version.is_some());
    let err = cms.create(&PostParams::default(), &configmap("one", "a")).await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409 && s.reason == "AlreadyExists"),
        "{err:?}"
    );

    let got = cms.get("one").await.unwrap();
    assert_eq!(got.data.unwrap()["key"], "a");
    let patched = cms
        .patch("one", &PatchParams::default(), &Patch::Merge(serde_json::json!({"data": {"key": "b"}})))
        .await
        .unwrap();
    assert_eq!(patched.data.unwrap()["key"], "b");
    let applied = cms
        .patch("two", &PatchParams::apply("kube-rs-test"), &Patch::Apply(configmap("two", "c")))
        .await
        .unwrap();
    assert_eq!(applied.metadata.managed_fields.unwrap()[0].manager.as_deref(), Some("kube-rs-test"));

    let listed = cms.list(&ListParams::default().labels("app=kube-rs")).await.unwrap();
    let mut names: Vec<String> = listed.items.into_iter().filter_map(|c| c.metadata.name).collect();
    names.sort();
    assert_eq!(names, ["one", "two"]);

    // A watcher (list, then watch; kube-rs falls back from WatchList as needed) sees a new object.
    let mut events =
        watcher(cms.clone(), watcher::Config::default().labels("app=kube-rs")).applied_objects().boxed();
    let mut seen = Vec::new();
    let writer = cms.clone();
    let mut created_three = false;
    while !seen.contains(&"three".to_string()) {
        let cm = tokio::time::timeout(std::time::Duration::from_secs(20), events.try_next())
            .await
            .expect("watch event within 20 s")
            .unwrap()
            .expect("the watch goes on");
        seen.push(cm.metadata.name.unwrap_or_default());
        if !created_three && seen.contains(&"one".to_string()) && seen.contains(&"two".to_string()) {
            writer.create(&PostParams::default(), &configmap("three", "d")).await.unwrap();
            created_three = true;
        }
    }

    // WatchList (sendInitialEvents, ended by the initial-events-end bookmark), as client-go 1.35
    // uses for rollout status and waits.
    let streaming = watcher(cms.clone(), watcher::Config::default().labels("app=kube-rs").streaming_lists());
    let mut streaming = streaming.boxed();
    let mut initial = Vec::new();
    loop {
        let event = tokio::time::timeout(std::time::Duration::from_secs(20), streaming.try_next())
            .await
            .expect("streaming list within 20 s")
            .unwrap()
            .expect("the watch goes on");
        match event {
            watcher::Event::InitApply(cm) => initial.push(cm.metadata.name.unwrap_or_default()),
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    initial.sort();
    assert_eq!(initial, ["one", "three", "two"]);

    cms.delete("one", &DeleteParams::default()).await.unwrap();
    let err = cms.get("one").await.unwrap_err();
    assert!(matches!(err, kube::Error::Api(ref s) if s.code == 404), "{err:?}");
}

/// What the published kube-client crate's own cluster tests found missing: metadata-only
/// responses to writes, and the ephemeralcontainers subresource.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_patches_and_ephemeral_containers() {
    use k8s_openapi::api::core::v1::Pod;
    use kube::core::{ObjectMeta, PartialObjectMetaExt};

    let s = Server::start();
    let client = client(&s).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.create(&PostParams::default(), &configmap("meta", "a")).await.unwrap();
    let patch = ObjectMeta { annotations: Some([("note".into(), "hi".into())].into()), ..Default::default() }
        .into_request_partial::<ConfigMap>();
    // Accept: ...;as=PartialObjectMetadata;g=meta.k8s.io;v=v1 gets the metadata alone.
    let patched = cms.patch_metadata("meta", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    let types = patched.types.unwrap();
    assert_eq!(
        (types.kind.as_str(), types.api_version.as_str()),
        ("PartialObjectMetadata", "meta.k8s.io/v1")
    );
    assert_eq!(patched.metadata.annotations.unwrap()["note"], "hi");

    let pods: Api<Pod> = Api::namespaced(client, "default");
    let pod = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "debugged"},
        "spec": {"containers": [{"name": "app", "image": "busybox"}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let debug = |name: &str| serde_json::json!({"name": name, "image": "busybox", "command": ["sh"]});
    let with_one: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "debugged"}, "spec": {"containers": [], "ephemeralContainers": [debug("one")]},
    }))
    .unwrap();
    let replaced =
        pods.replace_ephemeral_containers("debugged", &PostParams::default(), &with_one).await.unwrap();
    assert_eq!(replaced.spec.unwrap().ephemeral_containers.unwrap()[0].name, "one");
    // A strategic merge patch adds by name; the Pod's containers are untouched.
    let patch: Pod =
        serde_json::from_value(serde_json::json!({"spec": {"ephemeralContainers": [debug("two")]}})).unwrap();
    let patched = pods
        .patch_ephemeral_containers("debugged", &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .unwrap();
    let spec = patched.spec.unwrap();
    let mut names: Vec<_> = spec.ephemeral_containers.unwrap().into_iter().map(|c| c.name).collect();
    names.sort();
    assert_eq!(
        (names, spec.containers[0].image.as_deref()),
        (vec!["one".into(), "two".into()], Some("busybox"))
    );
    // Ephemeral containers stay: replacing the list without them is refused.
    let err =
        pods.replace_ephemeral_containers("debugged", &PostParams::default(), &with_one).await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 422
            && s.message.contains("existing ephemeral containers \"two\" may not be removed")),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_reads() {
    let s = Server::start();
    let cms: Api<ConfigMap> = Api::namespaced(client(&s).await, "default");
    cms.create(&PostParams::default(), &configmap("meta", "a")).await.unwrap();
    let got = cms.get_metadata("meta").await.unwrap();
    assert_eq!(got.types.unwrap().kind, "PartialObjectMetadata");
    let listed = cms.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(listed.types.kind, "PartialObjectMetadataList");
    assert_eq!(listed.items[0].types.as_ref().unwrap().kind, "PartialObjectMetadata");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_node_gets_client_credentials_of_its_own() {
    let s = Server::start();
    let node = tug_kubelet::connect::connect_node(&common::server_url(&s), &common::join_token(&s), "node-a")
        .await
        .expect("the join token buys node credentials");
    let review = serde_json::json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "SelfSubjectReview",
    });
    let request = http::Request::post("/apis/authentication.k8s.io/v1/selfsubjectreviews")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&review).unwrap())
        .unwrap();
    let answer: serde_json::Value = node.request(request).await.unwrap();
    let user = &answer["status"]["userInfo"];
    assert_eq!(user["username"], "system:node:node-a", "{answer}");
    assert!(user["groups"].as_array().unwrap().iter().any(|g| g == "system:nodes"), "{answer}");

    // Only the join token may ask, and only for a valid node name.
    let body = s.dir.path().join("request.json");
    std::fs::write(&body, r#"{"nodeName": "node-b"}"#).unwrap();
    let body = body.to_str().unwrap();
    let refused = s.fails(&["create", "--raw", "/v1-tug/node-credentials", "-f", body]);
    assert!(refused.contains("Forbidden") || refused.contains("forbidden"), "{refused}");
    let joined =
        tug_kubelet::connect::connect(&common::server_url(&s), &common::join_token(&s)).await.unwrap();
    let request = http::Request::post("/v1-tug/node-credentials")
        .header("content-type", "application/json")
        .body(br#"{"nodeName": "Not_A_Name"}"#.to_vec())
        .unwrap();
    match joined.request::<serde_json::Value>(request).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 400, "{status:?}");
            assert!(status.message.contains("invalid node name"), "{status:?}");
        }
        other => panic!("a bad node name was not refused: {other:?}"),
    }
}

/// Writes read the object they change from the watch cache, which may lag the datastore by a
/// moment; a client that writes again with the resourceVersion it was just given must never
/// see a conflict for it, nor a create in a namespace just made be refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_right_after_writes_see_the_latest_object() {
    let s = Server::start();
    let client = client(&s).await;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut cm = cms.create(&PostParams::default(), &configmap("busy", "0")).await.unwrap();
    for i in 1..=100 {
        cm.data = Some([("key".to_string(), i.to_string())].into());
        cm = cms.replace("busy", &PostParams::default(), &cm).await.unwrap();
        let rv = cm.metadata.resource_version.clone().unwrap();
        let patch = serde_json::json!({"metadata": {"resourceVersion": rv, "labels": {"n": i.to_string()}}});
        cm = cms.patch("busy", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
        let ns = format!("fresh-{i}");
        let body = serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).unwrap();
        namespaces.create(&PostParams::default(), &body).await.unwrap();
        Api::<ConfigMap>::namespaced(client.clone(), &ns)
            .create(&PostParams::default(), &configmap("first", "x"))
            .await
            .unwrap();
    }
    assert_eq!(cm.data.as_ref().unwrap()["key"], "100");
    // A stale resourceVersion is still a conflict.
    cm.metadata.resource_version = Some("1".into());
    let err = cms.replace("busy", &PostParams::default(), &cm).await.unwrap_err();
    assert!(matches!(err, kube::Error::Api(ref e) if e.code == 409), "{err:?}");
}
