//! Type checking of the built-in kinds: the first value of a request body whose JSON type does
//! not fit its field, found and worded the way upstream's decoding into Go types
//! (sigs.k8s.io/json, a fork of Go's `encoding/json`) finds and words it.
//!
//! Go's decoder records the first mismatch and goes on decoding; a value of the wrong kind is
//! skipped, not looked into. Its message names the Go struct that holds the field, the field's
//! path from the top (JSON names joined by `.`, without list indexes or map keys) and the Go
//! type the value was to fill: `json: cannot unmarshal array into Go struct field
//! NodeAffinity.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution of
//! type v1.NodeSelector`. Numbers that do not fit an integer carry their text (`number 1.5`).
//! Types that decode themselves (`IntOrString`, `Time`) fail decoding at once, so their error
//! wins over one recorded earlier. `null` fits everything.
//!
//! Go types come from the definition names (`io.k8s.api.core.v1.NodeSelector` is
//! `v1.NodeSelector`); named scalar, list and map types (`v1.RestartPolicy`,
//! `v1.ResourceList`) are not in the schemas and read as their underlying types.

use serde_json::{Map, Value};

use super::builtin::{REF_PREFIX, definition_for, registry};
use super::strict::{go_quote, resolve_named};

/// Nesting beyond which values are no longer looked into.
const MAX_DEPTH: usize = 256;

const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
/// Decode themselves from a JSON string (or null), failing on any other value.
const TIMES: &[&str] =
    &["io.k8s.apimachinery.pkg.apis.meta.v1.Time", "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime"];
/// Decode themselves from any JSON value (or fail with errors of their own).
const ANY_VALUE: &[&str] = &[
    "io.k8s.apimachinery.pkg.runtime.RawExtension",
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray",
];

/// The first value of `obj` whose JSON type does not fit the Go type of its field in the
/// built-in kind, as Go's decoder words it (`json: cannot unmarshal string into Go struct
/// field DeploymentSpec.spec.replicas of type int32`). Object keys come in serde_json's
/// order. `None` when everything fits, and for kinds without a schema.
pub fn type_error(group: &str, version: &str, kind: &str, obj: &Value) -> Option<String> {
    let defs = &registry().schemas;
    let name = definition_for(group, version, kind).filter(|name| defs.contains_key(*name))?;
    // A reference, so that the root's definition name is known.
    let root = serde_json::json!({ "$ref": format!("{REF_PREFIX}{name}") });
    let mut checker = Checker { defs, owner: "", path: String::new(), saved: None };
    match checker.check(obj, &root, 0) {
        Err(fatal) => Some(fatal),
        Ok(()) => checker.saved,
    }
}

/// The message of the `BadRequest` a body that does not decode fails with:
/// `Pod in version "v1" cannot be handled as a Pod: <err>`.
pub fn type_error_message(kind: &str, version: &str, err: &str) -> String {
    format!("{kind} in version {} cannot be handled as a {kind}: {err}", go_quote(version))
}

