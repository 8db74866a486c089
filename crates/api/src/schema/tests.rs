use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::builtin::{self, registry};
use super::*;
use crate::patch::{BuiltinSchema, ListStrategy, PatchSchema};

// ---------------------------------------------------------------------------------------------
// Schemas

/// Generation from scratch, measured (printed, not asserted: machines differ).
#[test]
fn generation_cost() {
    let start = std::time::Instant::now();
    let fresh = builtin::build();
    let elapsed = start.elapsed();
    let bytes = serde_json::to_vec(&fresh.schemas).unwrap().len();
    println!(
        "schema generation: {} definitions, {} KiB of JSON, {:.1} ms",
        fresh.schemas.len(),
        bytes / 1024,
        elapsed.as_secs_f64() * 1000.0
    );
    assert!(fresh.schemas.len() > 500, "{}", fresh.schemas.len());
    assert_eq!(fresh.schemas.len(), registry().schemas.len());
}

fn served() -> Vec<crate::resources::Resource> {
    crate::resources::builtin()
}

#[test]
fn every_served_kind_has_a_definition_with_its_group_version_kind() {
    for r in served() {
        let name = definition_for(&r.group, &r.version, &r.kind)
            .unwrap_or_else(|| panic!("no definition for {}/{} {}", r.group, r.version, r.kind));
        let gvks = schema(name).unwrap()["x-kubernetes-group-version-kind"].as_array().unwrap();
        assert!(
            gvks.contains(&json!({"group": r.group, "kind": r.kind, "version": r.version})),
            "{name}: {gvks:?}"
        );
        // Create-only kinds (Binding, TokenReview, SelfSubjectReview) have no list, upstream as here.
        if r.verbs != ["create"] {
            let list = definition_for(&r.group, &r.version, &format!("{}List", r.kind));
            assert_eq!(list, Some(format!("{name}List")).as_deref(), "{}", r.kind);
        }
    }
    assert_eq!(definition_for("", "v1", "Pod"), Some("io.k8s.api.core.v1.Pod"));
    assert_eq!(definition_for("apps", "v1", "Deployment"), Some("io.k8s.api.apps.v1.Deployment"));
    assert_eq!(
        definition_for("autoscaling", "v2", "HorizontalPodAutoscaler"),
        Some("io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler")
    );
    assert_eq!(definition_for("events.k8s.io", "v1", "Event"), Some("io.k8s.api.events.v1.Event"));
    assert_eq!(definition_for("", "v1", "Event"), Some("io.k8s.api.core.v1.Event"));
    assert_eq!(definition_for("autoscaling", "v1", "Scale"), Some("io.k8s.api.autoscaling.v1.Scale"));
    assert_eq!(definition_for("apps", "v1", "Pod"), None);
    assert_eq!(definition_for("", "v1", "PodExecOptions"), None);
    assert_eq!(definition_for("stable.example.com", "v1", "CronTab"), None);
}

fn refs_of(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    // JSONSchemaProps has a field named `$ref`, of type string.
                    ("$ref", Value::String(r)) => {
                        out.insert(r.clone());
                    }
                    _ => refs_of(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs_of(v, out)),
        _ => {}
    }
}

/// The group-versions served, each with its kinds.
fn documents() -> Vec<(String, String, Vec<String>)> {
    let mut docs: Vec<(String, String, Vec<String>)> = Vec::new();
    for r in served() {
        match docs.iter_mut().find(|(g, v, _)| *g == r.group && *v == r.version) {
            Some((_, _, kinds)) => kinds.push(r.kind),
            None => docs.push((r.group, r.version, vec![r.kind])),
        }
    }
    docs
}

