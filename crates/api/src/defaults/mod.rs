//! Defaulting: the fields an upstream API server fills in on the objects it stores, for the
//! built-in kinds, applied to objects held as JSON.
//!
//! Upstream fills fields in three places, and this module mirrors each:
//!
//! * the scheme's defaulting functions (`SetDefaults_*` of `pkg/apis/*/v1`), which run on every
//!   decode: on create, on update and on every read from storage. [`apply_defaults`] is that
//!   step. It only ever adds what is missing, never changes a value the client set, and
//!   applying it twice changes nothing.
//! * the registry strategies and REST storage, which prepare an object on create only (a new
//!   Pod's status, a Job's generated selector, a Namespace's finalizer). [`create_defaults`]
//!   runs those; [`pod_create_status`] and [`job_create_defaults`] are its parts.
//! * the admission plugins enabled by default that mutate Pods on create
//!   (`DefaultTolerationSeconds`, `Priority`): [`pod_admission_defaults`].
//!
//! Beside the defaults proper, [`apply_defaults`] writes the fields Go's JSON encoder always
//! emits for these types even when they are zero (`resources: {}` on a container,
//! `status: {replicas: 0}` on a ReplicaSet, `eventTime: null` on an Event), so that what is
//! stored reads back as upstream serves it.
//!
//! The order a create path follows: assign `metadata.uid`, `creationTimestamp` and the name
//! (`generateName`), then [`apply_defaults`], then [`create_defaults`], then validate. An update
//! path calls [`apply_defaults`] only.
//!
//! Not here: ServiceAccount admission (`serviceAccountName`, the `kube-api-access-*` volume),
//! allocation of cluster IPs and node ports, the `DefaultStorageClass` admission plugin,
//! resolving a Pod's non-empty `priorityClassName` (see [`set_pod_priority`]), quantity
//! canonicalisation (`1000m` → `1`), and pod-level resource defaulting.

mod apps;
mod batch;
mod cluster;
mod core;
mod image;
mod networking;
mod pod;
pub(crate) mod quantity;

use serde_json::{Map, Value};

pub use batch::job_create_defaults;
pub use pod::{pod_admission_defaults, pod_create_status, set_pod_priority};

type Object = Map<String, Value>;

/// Fills in what upstream's defaulting fills in for an object of this group, version and kind
/// (group "" is the core group). Kinds without defaults, and objects that are not JSON objects,
/// are left as they are. Call it on create and on update, before validation.
pub fn apply_defaults(group: &str, version: &str, kind: &str, obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else { return };
    match (group, version, kind) {
        ("", "v1", "Pod") => pod::pod(o),
        ("", "v1", "PodTemplate") => {
            if let Some(t) = child(o, "template") {
                pod::template(t);
            }
        }
        ("", "v1", "ReplicationController") => core::replication_controller(o),
        ("", "v1", "Service") => core::service(o),
        ("", "v1", "Namespace") => core::namespace(o),
        ("", "v1", "Secret") => core::secret(o),
        ("", "v1", "PersistentVolume") => core::persistent_volume(o),
        ("", "v1", "PersistentVolumeClaim") => core::persistent_volume_claim(o),
        ("", "v1", "Endpoints") => core::endpoints(o),
        ("", "v1", "Node") => core::node(o),
        ("", "v1", "LimitRange") => core::limit_range(o),
        ("", "v1", "Event") => core::event(o),
        ("apps", "v1", "Deployment") => apps::deployment(o),
        ("apps", "v1", "ReplicaSet") => apps::replica_set(o),
        ("apps", "v1", "StatefulSet") => apps::stateful_set(o),
        ("apps", "v1", "DaemonSet") => apps::daemon_set(o),
        ("batch", "v1", "Job") => batch::job(o),
        ("batch", "v1", "CronJob") => batch::cron_job(o),
        ("autoscaling", "v1", "HorizontalPodAutoscaler") => cluster::hpa_v1(o),
        ("autoscaling", "v2", "HorizontalPodAutoscaler") => cluster::hpa_v2(o),
        ("policy", "v1", "PodDisruptionBudget") => cluster::pod_disruption_budget(o),
        ("networking.k8s.io", "v1", "NetworkPolicy") => networking::network_policy(o),
        ("networking.k8s.io", "v1", "Ingress") => networking::ingress(o),
        ("networking.k8s.io", "v1", "IngressClass") => networking::ingress_class(o),
        ("discovery.k8s.io", "v1", "EndpointSlice") => networking::endpoint_slice(o),
        ("events.k8s.io", "v1", "Event") => networking::events_event(o),
        ("storage.k8s.io", "v1", "StorageClass") => cluster::storage_class(o),
        ("scheduling.k8s.io", "v1", "PriorityClass") => cluster::priority_class(o),
        ("rbac.authorization.k8s.io", "v1", "RoleBinding" | "ClusterRoleBinding") => cluster::role_binding(o),
        ("apiextensions.k8s.io", "v1", "CustomResourceDefinition") => cluster::custom_resource_definition(o),
        _ => {}
    }
}