/// What Go decodes a value into.
#[derive(Clone, Copy)]
enum GoType<'s> {
    /// A struct (definition name, fields).
    Struct(&'s str, &'s Map<String, Value>),
    Map(&'s Value),
    List(&'s Value),
    String,
    /// `[]byte`: a base64 string, or a list of bytes.
    Bytes,
    Bool,
    /// `int32` or `int64`.
    Int(&'static str),
    Float,
    IntOrString,
    Quantity,
    /// `Time`, `MicroTime` (definition name).
    Time(&'s str),
    Any(Option<&'s str>),
}

fn go_type_of<'s>(schema: &'s Value, defs: &'s Map<String, Value>) -> GoType<'s> {
    let (schema, name) = resolve_named(schema, defs);
    match name {
        Some(n) if ANY_VALUE.contains(&n) => return GoType::Any(name),
        Some(INT_OR_STRING) => return GoType::IntOrString,
        Some(QUANTITY) => return GoType::Quantity,
        Some(n) if TIMES.contains(&n) => return GoType::Time(n),
        _ => {}
    }
    if let Some(Value::Object(properties)) = schema.get("properties") {
        return GoType::Struct(name.unwrap_or_default(), properties);
    }
    if let Some(values @ Value::Object(_)) = schema.get("additionalProperties") {
        return GoType::Map(values);
    }
    if let Some(items @ Value::Object(_)) = schema.get("items") {
        return GoType::List(items);
    }
    let format = schema.get("format").and_then(Value::as_str);
    match (schema.get("type").and_then(Value::as_str), name) {
        (Some("string"), _) if format == Some("byte") => GoType::Bytes,
        (Some("string"), _) => GoType::String,
        (Some("boolean"), _) => GoType::Bool,
        (Some("integer"), _) if format == Some("int32") => GoType::Int("int32"),
        (Some("integer"), _) => GoType::Int("int64"),
        (Some("number"), _) => GoType::Float,
        // A named object type without fields is a struct without fields.
        (Some("object"), Some(name)) => GoType::Struct(name, empty()),
        _ => GoType::Any(name),
    }
}

fn empty() -> &'static Map<String, Value> {
    static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
    &EMPTY
}

/// `v1.NodeSelector` for `io.k8s.api.core.v1.NodeSelector`.
fn go_name(definition: &str) -> String {
    let mut parts = definition.rsplit('.');
    match (parts.next(), parts.next()) {
        (Some(name), Some(package)) => format!("{package}.{name}"),
        _ => definition.to_string(),
    }
}

/// `NodeSelector` for `io.k8s.api.core.v1.NodeSelector`.
fn short_name(definition: &str) -> &str {
    definition.rsplit('.').next().unwrap_or(definition)
}

impl GoType<'_> {
    /// The type as Go's `reflect.Type.String` writes it.
    fn name(self, defs: &Map<String, Value>) -> String {
        match self {
            GoType::Struct(name, _) | GoType::Time(name) => go_name(name),
            GoType::Map(values) => format!("map[string]{}", go_type_of(values, defs).name(defs)),
            GoType::List(items) => format!("[]{}", go_type_of(items, defs).name(defs)),
            GoType::String => "string".into(),
            GoType::Bytes => "[]uint8".into(),
            GoType::Bool => "bool".into(),
            GoType::Int(int) => int.into(),
            GoType::Float => "float64".into(),
            GoType::IntOrString => go_name(INT_OR_STRING),
            GoType::Quantity => go_name(QUANTITY),
            GoType::Any(name) => name.map_or_else(|| "interface {}".into(), go_name),
        }
    }
}

/// How Go's decoder names the kind of a JSON value; numbers that do not fit a numeric type
/// carry their text.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Null => "null",
    }
}

/// Whether a JSON number is an integer of the Go type (`strconv.ParseInt` of its text, then
/// the type's range).
fn fits_int(value: &Value, int: &str) -> bool {
    let Value::Number(n) = value else { return false };
    match (n.as_i64(), int) {
        (Some(i), "int32") => i32::try_from(i).is_ok(),
        (Some(i), "uint8") => u8::try_from(i).is_ok(),
        (Some(_), _) => true,
        (None, _) => false,
    }
}

struct Checker<'s> {
    defs: &'s Map<String, Value>,
    /// The short name of the struct that holds the field being decoded.
    owner: &'s str,
    /// The field's path: JSON names joined by `.`.
    path: String,
    /// The first mismatch met.
    saved: Option<String>,
}

impl<'s> Checker<'s> {
    fn message(&self, what: &str, go_type: &str) -> String {
        if self.path.is_empty() {
            format!("json: cannot unmarshal {what} into Go value of type {go_type}")
        } else {
            format!(
                "json: cannot unmarshal {what} into Go struct field {}.{} of type {go_type}",
                self.owner, self.path
            )
        }
    }

    /// Records a mismatch; decoding goes on, and the first one recorded is reported.
    fn save(&mut self, what: &str, go_type: &str) {
        if self.saved.is_none() {
            self.saved = Some(self.message(what, go_type));
        }
    }