#[test]
fn documents_are_closed_under_refs() {
    for (group, version, kinds) in documents() {
        let kinds: Vec<&str> = kinds.iter().map(String::as_str).collect();
        let doc = document_schemas(&group, &version, &kinds);
        let mut refs = BTreeSet::new();
        refs_of(&Value::Object(doc.clone()), &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let name = r.strip_prefix(REF_PREFIX).unwrap_or_else(|| panic!("{r} is not a component ref"));
            assert!(doc.contains_key(name), "{group}/{version}: {name} is referenced but missing");
        }
        for kind in &kinds {
            let name = definition_for(&group, &version, kind).unwrap();
            assert!(doc.contains_key(name), "{name}");
            let create_only = matches!(*kind, "Binding" | "TokenReview" | "SelfSubjectReview");
            assert!(doc.contains_key(&format!("{name}List")) || create_only, "{name}List");
        }
    }
    // Only what is reachable: no apps types in the core document.
    let core = document_schemas("", "v1", &["Pod", "Service"]);
    assert!(core.contains_key("io.k8s.api.core.v1.Pod"));
    assert!(core.contains_key("io.k8s.api.core.v1.ServiceSpec"));
    assert!(core.contains_key("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
    assert!(core.contains_key("io.k8s.apimachinery.pkg.util.intstr.IntOrString"));
    assert!(!core.keys().any(|k| k.starts_with("io.k8s.api.apps.")));
    assert!(document_schemas("", "v1", &["NoSuchKind"]).is_empty());
}

/// Follows a field path the way `kubectl explain` does: through `$ref`, single `allOf`,
/// array items and map values. Returns the field's own schema (the one holding its
/// description) and the resolved schema of its type.
fn explain(doc: &Map<String, Value>, root: &str, path: &[&str]) -> (Value, Value) {
    fn resolved(doc: &Map<String, Value>, mut s: Value) -> Value {
        loop {
            if let Some(r) = s.get("$ref").and_then(Value::as_str) {
                s = doc[r.strip_prefix(REF_PREFIX).unwrap()].clone();
            } else if let Some(Value::Array(all)) = s.get("allOf") {
                s = all[0].clone();
            } else if let Some(items) = s.get("items") {
                s = items.clone();
            } else if let Some(values @ Value::Object(_)) = s.get("additionalProperties") {
                s = values.clone();
            } else {
                return s;
            }
        }
    }
    let mut field = doc[root].clone();
    let mut ty = field.clone();
    for name in path {
        field = ty["properties"].get(*name).unwrap_or_else(|| panic!("no field {name} in {path:?}")).clone();
        ty = resolved(doc, field.clone());
    }
    (field, ty)
}

#[test]
fn explain_finds_descriptions_along_paths() {
    let apps = document_schemas("apps", "v1", &["Deployment"]);
    let deployment = "io.k8s.api.apps.v1.Deployment";
    assert!(
        apps[deployment]["description"]
            .as_str()
            .unwrap()
            .starts_with("Deployment enables declarative updates")
    );
    let (spec, _) = explain(&apps, deployment, &["spec"]);
    assert_eq!(spec["description"], "Specification of the desired behavior of the Deployment.");
    let (containers, container) = explain(&apps, deployment, &["spec", "template", "spec", "containers"]);
    assert!(
        containers["description"].as_str().unwrap().starts_with("List of containers belonging to the pod.")
    );
    assert!(container["description"].as_str().unwrap().contains("A single application container"));
    assert!(container["required"].as_array().unwrap().contains(&json!("name")));
    let (policy, _) =
        explain(&apps, deployment, &["spec", "template", "spec", "containers", "imagePullPolicy"]);
    assert!(policy["description"].as_str().unwrap().contains("Image pull policy"));
    assert_eq!(policy["type"], "string");
    let (max_surge, surge_type) =
        explain(&apps, deployment, &["spec", "strategy", "rollingUpdate", "maxSurge"]);
    assert!(max_surge["description"].as_str().unwrap().contains("maximum number of pods"));
    assert_eq!(surge_type["format"], "int-or-string");
    let (labels, label_value) = explain(&apps, deployment, &["metadata", "labels"]);
    assert!(labels["description"].as_str().unwrap().starts_with("Map of string keys and values"));
    assert_eq!(label_value["type"], "string");

    let core = document_schemas("", "v1", &["Pod", "Service", "ConfigMap"]);
    let (port, _) = explain(&core, "io.k8s.api.core.v1.Service", &["spec", "ports", "targetPort"]);
    assert!(port["description"].as_str().unwrap().contains("Number or name of the port"));
    let (data, _) = explain(&core, "io.k8s.api.core.v1.ConfigMap", &["data"]);
    assert!(data["description"].as_str().unwrap().starts_with("Data contains the configuration data."));
}

#[test]
fn references_with_descriptions_are_wrapped_as_upstream_writes_them() {
    let pod = schema("io.k8s.api.core.v1.Pod").unwrap();
    let metadata = &pod["properties"]["metadata"];
    assert_eq!(
        metadata["allOf"],
        json!([{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}])
    );
    assert!(metadata.get("$ref").is_none());
    assert!(metadata["description"].as_str().unwrap().starts_with("Standard object's metadata."));
    // Upstream's objects do not require their metadata (k8s-openapi's Rust types do).
    assert!(pod.get("required").is_none());
    assert_eq!(schema("io.k8s.api.core.v1.Binding").unwrap()["required"], json!(["target"]));
    assert_eq!(schema("io.k8s.api.core.v1.ContainerImage").unwrap()["required"], json!(["names"]));
    assert_eq!(schema("io.k8s.api.events.v1.Event").unwrap()["required"], json!(["eventTime"]));
    // Plain references (no siblings) stay plain.
    let containers = &schema("io.k8s.api.core.v1.PodSpec").unwrap()["properties"]["containers"];
    assert_eq!(containers["items"], json!({"$ref": "#/components/schemas/io.k8s.api.core.v1.Container"}));
}

#[test]
fn scalar_types_are_published_as_upstream_does() {
    let def = |name: &str| schema(name).unwrap_or_else(|| panic!("{name}")).clone();
    let int_or_string = def("io.k8s.apimachinery.pkg.util.intstr.IntOrString");
    assert_eq!(int_or_string["format"], "int-or-string");
    assert_eq!(int_or_string["oneOf"], json!([{"type": "integer"}, {"type": "string"}]));
    assert!(int_or_string.get("type").is_none());
    let quantity = def("io.k8s.apimachinery.pkg.api.resource.Quantity");
    assert_eq!(quantity["oneOf"], json!([{"type": "string"}, {"type": "number"}]));
    assert!(quantity.get("x-kubernetes-int-or-string").is_none());
    let time = def("io.k8s.apimachinery.pkg.apis.meta.v1.Time");
    assert_eq!((time["type"].as_str(), time["format"].as_str()), (Some("string"), Some("date-time")));
    let raw = def("io.k8s.apimachinery.pkg.runtime.RawExtension");
    assert_eq!(raw["type"], "object");
    assert!(raw.get("properties").is_none());
    let json_value = def("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON");
    assert!(json_value.get("type").is_none());
    assert!(json_value["description"].as_str().unwrap().starts_with("JSON represents any valid JSON value."));
    let or_array = def("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray");
    assert!(or_array.get("oneOf").is_none());

    let spec = def("io.k8s.api.apps.v1.DeploymentSpec");
    assert_eq!(
        spec["properties"]["replicas"],
        json!({"description": spec["properties"]["replicas"]["description"], "type": "integer", "format": "int32"})
    );
    let pod_spec = def("io.k8s.api.core.v1.PodSpec");
    assert_eq!(pod_spec["properties"]["activeDeadlineSeconds"]["format"], "int64");
    let secret = def("io.k8s.api.core.v1.Secret");
    assert_eq!(
        secret["properties"]["data"]["additionalProperties"],
        json!({"type": "string", "format": "byte"})
    );
    let hpa = def("io.k8s.api.autoscaling.v1.HorizontalPodAutoscalerStatus");
    assert_eq!(
        hpa["properties"]["lastScaleTime"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Time"
    );
    let list = def("io.k8s.api.core.v1.PodList");
    assert_eq!(
        list["x-kubernetes-group-version-kind"],
        json!([{"group": "", "kind": "PodList", "version": "v1"}])
    );
    assert_eq!(list["properties"]["items"]["items"]["$ref"], "#/components/schemas/io.k8s.api.core.v1.Pod");
    assert_eq!(list["required"], json!(["items"]));
}

#[test]
fn patch_and_list_metadata_where_upstream_has_it() {
    let field = |def: &str, name: &str| schema(def).unwrap()["properties"][name].clone();
    let containers = field("io.k8s.api.core.v1.PodSpec", "containers");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-list-type"], "map");
    assert_eq!(containers["x-kubernetes-list-map-keys"], json!(["name"]));
    let volumes = field("io.k8s.api.core.v1.PodSpec", "volumes");
    assert_eq!(volumes["x-kubernetes-patch-strategy"], "merge,retainKeys");
    let ports = field("io.k8s.api.core.v1.Container", "ports");
    assert_eq!(ports["x-kubernetes-list-map-keys"], json!(["containerPort", "protocol"]));
    let service_ports = field("io.k8s.api.core.v1.ServiceSpec", "ports");
    assert_eq!(service_ports["x-kubernetes-patch-merge-key"], "port");
    assert_eq!(field("io.k8s.api.core.v1.PodSpec", "tolerations")["x-kubernetes-list-type"], "atomic");
    assert!(field("io.k8s.api.core.v1.PodSpec", "tolerations").get("x-kubernetes-patch-strategy").is_none());
    let finalizers = field("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "finalizers");
    assert_eq!(
        (finalizers["x-kubernetes-patch-strategy"].as_str(), finalizers["x-kubernetes-list-type"].as_str()),
        (Some("merge"), Some("set"))
    );
    let strategy = field("io.k8s.api.apps.v1.DeploymentSpec", "strategy");
    assert_eq!(strategy["x-kubernetes-patch-strategy"], "retainKeys");
    assert_eq!(strategy["allOf"][0]["$ref"], "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy");
}

#[test]
fn every_metadata_entry_names_an_existing_field() {
    for (definition, field) in super::extensions::fields() {
        let def = schema(definition).unwrap_or_else(|| panic!("no definition {definition}"));
        assert!(def["properties"].get(field).is_some(), "{definition} has no field {field}");
    }
}

/// The schema's merge metadata agrees with the table strategic merge patch uses, for every
/// list of every served kind, but for two places where that table's path rules miss
/// upstream's struct tags: a StatefulSet's claim templates carry PVC statuses (whose
/// conditions merge by type), and a CRD's status conditions carry no patch strategy.
#[test]
fn merge_metadata_agrees_with_strategic_merge_patch() {
    fn walk(
        schema: &Value,
        defs: &Map<String, Value>,
        path: &mut Vec<String>,
        seen: &mut Vec<String>,
        out: &mut Vec<(String, Option<String>, Option<String>)>,
    ) {
        if path.len() > 12 {
            return;
        }
        let schema = super::strict::resolve(schema, defs);
        let Some(props) = schema.get("properties").and_then(Value::as_object) else { return };
        for (name, field) in props {
            path.push(name.clone());
            let resolved = super::strict::resolve(field, defs);
            if resolved.get("type") == Some(&json!("array")) || field.get("type") == Some(&json!("array")) {
                let strategy =
                    field.get("x-kubernetes-patch-strategy").and_then(Value::as_str).map(str::to_string);
                let key =
                    field.get("x-kubernetes-patch-merge-key").and_then(Value::as_str).map(str::to_string);
                out.push((path.join("."), strategy, key));
                if let Some(items) = field.get("items") {
                    walk(items, defs, path, seen, out);
                }
            } else {
                let target = field
                    .pointer("/allOf/0/$ref")
                    .or_else(|| field.get("$ref"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                // A type met again on the same path is a cycle (JSONSchemaProps).
                if let Some(target) = target {
                    if !seen.contains(&target) {
                        seen.push(target);
                        walk(field, defs, path, seen, out);
                        seen.pop();
                    }
                } else {
                    walk(field, defs, path, seen, out);
                }
            }
            path.pop();
        }
    }
    let defs = &registry().schemas;
    let mut checked = 0;
    for r in served() {
        let name = definition_for(&r.group, &r.version, &r.kind).unwrap();
        let mut lists = Vec::new();
        walk(&defs[name], defs, &mut Vec::new(), &mut vec![name.to_string()], &mut lists);
        for (path, strategy, key) in lists {
            let segments: Vec<&str> = path.split('.').collect();
            let meta = BuiltinSchema.field(&segments);
            let merges = strategy.as_deref().is_some_and(|s| s.starts_with("merge"));
            let retains = strategy.as_deref().is_some_and(|s| s.contains("retainKeys"));
            let known_gap = matches!(
                (r.kind.as_str(), path.as_str()),
                ("StatefulSet", "spec.volumeClaimTemplates.status.conditions")
                    | ("CustomResourceDefinition" | "CertificateSigningRequest", "status.conditions")
            );
            let agrees = (meta.strategy == ListStrategy::Merge, &meta.merge_key, meta.retain_keys)
                == (merges, &key, retains);
            assert!(
                agrees != known_gap,
                "{} {path}: schema {strategy:?} {key:?}, patch table {meta:?}",
                r.kind
            );
            checked += 1;
        }
    }
    assert!(checked > 300, "{checked}");
}

// ---------------------------------------------------------------------------------------------
// Strict validation of built-in kinds

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "labels": {"app": "web", "tier": "frontend"},
            "annotations": {"deployment.kubernetes.io/revision": "3", "kubernetes.io/change-cause": "bump"},
            "uid": "0f6a7e48-2e2f-4c4e-9a0d-9f5f2b1c3d4e",
            "resourceVersion": "12345",
            "generation": 3,
            "creationTimestamp": "2025-01-01T00:00:00Z",
            "finalizers": ["example.com/cleanup"],
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": "1234", "controller": false, "blockOwnerDeletion": true}],
            "managedFields": [{
                "manager": "kubectl-client-side-apply",
                "operation": "Update",
                "apiVersion": "apps/v1",
                "time": "2025-01-01T00:00:00Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}, "f:spec": {"f:replicas": {}}}
            }]
        },
        "spec": {
            "replicas": 3,
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
            "minReadySeconds": 5,
            "paused": false,
            "selector": {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["frontend", "edge"]}]
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {"app": "web", "tier": "frontend"}, "annotations": {"prometheus.io/scrape": "true"}},
                "spec": pod_spec()
            }
        },
        "status": {
            "observedGeneration": 3,
            "replicas": 3,
            "updatedReplicas": 3,
            "readyReplicas": 3,
            "availableReplicas": 3,
            "terminatingReplicas": 0,
            "conditions": [{
                "type": "Available",
                "status": "True",
                "lastUpdateTime": "2025-01-01T00:00:00Z",
                "lastTransitionTime": "2025-01-01T00:00:00Z",
                "reason": "MinimumReplicasAvailable",
                "message": "Deployment has minimum availability."
            }]
        }
    })
}