/// What upstream's registry strategies and default admission plugins do to a new object beyond
/// defaulting. Call it on create only, after [`apply_defaults`] and after `metadata.uid`,
/// `metadata.name` and `metadata.creationTimestamp` are assigned:
///
/// * Pod: [`pod_admission_defaults`], then [`pod_create_status`] (which replaces `status`), then
///   the `matchLabelKeys`/`mismatchLabelKeys` merge into affinity and topology-spread selectors.
/// * Job: [`job_create_defaults`] (the generated selector and labels).
/// * Namespace: `spec.finalizers` gains `kubernetes` and `status` becomes `{phase: Active}`.
///   This is create-only on purpose: the namespace controller removes the finalizer later.
pub fn create_defaults(group: &str, version: &str, kind: &str, obj: &mut Value) {
    match (group, version, kind) {
        ("", "v1", "Pod") => {
            pod_admission_defaults(obj);
            pod_create_status(obj);
            pod::merge_label_keys(obj);
        }
        ("batch", "v1", "Job") => job_create_defaults(obj),
        ("", "v1", "Namespace") => core::namespace_create(obj),
        _ => {}
    }
}

// ---- helpers over JSON objects, with Go's notion of "unset" for each kind of field ----

/// A pointer, map or struct field is unset when absent or null.
fn is_unset(v: Option<&Value>) -> bool {
    matches!(v, None | Some(Value::Null))
}

/// A string field is unset when absent, null or empty.
fn is_empty_str(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        _ => false,
    }
}

/// A map or slice has length zero when absent, null, `{}` or `[]`.
fn is_empty_collection(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        _ => false,
    }
}

/// Sets a pointer field that is unset.
fn default_value(o: &mut Object, key: &str, value: Value) {
    if is_unset(o.get(key)) {
        o.insert(key.to_string(), value);
    }
}

/// Sets a string field that is unset or empty.
fn default_str(o: &mut Object, key: &str, value: &str) {
    if is_empty_str(o.get(key)) {
        o.insert(key.to_string(), Value::String(value.to_string()));
    }
}

/// Sets a non-pointer integer field that is unset or zero.
fn default_nonzero(o: &mut Object, key: &str, value: i64) {
    let zero = match o.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        _ => false,
    };
    if zero {
        o.insert(key.to_string(), Value::from(value));
    }
}

/// The object under `key`, if it is one.
fn child<'a>(o: &'a mut Object, key: &str) -> Option<&'a mut Object> {
    o.get_mut(key).and_then(Value::as_object_mut)
}

/// The object under `key`, created empty when unset (a Go struct, or a pointer being defaulted
/// to an empty struct). `None` when the field holds something other than an object.
fn child_or_insert<'a>(o: &'a mut Object, key: &str) -> Option<&'a mut Object> {
    if is_unset(o.get(key)) {
        o.insert(key.to_string(), Value::Object(Object::new()));
    }
    o.get_mut(key).and_then(Value::as_object_mut)
}

/// The objects in the array under `key`.
fn items<'a>(o: &'a mut Object, key: &str) -> impl Iterator<Item = &'a mut Object> {
    o.get_mut(key).and_then(Value::as_array_mut).into_iter().flatten().filter_map(Value::as_object_mut)
}

fn str_of<'a>(o: &'a Object, key: &str) -> Option<&'a str> {
    o.get(key).and_then(Value::as_str)
}

/// `status` with the fields Go always emits for it, created when absent.
fn zero_status(o: &mut Object, zero_fields: &[&str]) {
    if let Some(status) = child_or_insert(o, "status") {
        for field in zero_fields {
            default_value(status, field, Value::from(0));
        }
    }
}

/// Helpers for the tests beside each file.
#[cfg(test)]
mod testing {
    use serde_json::Value;

    /// Defaults `input`, checks that a second pass changes nothing, and returns the result.
    pub fn defaulted(group: &str, version: &str, kind: &str, input: Value) -> Value {
        let mut once = input;
        super::apply_defaults(group, version, kind, &mut once);
        let mut twice = once.clone();
        super::apply_defaults(group, version, kind, &mut twice);
        assert_eq!(twice, once, "defaulting {kind} twice changed it");
        once
    }

    /// Runs the create path (`apply_defaults` then `create_defaults`) and checks idempotency.
    pub fn created(group: &str, version: &str, kind: &str, input: Value) -> Value {
        let mut once = defaulted(group, version, kind, input);
        super::create_defaults(group, version, kind, &mut once);
        let mut twice = once.clone();
        super::apply_defaults(group, version, kind, &mut twice);
        super::create_defaults(group, version, kind, &mut twice);
        assert_eq!(twice, once, "the create path on {kind} is not idempotent");
        once
    }
}