    /// Checks `value` against `schema`; `Err` is a failure that stops decoding at once.
    fn check(&mut self, value: &Value, schema: &'s Value, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH || value.is_null() {
            return Ok(());
        }
        let go_type = go_type_of(schema, self.defs);
        match (go_type, value) {
            (GoType::Any(_), _)
            | (GoType::String | GoType::Bytes | GoType::IntOrString | GoType::Time(_), Value::String(_))
            | (GoType::Bool, Value::Bool(_))
            | (GoType::Float, Value::Number(_))
            | (GoType::Quantity, _) => {}
            (GoType::Int(int), Value::Number(n)) if !fits_int(value, int) => {
                self.save(&format!("number {n}"), int)
            }
            (GoType::Int(_), Value::Number(_)) => {}
            // `IntOrString` decodes anything but a string as an int32, and fails at once.
            (GoType::IntOrString, Value::Number(n)) if !fits_int(value, "int32") => {
                return Err(self.message(&format!("number {n}"), "int32"));
            }
            (GoType::IntOrString, Value::Number(_)) => {}
            (GoType::IntOrString, other) => return Err(self.message(json_kind(other), "int32")),
            (GoType::Time(_), other) => return Err(self.message(json_kind(other), "string")),
            (GoType::Struct(name, fields), Value::Object(map)) => {
                let (owner, len) = (self.owner, self.path.len());
                for (key, child) in map {
                    // Unknown fields are not decoded (strict validation reports them).
                    let Some(field) = fields.get(key) else { continue };
                    self.owner = short_name(name);
                    if !self.path.is_empty() {
                        self.path.push('.');
                    }
                    self.path.push_str(key);
                    let result = self.check(child, field, depth + 1);
                    self.owner = owner;
                    self.path.truncate(len);
                    result?;
                }
            }
            (GoType::Map(values), Value::Object(map)) => {
                for child in map.values() {
                    self.check(child, values, depth + 1)?;
                }
            }
            (GoType::List(items), Value::Array(list)) => {
                for child in list {
                    self.check(child, items, depth + 1)?;
                }
            }
            // A `[]byte` also decodes from a list of bytes.
            (GoType::Bytes, Value::Array(list)) => {
                for child in list.iter().filter(|c| !c.is_null() && !fits_int(c, "uint8")) {
                    match child {
                        Value::Number(n) => self.save(&format!("number {n}"), "uint8"),
                        other => self.save(json_kind(other), "uint8"),
                    }
                }
            }
            (go_type, other) => {
                let name = go_type.name(self.defs);
                self.save(json_kind(other), &name);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{type_error, type_error_message};

    fn pod(spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec})
    }

    fn pod_error(spec: Value) -> Option<String> {
        type_error("", "v1", "Pod", &pod(spec))
    }

    fn container(extra: Value) -> Value {
        let mut c = json!({"name": "app", "image": "nginx:1.27"});
        c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        c
    }