/// A pod spec with probes, volumes of several kinds, env with valueFrom, resources,
/// security contexts, affinity and scheduling fields.
fn pod_spec() -> Value {
    json!({
        "serviceAccountName": "web",
        "automountServiceAccountToken": false,
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "enableServiceLinks": false,
        "priorityClassName": "high",
        "schedulerName": "default-scheduler",
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["db.local"]}],
        "imagePullSecrets": [{"name": "registry"}],
        "securityContext": {
            "runAsNonRoot": true,
            "runAsUser": 1000,
            "fsGroup": 2000,
            "supplementalGroups": [3000],
            "seccompProfile": {"type": "RuntimeDefault"},
            "sysctls": [{"name": "net.core.somaxconn", "value": "1024"}]
        },
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule", "tolerationSeconds": 60}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}]
                }
            },
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [{
                    "weight": 100,
                    "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}
                }]
            }
        },
        "topologySpreadConstraints": [{
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"app": "web"}}
        }],
        "initContainers": [{
            "name": "migrate",
            "image": "busybox:1.36",
            "command": ["sh", "-c"],
            "args": ["echo migrate"],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}]
        }],
        "containers": [{
            "name": "web",
            "image": "nginx:1.27",
            "imagePullPolicy": "IfNotPresent",
            "workingDir": "/srv",
            "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}, {"containerPort": 9090, "hostPort": 9090}],
            "env": [
                {"name": "MODE", "value": "prod"},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
                {"name": "CPU", "valueFrom": {"resourceFieldRef": {"containerName": "web", "resource": "limits.cpu", "divisor": "1m"}}},
                {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password", "optional": false}}},
                {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "color"}}}
            ],
            "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}, {"secretRef": {"name": "db"}}],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": 1, "memory": "256Mi"}},
            "livenessProbe": {
                "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP", "httpHeaders": [{"name": "X-Probe", "value": "1"}]},
                "initialDelaySeconds": 5,
                "periodSeconds": 10,
                "timeoutSeconds": 2,
                "failureThreshold": 3,
                "successThreshold": 1
            },
            "readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 5},
            "startupProbe": {"exec": {"command": ["cat", "/tmp/ready"]}, "failureThreshold": 30},
            "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}, "postStart": {"httpGet": {"path": "/", "port": 80}}},
            "securityContext": {
                "allowPrivilegeEscalation": false,
                "readOnlyRootFilesystem": true,
                "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}
            },
            "volumeMounts": [
                {"name": "data", "mountPath": "/data"},
                {"name": "config", "mountPath": "/etc/config", "readOnly": true},
                {"name": "secret", "mountPath": "/etc/secret", "subPath": "key"}
            ],
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File"
        }],
        "volumes": [
            {"name": "data", "emptyDir": {"sizeLimit": "1Gi"}},
            {"name": "config", "configMap": {"name": "settings", "defaultMode": 420, "items": [{"key": "color", "path": "color.txt"}]}},
            {"name": "secret", "secret": {"secretName": "db", "optional": true}},
            {"name": "claim", "persistentVolumeClaim": {"claimName": "data", "readOnly": false}},
            {"name": "host", "hostPath": {"path": "/var/log", "type": "Directory"}},
            {"name": "projected", "projected": {"sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600, "audience": "api"}},
                {"downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}}
            ]}}
        ]
    })
}

