//! Generation of the built-in definitions from `k8s-openapi`, once, on first use.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use k8s_openapi::schemars::JsonSchema;
use k8s_openapi::schemars::generate::{SchemaGenerator, SchemaSettings};
use k8s_openapi::{ListableResource, Resource};
use serde_json::{Map, Value, json};

use super::extensions;

/// How a definition refers to another: `{"$ref": "#/components/schemas/<name>"}`.
pub const REF_PREFIX: &str = "#/components/schemas/";

const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";

/// Every definition, and which kind each root definition serves.
pub(super) struct Registry {
    pub(super) schemas: Map<String, Value>,
    /// (group, version, kind, definition name), list kinds included.
    kinds: Vec<(&'static str, &'static str, &'static str, String)>,
}

pub(super) fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(build)
}

/// Upstream's definition name of a kind (`io.k8s.api.apps.v1.Deployment` for
/// `("apps", "v1", "Deployment")`), list kinds (`DeploymentList`) included. `None` for kinds
/// that have no schema here (custom resources, options kinds such as `PodExecOptions`).
pub fn definition_for(group: &str, version: &str, kind: &str) -> Option<&'static str> {
    registry()
        .kinds
        .iter()
        .find(|(g, v, k, _)| *g == group && *v == version && *k == kind)
        .map(|(.., name)| name.as_str())
}

/// One definition by name, as served.
pub fn schema(name: &str) -> Option<&'static Value> {
    registry().schemas.get(name)
}

/// The names of the definitions a document for these kinds of `group`/`version` needs: the
/// kinds', their lists', and every definition they reach through `$ref`.
pub fn definition_names(group: &str, version: &str, kinds: &[&str]) -> BTreeSet<&'static str> {
    let reg = registry();
    let mut queue: Vec<&'static str> = Vec::new();
    for kind in kinds {
        queue.extend(definition_for(group, version, kind));
        queue.extend(definition_for(group, version, &format!("{kind}List")));
    }
    let mut seen = BTreeSet::new();
    while let Some(name) = queue.pop() {
        if let Some((name, schema)) = reg.schemas.get_key_value(name)
            && seen.insert(name.as_str())
        {
            refs(schema, &mut queue);
        }
    }
    seen
}

/// The `components.schemas` of the document for `group`/`version` that serves `kinds`: every
/// definition reachable from those kinds and their list kinds. Kinds without a schema are
/// skipped. Each call clones the definitions (a few hundred KiB for `v1`); a server should
/// build each document once.
pub fn document_schemas(group: &str, version: &str, kinds: &[&str]) -> Map<String, Value> {
    let reg = registry();
    definition_names(group, version, kinds)
        .into_iter()
        .map(|name| (name.to_string(), reg.schemas[name].clone()))
        .collect()
}