    #[test]
    fn node_affinity_list_where_an_object_belongs() {
        // pods/pod-with-node-affinity.yaml of the website examples.
        let obj = pod(json!({
            "affinity": {"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [{
                    "preference": {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["antarctica-east1"]}]},
                    "weight": 5
                }],
                "preferredDuringSchedulingIgnoredDuringExecution": [{
                    "weight": 1,
                    "preference": {"matchExpressions": [{"key": "another-node-label-key", "operator": "In", "values": ["another-node-label-value"]}]}
                }]
            }},
            "containers": [{"name": "with-node-affinity", "image": "k8s.gcr.io/pause:2.0"}]
        }));
        let err = type_error("", "v1", "Pod", &obj).unwrap();
        assert_eq!(
            type_error_message("Pod", "v1", &err),
            "Pod in version \"v1\" cannot be handled as a Pod: json: cannot unmarshal array into Go struct field NodeAffinity.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution of type v1.NodeSelector"
        );
    }

    #[test]
    fn scalars_of_the_wrong_kind() {
        let deployment = |replicas: Value| {
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                   "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "d"}}}})
        };
        let err = |v: Value| type_error("apps", "v1", "Deployment", &deployment(v));
        assert_eq!(
            err(json!("3")).unwrap(),
            "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
        );
        assert_eq!(
            err(json!(1.5)).unwrap(),
            "json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32"
        );
        assert_eq!(
            err(json!(3_000_000_000u64)).unwrap(),
            "json: cannot unmarshal number 3000000000 into Go struct field DeploymentSpec.spec.replicas of type int32"
        );
        assert_eq!(
            err(json!(true)).unwrap(),
            "json: cannot unmarshal bool into Go struct field DeploymentSpec.spec.replicas of type int32"
        );
        assert_eq!(err(json!(3)), None);
        assert_eq!(err(Value::Null), None);

        // An object where a string belongs; a number where a bool belongs; int64.
        assert_eq!(
            pod_error(json!({"containers": [container(json!({"image": {"name": "nginx"}}))]})).unwrap(),
            "json: cannot unmarshal object into Go struct field Container.spec.containers.image of type string"
        );
        assert_eq!(
            pod_error(json!({"hostNetwork": 1, "containers": [container(json!({}))]})).unwrap(),
            "json: cannot unmarshal number into Go struct field PodSpec.spec.hostNetwork of type bool"
        );
        assert_eq!(
            pod_error(json!({"activeDeadlineSeconds": 2.5, "containers": [container(json!({}))]})).unwrap(),
            "json: cannot unmarshal number 2.5 into Go struct field PodSpec.spec.activeDeadlineSeconds of type int64"
        );
        // Map values: the path stops at the map; a label value that is a number.
        let obj =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"app": 1}}});
        assert_eq!(
            type_error("", "v1", "ConfigMap", &obj).unwrap(),
            "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string"
        );
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": ["a"]});
        assert_eq!(
            type_error("", "v1", "ConfigMap", &obj).unwrap(),
            "json: cannot unmarshal array into Go struct field ConfigMap.data of type map[string]string"
        );
        let obj = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": 5}});
        assert_eq!(
            type_error("", "v1", "Secret", &obj).unwrap(),
            "json: cannot unmarshal number into Go struct field Secret.data of type []uint8"
        );
        // The root.
        assert_eq!(
            type_error("", "v1", "Pod", &json!([])).unwrap(),
            "json: cannot unmarshal array into Go value of type v1.Pod"
        );
    }

    #[test]
    fn lists_and_their_items() {
        assert_eq!(
            pod_error(json!({"containers": {"name": "app"}})).unwrap(),
            "json: cannot unmarshal object into Go struct field PodSpec.spec.containers of type []v1.Container"
        );
        // A wrong item among good ones: the element type, and the path without indexes.
        assert_eq!(
            pod_error(json!({"containers": [container(json!({})), "sidecar"]})).unwrap(),
            "json: cannot unmarshal string into Go struct field PodSpec.spec.containers of type v1.Container"
        );
        assert_eq!(
            pod_error(json!({"containers": [
                container(json!({})),
                container(json!({"name": "b", "ports": [{"containerPort": 80}, {"containerPort": "8080"}]}))
            ]}))
            .unwrap(),
            "json: cannot unmarshal string into Go struct field ContainerPort.spec.containers.ports.containerPort of type int32"
        );
        assert_eq!(
            pod_error(json!({"containers": [container(json!({"args": ["--port", 80]}))]})).unwrap(),
            "json: cannot unmarshal number into Go struct field Container.spec.containers.args of type string"
        );
        assert_eq!(
            pod_error(json!({"containers": [container(json!({"command": "sleep 1"}))]})).unwrap(),
            "json: cannot unmarshal string into Go struct field Container.spec.containers.command of type []string"
        );
    }

    #[test]
    fn first_mismatch_wins_and_unknown_fields_are_not_looked_into() {
        assert_eq!(
            pod_error(json!({
                "containers": [container(json!({"imagePullPolicy": 1}))],
                "hostPID": "yes",
                "bogus": {"replicas": "x"}
            }))
            .unwrap(),
            "json: cannot unmarshal number into Go struct field Container.spec.containers.imagePullPolicy of type string"
        );
        // A failing IntOrString stops decoding: its error wins over one recorded before.
        assert_eq!(
            pod_error(json!({
                "containers": [container(json!({"livenessProbe": {"httpGet": {"port": true}}}))],
                "activeDeadlineSeconds": "1"
            })),
            pod_error(
                json!({"containers": [container(json!({"livenessProbe": {"httpGet": {"port": true}}}))]})
            )
        );
    }

    #[test]
    fn int_or_string_quantity_and_untyped_values() {
        let probe = |port: Value| {
            pod_error(
                json!({"containers": [container(json!({"livenessProbe": {"httpGet": {"path": "/", "port": port}}}))]}),
            )
        };
        assert_eq!(probe(json!(8080)), None);
        assert_eq!(probe(json!("http")), None);
        assert_eq!(
            probe(json!(true)).unwrap(),
            "json: cannot unmarshal bool into Go struct field HTTPGetAction.spec.containers.livenessProbe.httpGet.port of type int32"
        );
        assert_eq!(
            probe(json!(80.5)).unwrap(),
            "json: cannot unmarshal number 80.5 into Go struct field HTTPGetAction.spec.containers.livenessProbe.httpGet.port of type int32"
        );
        assert_eq!(
            probe(json!({"port": 80})).unwrap(),
            "json: cannot unmarshal object into Go struct field HTTPGetAction.spec.containers.livenessProbe.httpGet.port of type int32"
        );
        let resources = |limits: Value| {
            pod_error(json!({"containers": [container(json!({"resources": {"limits": limits}}))]}))
        };
        assert_eq!(resources(json!({"cpu": "500m", "memory": "128Mi"})), None);
        assert_eq!(resources(json!({"cpu": 1, "memory": 1.5})), None);
        assert_eq!(
            resources(json!(["cpu"])).unwrap(),
            "json: cannot unmarshal array into Go struct field ResourceRequirements.spec.containers.resources.limits of type map[string]resource.Quantity"
        );
        // Times decode themselves from strings.
        let meta = |ts: Value| {
            type_error("", "v1", "ConfigMap", &json!({"metadata": {"name": "c", "creationTimestamp": ts}}))
        };
        assert_eq!(meta(json!("2024-01-01T00:00:00Z")), None);
        assert_eq!(
            meta(json!(5)).unwrap(),
            "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.creationTimestamp of type string"
        );
        // RawExtension, FieldsV1 and JSON take anything.
        let event = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {}}}]}
        });
        assert_eq!(type_error("", "v1", "ConfigMap", &event), None);
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "a.b"},
        "spec": {"group": "b", "scope": "Namespaced", "names": {"plural": "a", "kind": "A"},
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                "type": "object", "properties": {"x": {"type": "array", "default": [1, "a"], "items": {"type": "string"}, "x-kubernetes-preserve-unknown-fields": true}}
            }}}]}});
        assert_eq!(type_error("apiextensions.k8s.io", "v1", "CustomResourceDefinition", &crd), None);
        // Kinds without a schema are not checked.
        assert_eq!(type_error("stable.example.com", "v1", "CronTab", &json!({"spec": []})), None);
    }

    #[test]
    fn realistic_objects_fit() {
        let objects = vec![
            (
                "apps",
                "v1",
                "Deployment",
                json!({
                    "apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}, "annotations": {"a": "b"}, "generation": 2, "creationTimestamp": null},
                    "spec": {
                        "replicas": 3, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                        "selector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe"]}]},
                        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
                        "template": {
                            "metadata": {"labels": {"app": "web"}},
                            "spec": {
                                "terminationGracePeriodSeconds": 30,
                                "securityContext": {"runAsUser": 1000, "runAsNonRoot": true, "fsGroup": 2000},
                                "containers": [{
                                    "name": "nginx", "image": "nginx:1.27", "args": ["-g", "daemon off;"],
                                    "ports": [{"containerPort": 80, "protocol": "TCP", "name": "http"}],
                                    "env": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": 1}},
                                    "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "initialDelaySeconds": 5, "periodSeconds": 10},
                                    "livenessProbe": {"tcpSocket": {"port": 80}, "failureThreshold": 3},
                                    "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": true}]
                                }],
                                "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "1Gi"}}, {"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 420}}],
                                "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 60}]
                            }
                        }
                    },
                    "status": {"replicas": 3, "readyReplicas": 3, "conditions": [{"type": "Available", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z", "lastUpdateTime": "2024-01-01T00:00:00Z"}]}
                }),
            ),
            (
                "",
                "v1",
                "Pod",
                pod(json!({
                    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}},
                                 "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "x"}}}}]}},
                    "nodeSelector": {"disk": "ssd"},
                    "initContainers": [{"name": "init", "image": "busybox", "command": ["sh", "-c", "true"]}],
                    "containers": [{"name": "app", "image": "app", "stdin": true, "tty": true,
                                    "securityContext": {"privileged": false, "capabilities": {"add": ["NET_ADMIN"]}, "runAsGroup": 3000}}],
                    "dnsConfig": {"options": [{"name": "ndots", "value": "2"}]},
                    "restartPolicy": "Never", "priority": 0, "overhead": {"cpu": "10m"}
                })),
            ),
            (
                "",
                "v1",
                "Service",
                json!({
                    "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                    "spec": {"type": "NodePort", "selector": {"app": "web"}, "clusterIP": "10.0.0.10", "clusterIPs": ["10.0.0.10"],
                             "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080, "protocol": "TCP"}, {"port": 443, "targetPort": "https"}],
                             "sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}}},
                    "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4", "ports": [{"port": 80, "protocol": "TCP"}]}]}}
                }),
            ),
            (
                "batch",
                "v1",
                "Job",
                json!({
                    "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"},
                    "spec": {"backoffLimit": 4, "completions": 3, "parallelism": 2, "ttlSecondsAfterFinished": 100, "activeDeadlineSeconds": 300, "suspend": false,
                             "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl", "command": ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"]}]}}},
                    "status": {"succeeded": 1, "startTime": "2024-01-01T00:00:00Z", "uncountedTerminatedPods": {}}
                }),
            ),
            (
                "batch",
                "v1",
                "CronJob",
                json!({
                    "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "hello"},
                    "spec": {"schedule": "* * * * *", "timeZone": "Etc/UTC", "concurrencyPolicy": "Forbid", "startingDeadlineSeconds": 200,
                             "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                             "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "OnFailure",
                                 "containers": [{"name": "hello", "image": "busybox:1.28", "imagePullPolicy": "IfNotPresent", "command": ["/bin/sh", "-c", "date"]}]}}}}},
                    "status": {"active": [{"kind": "Job", "name": "hello-1"}], "lastScheduleTime": "2024-01-01T00:00:00Z"}
                }),
            ),
            (
                "",
                "v1",
                "ConfigMap",
                json!({
                    "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u", "controller": true}]},
                    "data": {"a": "1", "game.properties": "x=1\n"}, "binaryData": {"b": "AAEC"}, "immutable": false
                }),
            ),
            (
                "",
                "v1",
                "Secret",
                json!({
                    "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "type": "Opaque",
                    "data": {"password": "c2VjcmV0"}, "stringData": {"user": "admin"}
                }),
            ),
            (
                "autoscaling",
                "v2",
                "HorizontalPodAutoscaler",
                json!({
                    "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
                    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 10,
                             "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
                                         {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1k"}}}],
                             "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300, "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}}},
                    "status": {"currentReplicas": 1, "desiredReplicas": 1, "currentMetrics": null}
                }),
            ),
        ];
        for (group, version, kind, obj) in objects {
            assert_eq!(type_error(group, version, kind, &obj), None, "{kind}");
        }
        for (group, version, kind, obj) in crate::schema::tests::manifests() {
            assert_eq!(type_error(group, version, kind, &obj), None, "{kind}");
        }
    }
}