fn pod() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-0", "namespace": "default", "labels": {"app": "web"}},
        "spec": pod_spec(),
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2025-01-01T00:00:00Z"}],
            "hostIP": "10.0.0.5",
            "hostIPs": [{"ip": "10.0.0.5"}],
            "podIP": "10.244.0.7",
            "podIPs": [{"ip": "10.244.0.7"}],
            "startTime": "2025-01-01T00:00:00Z",
            "qosClass": "Burstable",
            "containerStatuses": [{
                "name": "web",
                "ready": true,
                "started": true,
                "restartCount": 0,
                "image": "nginx:1.27",
                "imageID": "docker.io/library/nginx@sha256:abc",
                "containerID": "containerd://abc",
                "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}},
                "lastState": {}
            }]
        }
    })
}

pub(super) fn manifests() -> Vec<(&'static str, &'static str, &'static str, Value)> {
    vec![
        ("apps", "v1", "Deployment", deployment()),
        ("", "v1", "Pod", pod()),
        (
            "",
            "v1",
            "Service",
            json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web", "labels": {"app": "web"}},
                "spec": {
                    "type": "LoadBalancer",
                    "selector": {"app": "web"},
                    "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP", "nodePort": 30080, "appProtocol": "http"}],
                    "clusterIP": "10.96.0.10",
                    "clusterIPs": ["10.96.0.10"],
                    "ipFamilies": ["IPv4"],
                    "ipFamilyPolicy": "SingleStack",
                    "sessionAffinity": "ClientIP",
                    "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
                    "externalTrafficPolicy": "Local",
                    "internalTrafficPolicy": "Cluster",
                    "loadBalancerSourceRanges": ["10.0.0.0/8"],
                    "allocateLoadBalancerNodePorts": true
                },
                "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1", "ipMode": "VIP", "ports": [{"port": 80, "protocol": "TCP"}]}]}}
            }),
        ),
        (
            "batch",
            "v1",
            "Job",
            json!({
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": "pi"},
                "spec": {
                    "completions": 5,
                    "parallelism": 2,
                    "backoffLimit": 4,
                    "activeDeadlineSeconds": 600,
                    "ttlSecondsAfterFinished": 100,
                    "completionMode": "Indexed",
                    "suspend": false,
                    "podFailurePolicy": {"rules": [{"action": "FailJob", "onExitCodes": {"containerName": "pi", "operator": "In", "values": [42]}}]},
                    "template": {
                        "metadata": {"labels": {"job": "pi"}},
                        "spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl:5.34", "command": ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"]}]}
                    }
                },
                "status": {"active": 1, "succeeded": 2, "failed": 0, "ready": 1, "startTime": "2025-01-01T00:00:00Z", "completedIndexes": "0-1",
                    "conditions": [{"type": "Complete", "status": "False", "lastProbeTime": "2025-01-01T00:00:00Z", "lastTransitionTime": "2025-01-01T00:00:00Z"}]}
            }),
        ),
        (
            "batch",
            "v1",
            "CronJob",
            json!({
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "metadata": {"name": "hello"},
                "spec": {
                    "schedule": "*/5 * * * *",
                    "timeZone": "Etc/UTC",
                    "concurrencyPolicy": "Forbid",
                    "startingDeadlineSeconds": 100,
                    "successfulJobsHistoryLimit": 3,
                    "failedJobsHistoryLimit": 1,
                    "suspend": false,
                    "jobTemplate": {
                        "metadata": {"labels": {"cron": "hello"}},
                        "spec": {"template": {"spec": {"restartPolicy": "OnFailure", "containers": [{"name": "hello", "image": "busybox", "args": ["date"]}]}}}
                    }
                },
                "status": {"active": [{"kind": "Job", "name": "hello-1", "namespace": "default", "uid": "u", "apiVersion": "batch/v1", "resourceVersion": "1"}], "lastScheduleTime": "2025-01-01T00:00:00Z"}
            }),
        ),
        (
            "",
            "v1",
            "ConfigMap",
            json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "settings"},
                "data": {"color": "blue", "game.properties": "lives=3\nenemies=aliens", "spec": "not a field"},
                "binaryData": {"blob": "aGVsbG8="},
                "immutable": false
            }),
        ),
        (
            "",
            "v1",
            "Secret",
            json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "db"},
                "type": "Opaque",
                "data": {"password": "cGFzcw=="},
                "stringData": {"username": "admin"}
            }),
        ),
        (
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            json!({
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "web"},
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                    "minReplicas": 2,
                    "maxReplicas": 10,
                    "metrics": [
                        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}},
                        {"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue", "averageValue": "100"}}},
                        {"type": "External", "external": {"metric": {"name": "queue", "selector": {"matchLabels": {"q": "jobs"}}}, "target": {"type": "Value", "value": "30"}}}
                    ],
                    "behavior": {
                        "scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Max", "policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}]},
                        "scaleUp": {"policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}]}
                    }
                },
                "status": {
                    "currentReplicas": 2,
                    "desiredReplicas": 2,
                    "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 10, "averageValue": "10m"}}}],
                    "conditions": [{"type": "AbleToScale", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z", "reason": "ReadyForNewScale"}]
                }
            }),
        ),
        (
            "networking.k8s.io",
            "v1",
            "Ingress",
            json!({
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {"name": "web", "annotations": {"nginx.ingress.kubernetes.io/rewrite-target": "/"}},
                "spec": {
                    "ingressClassName": "nginx",
                    "defaultBackend": {"service": {"name": "fallback", "port": {"number": 80}}},
                    "tls": [{"hosts": ["example.com"], "secretName": "tls"}],
                    "rules": [{"host": "example.com", "http": {"paths": [
                        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"name": "http"}}}},
                        {"path": "/static", "pathType": "ImplementationSpecific", "backend": {"resource": {"apiGroup": "k8s.example.com", "kind": "StorageBucket", "name": "static"}}}
                    ]}}]
                },
                "status": {"loadBalancer": {"ingress": [{"hostname": "lb.example.com", "ports": [{"port": 443, "protocol": "TCP"}]}]}}
            }),
        ),
        (
            "apps",
            "v1",
            "StatefulSet",
            json!({
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": {"name": "db"},
                "spec": {
                    "serviceName": "db",
                    "replicas": 1,
                    "podManagementPolicy": "Parallel",
                    "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0, "maxUnavailable": 1}},
                    "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Delete"},
                    "selector": {"matchLabels": {"app": "db"}},
                    "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "postgres:16"}]}},
                    "volumeClaimTemplates": [{
                        "metadata": {"name": "data"},
                        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast", "resources": {"requests": {"storage": "10Gi"}}}
                    }]
                }
            }),
        ),
        (
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            json!({
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": "db"},
                "spec": {
                    "podSelector": {"matchLabels": {"app": "db"}},
                    "policyTypes": ["Ingress", "Egress"],
                    "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}, {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}], "ports": [{"protocol": "TCP", "port": 5432}]}],
                    "egress": [{"to": [{"namespaceSelector": {}}], "ports": [{"port": 53, "protocol": "UDP", "endPort": 54}]}]
                }
            }),
        ),
        (
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "read"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
                "subjects": [{"kind": "ServiceAccount", "name": "web", "namespace": "default"}]
            }),
        ),
        (
            "policy",
            "v1",
            "PodDisruptionBudget",
            json!({
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": "web"},
                "spec": {"minAvailable": "50%", "selector": {"matchLabels": {"app": "web"}}, "unhealthyPodEvictionPolicy": "AlwaysAllow"}
            }),
        ),
        ("apiextensions.k8s.io", "v1", "CustomResourceDefinition", crd()),
    ]
}