/// Pushes the definition names `schema` refers to.
fn refs(schema: &'static Value, out: &mut Vec<&'static str>) {
    match schema {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(r)) => out.extend(r.strip_prefix(REF_PREFIX)),
                    _ => refs(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

struct Builder {
    generator: SchemaGenerator,
    kinds: Vec<(&'static str, &'static str, &'static str, String)>,
    /// (item definition, group, version, list kind)
    lists: Vec<(String, &'static str, &'static str, &'static str)>,
}

impl Builder {
    fn kind<T: JsonSchema + Resource>(&mut self) {
        self.generator.subschema_for::<T>();
        self.kinds.push((T::GROUP, T::VERSION, T::KIND, T::schema_name().into_owned()));
    }

    fn listable<T: JsonSchema + ListableResource>(&mut self) {
        self.kind::<T>();
        self.lists.push((T::schema_name().into_owned(), T::GROUP, T::VERSION, T::LIST_KIND));
    }
}

/// The kinds that implement `k8s_openapi::Resource` in Kubernetes 1.35, those with a list kind
/// first.
macro_rules! kinds {
    (listable: [$($($listable:ident)::+),* $(,)?], single: [$($($single:ident)::+),* $(,)?] $(,)?) => {
        fn add_kinds(b: &mut Builder) {
            $( b.listable::<k8s_openapi::$($listable)::+>(); )*
            $( b.kind::<k8s_openapi::$($single)::+>(); )*
        }
    };
}

kinds! {
    listable: [
        api::admissionregistration::v1::MutatingWebhookConfiguration,
        api::admissionregistration::v1::ValidatingAdmissionPolicy,
        api::admissionregistration::v1::ValidatingAdmissionPolicyBinding,
        api::admissionregistration::v1::ValidatingWebhookConfiguration,
        api::admissionregistration::v1alpha1::MutatingAdmissionPolicy,
        api::admissionregistration::v1alpha1::MutatingAdmissionPolicyBinding,
        api::admissionregistration::v1beta1::MutatingAdmissionPolicy,
        api::admissionregistration::v1beta1::MutatingAdmissionPolicyBinding,
        api::apiserverinternal::v1alpha1::StorageVersion,
        api::apps::v1::ControllerRevision,
        api::apps::v1::DaemonSet,
        api::apps::v1::Deployment,
        api::apps::v1::ReplicaSet,
        api::apps::v1::StatefulSet,
        api::autoscaling::v1::HorizontalPodAutoscaler,
        api::autoscaling::v2::HorizontalPodAutoscaler,
        api::batch::v1::CronJob,
        api::batch::v1::Job,
        api::certificates::v1::CertificateSigningRequest,
        api::certificates::v1alpha1::ClusterTrustBundle,
        api::certificates::v1beta1::ClusterTrustBundle,
        api::certificates::v1beta1::PodCertificateRequest,
        api::coordination::v1::Lease,
        api::coordination::v1alpha2::LeaseCandidate,
        api::coordination::v1beta1::LeaseCandidate,
        api::core::v1::ComponentStatus,
        api::core::v1::ConfigMap,
        api::core::v1::Endpoints,
        api::core::v1::Event,
        api::core::v1::LimitRange,
        api::core::v1::Namespace,
        api::core::v1::Node,
        api::core::v1::PersistentVolume,
        api::core::v1::PersistentVolumeClaim,
        api::core::v1::Pod,
        api::core::v1::PodTemplate,
        api::core::v1::ReplicationController,
        api::core::v1::ResourceQuota,
        api::core::v1::Secret,
        api::core::v1::Service,
        api::core::v1::ServiceAccount,
        api::discovery::v1::EndpointSlice,
        api::events::v1::Event,
        api::flowcontrol::v1::FlowSchema,
        api::flowcontrol::v1::PriorityLevelConfiguration,
        api::networking::v1::Ingress,
        api::networking::v1::IngressClass,
        api::networking::v1::IPAddress,
        api::networking::v1::NetworkPolicy,
        api::networking::v1::ServiceCIDR,
        api::networking::v1beta1::IPAddress,
        api::networking::v1beta1::ServiceCIDR,
        api::node::v1::RuntimeClass,
        api::policy::v1::PodDisruptionBudget,
        api::rbac::v1::ClusterRole,
        api::rbac::v1::ClusterRoleBinding,
        api::rbac::v1::Role,
        api::rbac::v1::RoleBinding,
        api::resource::v1::DeviceClass,
        api::resource::v1::ResourceClaim,
        api::resource::v1::ResourceClaimTemplate,
        api::resource::v1::ResourceSlice,
        api::resource::v1alpha3::DeviceTaintRule,
        api::resource::v1beta1::DeviceClass,
        api::resource::v1beta1::ResourceClaim,
        api::resource::v1beta1::ResourceClaimTemplate,
        api::resource::v1beta1::ResourceSlice,
        api::resource::v1beta2::DeviceClass,
        api::resource::v1beta2::ResourceClaim,
        api::resource::v1beta2::ResourceClaimTemplate,
        api::resource::v1beta2::ResourceSlice,
        api::scheduling::v1::PriorityClass,
        api::scheduling::v1alpha1::Workload,
        api::storage::v1::CSIDriver,
        api::storage::v1::CSINode,
        api::storage::v1::CSIStorageCapacity,
        api::storage::v1::StorageClass,
        api::storage::v1::VolumeAttachment,
        api::storage::v1::VolumeAttributesClass,
        api::storage::v1beta1::VolumeAttributesClass,
        api::storagemigration::v1beta1::StorageVersionMigration,
        apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
        kube_aggregator::pkg::apis::apiregistration::v1::APIService,
    ],
    single: [
        api::authentication::v1::SelfSubjectReview,
        api::authentication::v1::TokenRequest,
        api::authentication::v1::TokenReview,
        api::authorization::v1::LocalSubjectAccessReview,
        api::authorization::v1::SelfSubjectAccessReview,
        api::authorization::v1::SelfSubjectRulesReview,
        api::authorization::v1::SubjectAccessReview,
        api::autoscaling::v1::Scale,
        api::core::v1::Binding,
        api::policy::v1::Eviction,
        apimachinery::pkg::apis::meta::v1::APIGroup,
        apimachinery::pkg::apis::meta::v1::APIGroupList,
        apimachinery::pkg::apis::meta::v1::APIResourceList,
        apimachinery::pkg::apis::meta::v1::APIVersions,
        apimachinery::pkg::apis::meta::v1::Status,
    ],
}

pub(super) fn build() -> Registry {
    let mut b = Builder {
        generator: SchemaSettings::openapi3().into_generator(),
        kinds: Vec::new(),
        lists: Vec::new(),
    };
    add_kinds(&mut b);
    b.generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta>();
    // The openapi3 settings' transforms move `$ref` siblings (a field's description) into
    // `allOf: [{"$ref": ...}]`, which is how upstream publishes them.
    let mut schemas = b.generator.take_definitions(true);
    upstream_shapes(&mut schemas);
    extensions::apply(&mut schemas);
    for (group, version, kind, name) in &b.kinds {
        add_gvk(&mut schemas, name, group, version, kind);
    }
    for (item, group, version, list_kind) in &b.lists {
        let name = format!("{item}List");
        let list = list_schema(&schemas[item.as_str()], item, list_kind);
        schemas.insert(name.clone(), list);
        add_gvk(&mut schemas, &name, group, version, list_kind);
        b.kinds.push((group, version, list_kind, name));
    }
    Registry { schemas, kinds: b.kinds }
}

fn add_gvk(schemas: &mut Map<String, Value>, name: &str, group: &str, version: &str, kind: &str) {
    let Some(Value::Object(schema)) = schemas.get_mut(name) else { return };
    let gvk = json!({"group": group, "kind": kind, "version": version});
    let list = schema.entry("x-kubernetes-group-version-kind").or_insert_with(|| json!([]));
    if let Value::Array(list) = list
        && !list.contains(&gvk)
    {
        list.push(gvk);
    }
}

/// A kind's list: `apiVersion`, `kind`, `metadata` (ListMeta) and the required `items`.
fn list_schema(item_schema: &Value, item: &str, list_kind: &str) -> Value {
    let kind = item.rsplit('.').next().unwrap_or(item);
    let field = |name: &str| item_schema.pointer(&format!("/properties/{name}")).cloned();
    json!({
        "description": format!("{list_kind} is a list of {kind} objects."),
        "type": "object",
        "properties": {
            "apiVersion": field("apiVersion").unwrap_or_else(|| json!({"type": "string"})),
            "kind": field("kind").unwrap_or_else(|| json!({"type": "string"})),
            "metadata": {
                "description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
                "allOf": [{"$ref": format!("{REF_PREFIX}{LIST_META}")}],
            },
            "items": {
                "description": format!("Items is the list of {kind} objects."),
                "type": "array",
                "items": {"$ref": format!("{REF_PREFIX}{item}")},
            },
        },
        "required": ["items"],
    })
}

/// Where `k8s-openapi` describes a type otherwise than upstream's OpenAPI v3 documents do.
fn upstream_shapes(schemas: &mut Map<String, Value>) {
    // k8s-openapi makes the `metadata` of every object with `apiVersion` and `kind` required
    // (its Rust field is not optional); upstream leaves it optional.
    for schema in schemas.values_mut() {
        let Some(map) = schema.as_object_mut() else { continue };
        let is_object = ["apiVersion", "kind", "metadata"]
            .iter()
            .all(|f| map.get("properties").and_then(|p| p.get(f)).is_some());
        if let (true, Some(Value::Array(required))) = (is_object, map.get_mut("required")) {
            required.retain(|r| r != "metadata");
            if required.is_empty() {
                map.remove("required");
            }
        }
    }
    // And it makes optional two fields upstream's spec requires.
    for (name, field) in
        [("io.k8s.api.core.v1.ContainerImage", "names"), ("io.k8s.api.events.v1.Event", "eventTime")]
    {
        if let Some(Value::Object(schema)) = schemas.get_mut(name) {
            let required = schema.entry("required").or_insert_with(|| json!([]));
            if let Value::Array(list) = required
                && !list.contains(&json!(field))
            {
                list.push(json!(field));
                list.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
        }
    }
    let mut reshape = |name: &str, f: &dyn Fn(&mut Map<String, Value>)| {
        if let Some(Value::Object(schema)) = schemas.get_mut(name) {
            f(schema);
        }
    };
    // Upstream: `format: int-or-string` and `oneOf` integer/string.
    reshape("io.k8s.apimachinery.pkg.util.intstr.IntOrString", &|s| {
        s.remove("x-kubernetes-int-or-string");
        s.insert("format".into(), json!("int-or-string"));
        s.insert("oneOf".into(), json!([{"type": "integer"}, {"type": "string"}]));
    });
    // Upstream: `oneOf` string/number.
    reshape("io.k8s.apimachinery.pkg.api.resource.Quantity", &|s| {
        s.remove("x-kubernetes-int-or-string");
        s.insert("oneOf".into(), json!([{"type": "string"}, {"type": "number"}]));
    });
    // Any JSON value: upstream gives no type (a default may be a number or a list).
    reshape("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON", &|s| {
        s.remove("type");
    });
    // Custom unmarshalers upstream leaves undescribed beyond their description.
    for name in ["JSONSchemaPropsOrArray", "JSONSchemaPropsOrBool", "JSONSchemaPropsOrStringArray"] {
        reshape(&format!("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.{name}"), &|s| {
            s.remove("oneOf");
        });
    }
}