fn crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "crontabs.stable.example.com"},
        "spec": {
            "group": "stable.example.com",
            "scope": "Namespaced",
            "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]},
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "additionalPrinterColumns": [{"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"}],
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
                "schema": {"openAPIV3Schema": crontab_schema()}
            }]
        }
    })
}

#[test]
fn realistic_objects_have_no_unknown_or_duplicate_fields() {
    for (group, version, kind, obj) in manifests() {
        assert_eq!(unknown_fields(group, version, kind, &obj), Vec::<String>::new(), "{kind}");
        let body = serde_json::to_vec_pretty(&obj).unwrap();
        assert_eq!(strict_errors(group, version, kind, &body), vec![], "{kind}");
        assert_eq!(duplicate_fields(&body), Vec::<String>::new(), "{kind}");
    }
}

#[test]
fn unknown_fields_at_every_depth() {
    let mut d = deployment();
    d["metadata"]["labelz"] = json!({"a": "b"});
    d["spec"]["foo"] = json!(1);
    d["spec"]["template"]["metadata"]["annotationz"] = json!({});
    let container = &mut d["spec"]["template"]["spec"]["containers"][0];
    container["imagePullPolcy"] = json!("Always");
    container["env"][1]["valueFrom"]["fieldRef"]["fieldPat"] = json!("x");
    container["resources"]["limitz"] = json!({});
    container["livenessProbe"]["httpGet"]["pth"] = json!("/");
    container["ports"][1]["nam"] = json!("metrics");
    d["spec"]["template"]["spec"]["volumes"][1]["configMap"]["items"][0]["mod"] = json!(1);
    d["spec"]["strategy"]["rollingUpdate"]["maxSurgeX"] = json!(1);
    d["spec"]["selector"]["matchExpressions"][0]["op"] = json!("In");
    d["status"]["conditions"][0]["extra"] = json!(true);
    d["Spec"] = json!({}); // field names are case-sensitive
    d["metadata"]["managedFields"][0]["fieldsV1"]["f:anything"] = json!({}); // FieldsV1 is opaque
    d["metadata"]["labels"]["not-a-field"] = json!("labels are a map");
    let mut found = unknown_fields("apps", "v1", "Deployment", &d);
    found.sort();
    let mut expected = vec![
        "Spec",
        "metadata.labelz",
        "spec.foo",
        "spec.selector.matchExpressions[0].op",
        "spec.strategy.rollingUpdate.maxSurgeX",
        "spec.template.metadata.annotationz",
        "spec.template.spec.containers[0].env[1].valueFrom.fieldRef.fieldPat",
        "spec.template.spec.containers[0].imagePullPolcy",
        "spec.template.spec.containers[0].livenessProbe.httpGet.pth",
        "spec.template.spec.containers[0].ports[1].nam",
        "spec.template.spec.containers[0].resources.limitz",
        "spec.template.spec.volumes[1].configMap.items[0].mod",
        "status.conditions[0].extra",
    ];
    expected.sort();
    assert_eq!(found, expected);

    // The same from the raw body.
    let body = serde_json::to_vec(&d).unwrap();
    let mut raw: Vec<String> = strict_errors("apps", "v1", "Deployment", &body)
        .into_iter()
        .map(|e| match e {
            StrictError::Unknown(p) => p,
            StrictError::Duplicate(p) => panic!("duplicate {p}"),
        })
        .collect();
    raw.sort();
    assert_eq!(raw, expected);
}

#[test]
fn unknown_fields_inside_maps_of_objects() {
    // A CRD's schema: `properties` is a map of JSONSchemaProps, at any depth.
    let mut c = crd();
    let schema = &mut c["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    schema["properties"]["spec"]["properties"]["cronSpec"]["typo"] = json!("string");
    schema["properties"]["spec"]["properties"]["nested"] =
        json!({"type": "object", "properties": {"deep": {"type": "string", "maxLenght": 3}}});
    c["spec"]["versions"][0]["subresources"]["scale"]["labelSelectorPat"] = json!(".x");
    // An empty struct still has no room for fields.
    c["spec"]["versions"][0]["subresources"]["status"]["enabled"] = json!(true);
    let found = unknown_fields("apiextensions.k8s.io", "v1", "CustomResourceDefinition", &c);
    assert_eq!(
        found,
        [
            "spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.cronSpec.typo",
            "spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.nested.properties.deep.maxLenght",
            "spec.versions[0].subresources.scale.labelSelectorPat",
            "spec.versions[0].subresources.status.enabled",
        ]
    );
    // Pod overhead and resource lists are maps of quantities: any key is fine.
    let mut p = pod();
    p["spec"]["overhead"] = json!({"cpu": "10m", "example.com/anything": "1"});
    assert!(unknown_fields("", "v1", "Pod", &p).is_empty());
    // Kinds without a schema have nothing to say.
    assert!(unknown_fields("stable.example.com", "v1", "CronTab", &json!({"spec": {"x": 1}})).is_empty());
}

#[test]
fn strict_errors_come_in_document_order_with_duplicates_where_upstream_finds_them() {
    let body = br#"{
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "a", "app": "b"}},
        "spec": {
            "replicas": 1,
            "foo": {"x": 1, "x": 2},
            "replicas": 2,
            "foo": 3,
            "template": {"spec": {"containers": [
                {"name": "a", "image": "x", "imagePullPolcy": "Always", "image": "y"},
                {"name": "b", "ports": [{"containerPort": 80, "containerPort": 81}]}
            ]}},
            "selector": {"matchLabels": {}}
        },
        "status": {"observedGeneration": 1},
        "status": {}
    }"#;
    let errors = strict_errors("apps", "v1", "Deployment", body);
    let texts: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        texts,
        [
            r#"duplicate field "metadata.labels.app""#,
            r#"unknown field "spec.foo""#,
            r#"duplicate field "spec.replicas""#,
            r#"unknown field "spec.template.spec.containers[0].imagePullPolcy""#,
            r#"duplicate field "spec.template.spec.containers[0].image""#,
            r#"duplicate field "spec.template.spec.containers[1].ports[0].containerPort""#,
            r#"duplicate field "status""#,
        ]
    );
    assert_eq!(
        strict_errors_message("Deployment", "v1", &errors[1..3]),
        r#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.foo", duplicate field "spec.replicas""#
    );
    // Escaped keys are compared unescaped; values that decode themselves are not looked into.
    let body = br#"{"kind": "Service", "sp\u0065c": {"ports": [{"port": 80, "targetPort": {"a": 1, "a": 2}}]}, "metadata": {"na\"me": 1}}"#;
    assert_eq!(strict_errors("", "v1", "Service", body), [StrictError::Unknown("metadata.na\"me".into())]);
    assert_eq!(
        StrictError::Unknown("metadata.na\"me".into()).to_string(),
        r#"unknown field "metadata.na\"me""#
    );
}

#[test]
fn strict_errors_are_capped_and_survive_bad_input() {
    let fields: Vec<String> = (0..150).map(|i| format!("\"f{i}\": {i}")).collect();
    let body = format!("{{\"spec\": {{{}}}}}", fields.join(", "));
    let errors = strict_errors("", "v1", "Pod", body.as_bytes());
    assert_eq!(errors.len(), MAX_STRICT_ERRORS);
    assert_eq!(errors[0], StrictError::Unknown("spec.f0".into()));
    // Truncated and malformed bodies report what came before the fault, and never panic.
    assert_eq!(
        strict_errors("", "v1", "Pod", br#"{"spec": {"nope": 1, "containers": [{"name": "#),
        [StrictError::Unknown("spec.nope".into())]
    );
    for bad in
        [&b""[..], b"{", b"[", b"}", b"nul", b"{\"a\" 1}", b"{\"a\": }", b"\"", b"{\"a\":1,}", b"[1,,2]"]
    {
        let _ = strict_errors("", "v1", "Pod", bad);
        let _ = duplicate_fields(bad);
    }
    // Deep nesting does not overflow the stack.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(duplicate_fields(deep.as_bytes()).is_empty());
    let deep = format!("{}1{}", "{\"a\":".repeat(50_000), "}".repeat(50_000));
    assert!(duplicate_fields(deep.as_bytes()).is_empty());
}

#[test]
fn duplicate_fields_anywhere() {
    let body = br#"{"spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "a"}, {"name": "b", "env": [{"name": "X", "name": "Y"}]}]}}, "replicas": 2},
        "metadata": {"labels": {"a": "1", "a": "2", "a": "3"}}, "list": [[{"k": 1, "k": 2}]]}"#;
    assert_eq!(
        duplicate_fields(body),
        [
            "spec.template.spec.containers[1].env[0].name",
            "spec.replicas",
            "metadata.labels.a",
            "list[0][0].k",
        ]
    );
    assert!(duplicate_fields(br#"{"a": {"b": 1}, "c": {"b": 2}}"#).is_empty());
}

#[test]
fn messages_read_as_upstream_writes_them() {
    assert_eq!(
        strict_error_message("Deployment", "v1", &["spec.foo".into()], &["spec.replicas".into()]),
        r#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.foo", duplicate field "spec.replicas""#
    );
    assert_eq!(
        strict_error_message("Pod", "v1", &["spec.containers[0].imagePullPolcy".into()], &[]),
        r#"Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.containers[0].imagePullPolcy""#
    );
    assert_eq!(
        strict_decoding_message(&[StrictError::Duplicate("spec.replicas".into())]),
        r#"strict decoding error: duplicate field "spec.replicas""#
    );
    // The Warn-mode warnings.
    assert_eq!(StrictError::Unknown("spec.foo".into()).to_string(), r#"unknown field "spec.foo""#);
    assert_eq!(
        StrictError::Duplicate("spec.replicas".into()).to_string(),
        r#"duplicate field "spec.replicas""#
    );
    assert_eq!(StrictError::Unknown("a\nb\\c".into()).to_string(), r#"unknown field "a\nb\\c""#);
}

// ---------------------------------------------------------------------------------------------
// Custom resources

fn crontab_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "required": ["cronSpec"],
                "properties": {
                    "cronSpec": {"type": "string", "minLength": 3, "maxLength": 20},
                    "image": {"type": "string"},
                    "replicas": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 10},
                    "ratio": {"type": "number", "exclusiveMinimum": true, "minimum": 0},
                    "policy": {"type": "string", "enum": ["Allow", "Forbid"], "default": "Allow"},
                    "port": {"x-kubernetes-int-or-string": true},
                    "note": {"type": "string", "nullable": true},
                    "tags": {"type": "array", "maxItems": 3, "minItems": 1, "items": {"type": "string"}},
                    "workers": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {"name": {"type": "string"}, "weight": {"type": "integer", "default": 1}}
                        }
                    },
                    "settings": {"type": "object", "additionalProperties": {"type": "object", "properties": {"value": {"type": "string"}}}},
                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}}},
                    "template": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}
                }
            },
            "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}}
        }
    })
}

#[test]
fn pruning_removes_what_the_schema_does_not_describe() {
    let mut obj = json!({
        "apiVersion": "stable.example.com/v1",
        "kind": "CronTab",
        "metadata": {"name": "x", "labels": {"a": "b"}, "labelz": {"c": "d"}, "ownerReferences": [{"name": "o", "kindd": "X"}]},
        "spec": {
            "cronSpec": "* * * * */5",
            "foo": 1,
            "workers": [{"name": "w", "bogus": true}],
            "settings": {"one": {"value": "v", "other": 1}},
            "extra": {"anything": {"goes": [1, 2]}, "known": {"a": "x", "b": "pruned"}},
            "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "t", "bad": 1}, "spec": {"size": 1, "color": "red"}, "junk": 1},
            "note": null,
            "image": null
        },
        "topLevel": true,
        "status": {"replicas": 1, "ready": 1}
    });
    let pruned = prune_custom(&crontab_schema(), &mut obj);
    assert_eq!(
        pruned,
        [
            "spec.extra.known.b",
            "spec.foo",
            "spec.settings.one.other",
            "spec.template.junk",
            "spec.template.spec.color",
            "spec.workers[0].bogus",
            "status.ready",
            "topLevel",
            "metadata.labelz",
            "metadata.ownerReferences[0].kindd",
            "spec.template.metadata.bad",
        ]
    );
    assert_eq!(
        obj["metadata"],
        json!({"name": "x", "labels": {"a": "b"}, "ownerReferences": [{"name": "o"}]})
    );
    assert_eq!(obj["spec"]["extra"], json!({"anything": {"goes": [1, 2]}, "known": {"a": "x"}}));
    assert_eq!(
        obj["spec"]["template"],
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "t"}, "spec": {"size": 1}})
    );
    assert_eq!(obj["apiVersion"], "stable.example.com/v1");
    // A null without `nullable` and without a default goes; a nullable one stays.
    assert!(obj["spec"].get("image").is_none());
    assert_eq!(obj["spec"]["note"], Value::Null);
    // Pruning again finds nothing.
    assert!(prune_custom(&crontab_schema(), &mut obj).is_empty());
    // A schema preserving unknown fields at the root prunes nothing there.
    let mut free = json!({"apiVersion": "a/v1", "kind": "K", "metadata": {}, "anything": {"x": 1}});
    assert!(
        prune_custom(&json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}), &mut free)
            .is_empty()
    );
    assert_eq!(free["anything"], json!({"x": 1}));
}

fn causes_of(obj: Value) -> Vec<(String, String, String)> {
    let mut obj = obj;
    validate_custom(&crontab_schema(), &mut obj).into_iter().map(|c| (c.reason, c.field, c.message)).collect()
}

fn crontab(spec: Value) -> Value {
    json!({"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": spec})
}

fn one(reason: &str, field: &str, message: &str) -> Vec<(String, String, String)> {
    vec![(reason.into(), field.into(), message.into())]
}

#[test]
fn valid_custom_resources_pass_and_get_their_defaults() {
    let mut obj = crontab(json!({
        "cronSpec": "* * * * */5",
        "replicas": 3,
        "ratio": 0.5,
        "port": "http",
        "tags": ["a"],
        "workers": [{"name": "w"}],
        "note": null
    }));
    assert_eq!(validate_custom(&crontab_schema(), &mut obj), vec![]);
    assert_eq!(obj["spec"]["policy"], "Allow");
    assert_eq!(obj["spec"]["workers"][0]["weight"], 1);
    // 3.0 is an integer to kube-openapi; ports may be numbers.
    assert!(causes_of(crontab(json!({"cronSpec": "abc", "replicas": 3.0, "port": 8080}))).is_empty());
}

#[test]
fn custom_resource_validation_causes() {
    assert_eq!(causes_of(crontab(json!({}))), one("FieldValueRequired", "spec.cronSpec", "Required value"));
    assert_eq!(
        causes_of(crontab(json!({"cronSpec": "abc", "replicas": "string"}))),
        one(
            "FieldValueTypeInvalid",
            "spec.replicas",
            r#"Invalid value: "string": spec.replicas in body must be of type integer: "string""#
        )
    );
    assert_eq!(
        causes_of(crontab(json!({"cronSpec": "abc", "replicas": 1.5}))),
        one(
            "FieldValueTypeInvalid",
            "spec.replicas",
            r#"Invalid value: "double": spec.replicas in body must be of type int32: "double""#
        )
    );
    assert_eq!(
        causes_of(crontab(json!({"cronSpec": 5}))),
        one(
            "FieldValueTypeInvalid",
            "spec.cronSpec",
            r#"Invalid value: "integer": spec.cronSpec in body must be of type string: "integer""#
        )
    );
    assert_eq!(
        causes_of(crontab(json!({"cronSpec": "abc", "policy": "Sometimes"}))),
        one(
            "FieldValueNotSupported",
            "spec.policy",
            r#"Unsupported value: "Sometimes": supported values: "Allow", "Forbid""#
        )
    );
    assert_eq!(
        causes_of(crontab(json!({"cronSpec": "abc", "replicas": 0}))),
        one(
            "FieldValueInvalid",
            "spec.replicas",
            "Invalid value: 0: spec.replicas in body should be greater than or equal to 1"
        )
    );
    assert_eq!(
        causes_of(crontab(json!({"cronSpec": "abc", "replicas": 11}))),
        one(
            "FieldValueInvalid",
            "spec.replicas",
            "Invalid value: 11: spec.replicas in body should be less than or equal to 10"
        )
    );
    assert_eq!(
        causes_of(crontab(json!({"cronSpec": "abc", "ratio": 0}))),
        one(
            "FieldValueInvalid",
            "spec.ratio",
            "Invalid value: 0: spec.ratio in body should be greater than 0"
        )
    );
    assert_eq!(
        causes_of(crontab(json!({"cronSpec": "ab"}))),
        one(
            "FieldValueInvalid",
            "spec.cronSpec",
            r#"Invalid value: "ab": spec.cronSpec in body should be at least 3 chars long"#
        )
    );
    assert_eq!(
        causes_of(crontab(json!({"cronSpec": "x".repeat(21)}))),
        one("FieldValueTooLong", "spec.cronSpec", "Too long: may not be more than 20 bytes")
    );
    assert_eq!(
        causes_of(crontab(json!({"cronSpec": "abc", "tags": ["a", "b", "c", "d"]}))),
        one("FieldValueTooMany", "spec.tags", "Too many: 4: must have at most 3 items")
    );
    assert_eq!(
        causes_of(crontab(json!({"cronSpec": "abc", "tags": []}))),
        one(
            "FieldValueInvalid",
            "spec.tags",
            "Invalid value: 0: spec.tags in body should have at least 1 items"
        )
    );
    assert_eq!(
        causes_of(crontab(json!({"cronSpec": "abc", "tags": ["a", 1]}))),
        one(
            "FieldValueTypeInvalid",
            "spec.tags[1]",
            r#"Invalid value: "integer": spec.tags[1] in body must be of type string: "integer""#
        )
    );
    assert_eq!(
        causes_of(crontab(json!({"cronSpec": "abc", "workers": [{"weight": 2}]}))),
        one("FieldValueRequired", "spec.workers[0].name", "Required value")
    );
    assert_eq!(
        causes_of(crontab(json!({"cronSpec": "abc", "settings": {"k": {"value": true}}}))),
        one(
            "FieldValueTypeInvalid",
            "spec.settings.k.value",
            r#"Invalid value: "boolean": spec.settings.k.value in body must be of type string: "boolean""#
        )
    );
    assert_eq!(
        causes_of(crontab(json!({"cronSpec": "abc", "port": true}))),
        one(
            "FieldValueTypeInvalid",
            "spec.port",
            r#"Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean""#
        )
    );
    // Nulls in lists are not dropped: they fail the item's type.
    assert_eq!(
        causes_of(crontab(json!({"cronSpec": "abc", "tags": [null]}))),
        one(
            "FieldValueTypeInvalid",
            "spec.tags[0]",
            r#"Invalid value: "null": spec.tags[0] in body must be of type string: "null""#
        )
    );
    // Several at once; the object and its metadata are not the schema's to reject.
    let causes = causes_of(
        json!({"apiVersion": "x/v1", "kind": "CronTab", "metadata": {"name": 1}, "spec": {"replicas": 0}, "status": {"replicas": "x"}}),
    );
    let fields: Vec<&str> = causes.iter().map(|(_, f, _)| f.as_str()).collect();
    assert_eq!(fields, ["spec.replicas", "spec.cronSpec", "status.replicas"]);
}

#[test]
fn go_number_formatting() {
    use super::custom::go_float;
    assert_eq!(go_float(1.0), "1");
    assert_eq!(go_float(0.5), "0.5");
    assert_eq!(go_float(123456.0), "123456");
    assert_eq!(go_float(1_000_000.0), "1e+06");
    assert_eq!(go_float(0.00001), "1e-05");
    assert_eq!(go_float(-2.5), "-2.5");
}
