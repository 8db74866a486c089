//! The built-in resources: group, version, kind, names, scope and subresources, as upstream
//! serves them (what discovery advertises and what REST paths resolve to).

/// One resource served at `/api[s]/<group>/<version>/[namespaces/<ns>/]<plural>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub verbs: Vec<String>,
    pub subresources: Vec<Subresource>,
    /// Served from a CustomResourceDefinition.
    pub custom: bool,
    /// A custom resource's `additionalPrinterColumns` (empty for built-ins).
    pub printer_columns: Vec<PrinterColumn>,
    /// A custom resource's `openAPIV3Schema` for this version, if it has one.
    pub schema: Option<serde_json::Value>,
}

/// One `additionalPrinterColumns` entry of a CustomResourceDefinition version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: String,
}

/// A subresource such as `status` or `scale`, with the kind it reads and writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subresource {
    pub name: String,
    pub group: String,
    pub version: String,
    pub kind: String,
    pub verbs: Vec<String>,
}

impl Resource {
    /// `v1` for the core group, `<group>/<version>` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }

    pub fn subresource(&self, name: &str) -> Option<&Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }

    /// The storage key prefix of this resource: `/registry/<group or core>/<plural>/`. Versions
    /// of one group share it.
    pub fn key_prefix(&self) -> String {
        crate::convert::storage_key_prefix(&self.group, &self.plural)
    }
}

const ALL_VERBS: &[&str] =
    &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
const STATUS_VERBS: &[&str] = &["get", "patch", "update"];

/// (name, group, version, kind, verbs) of a subresource; group "=" means the parent's.
type Sub = (&'static str, &'static str, &'static str, &'static str, &'static [&'static str]);

const STATUS: Sub = ("status", "=", "=", "=", STATUS_VERBS);
const SCALE: Sub = ("scale", "autoscaling", "v1", "Scale", STATUS_VERBS);

/// (group, version, kind, plural, namespaced, short names, categories, subresources)
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
    &'static [&'static str],
    &'static [Sub],
);

const ALL: &[&str] = &["all"];

#[rustfmt::skip]
const BUILTIN: &[Row] = &[
    ("", "v1", "Pod", "pods", true, &["po"], ALL, &[
        STATUS,
        ("log", "", "v1", "Pod", &["get"]),
        ("exec", "", "v1", "PodExecOptions", &["create", "get"]),
        ("attach", "", "v1", "PodAttachOptions", &["create", "get"]),
        ("portforward", "", "v1", "PodPortForwardOptions", &["create", "get"]),
        ("eviction", "policy", "v1", "Eviction", &["create"]),
        ("binding", "", "v1", "Binding", &["create"]),
        ("ephemeralcontainers", "=", "=", "=", STATUS_VERBS),
        ("resize", "=", "=", "=", STATUS_VERBS),
    ]),
    ("", "v1", "Binding", "bindings", true, &[], &[], &[]),
    ("", "v1", "Service", "services", true, &["svc"], ALL, &[STATUS]),
    ("", "v1", "Endpoints", "endpoints", true, &["ep"], &[], &[]),
    ("", "v1", "ConfigMap", "configmaps", true, &["cm"], &[], &[]),
    ("", "v1", "Secret", "secrets", true, &[], &[], &[]),
    ("", "v1", "Namespace", "namespaces", false, &["ns"], &[], &[
        STATUS, ("finalize", "=", "=", "=", &["update"]),
    ]),
    ("", "v1", "Node", "nodes", false, &["no"], &[], &[STATUS]),
    ("", "v1", "Event", "events", true, &["ev"], &[], &[]),
    ("", "v1", "ServiceAccount", "serviceaccounts", true, &["sa"], &[], &[
        ("token", "authentication.k8s.io", "v1", "TokenRequest", &["create"]),
    ]),
    ("", "v1", "ReplicationController", "replicationcontrollers", true, &["rc"], ALL, &[STATUS, SCALE]),
    ("", "v1", "PersistentVolume", "persistentvolumes", false, &["pv"], &[], &[STATUS]),
    ("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true, &["pvc"], &[], &[STATUS]),
    ("", "v1", "ResourceQuota", "resourcequotas", true, &["quota"], &[], &[STATUS]),
    ("", "v1", "LimitRange", "limitranges", true, &["limits"], &[], &[]),
    ("", "v1", "PodTemplate", "podtemplates", true, &[], &[], &[]),
    ("apiregistration.k8s.io", "v1", "APIService", "apiservices", false, &[], &["api-extensions"], &[STATUS]),
    ("apps", "v1", "Deployment", "deployments", true, &["deploy"], ALL, &[STATUS, SCALE]),
    ("apps", "v1", "ReplicaSet", "replicasets", true, &["rs"], ALL, &[STATUS, SCALE]),
    ("apps", "v1", "StatefulSet", "statefulsets", true, &["sts"], ALL, &[STATUS, SCALE]),
    ("apps", "v1", "DaemonSet", "daemonsets", true, &["ds"], ALL, &[STATUS]),
    ("apps", "v1", "ControllerRevision", "controllerrevisions", true, &[], &[], &[]),
    ("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", false, &[], &[], &[]),
    ("authentication.k8s.io", "v1", "TokenReview", "tokenreviews", false, &[], &[], &[]),
    ("batch", "v1", "Job", "jobs", true, &[], ALL, &[STATUS]),
    ("batch", "v1", "CronJob", "cronjobs", true, &["cj"], ALL, &[STATUS]),
    ("certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests", false, &["csr"], &[], &[
        STATUS, ("approval", "=", "=", "=", STATUS_VERBS),
    ]),
    ("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, &["hpa"], ALL, &[STATUS]),
    ("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, &["hpa"], ALL, &[STATUS]),
    ("networking.k8s.io", "v1", "Ingress", "ingresses", true, &["ing"], &[], &[STATUS]),
    ("networking.k8s.io", "v1", "IngressClass", "ingressclasses", false, &[], &[], &[]),
    ("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", true, &["netpol"], &[], &[]),
    ("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", true, &[], &[], &[]),
    ("coordination.k8s.io", "v1", "Lease", "leases", true, &[], &[], &[]),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false, &[], &[], &[]),
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", false, &[], &[], &[]),
    ("rbac.authorization.k8s.io", "v1", "Role", "roles", true, &[], &[], &[]),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", true, &[], &[], &[]),
    ("storage.k8s.io", "v1", "StorageClass", "storageclasses", false, &["sc"], &[], &[]),
    ("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", true, &["pdb"], &[], &[STATUS]),
    ("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", false, &["pc"], &[], &[]),
    ("events.k8s.io", "v1", "Event", "events", true, &["ev"], &[], &[]),
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", false, &["crd", "crds"], &["api-extensions"], &[STATUS]),
];

/// Every built-in resource, preferred versions first within a group.
pub fn builtin() -> Vec<Resource> {
    BUILTIN
        .iter()
        .map(|&(group, version, kind, plural, namespaced, short, cats, subs)| {
            let verbs: &[&str] = match plural {
                // Answered, not stored.
                "bindings" | "selfsubjectreviews" | "tokenreviews" => &["create"],
                _ => ALL_VERBS,
            };
            Resource {
                group: group.into(),
                version: version.into(),
                kind: kind.into(),
                plural: plural.into(),
                singular: kind.to_lowercase(),
                namespaced,
                short_names: strings(short),
                categories: strings(cats),
                verbs: strings(verbs),
                subresources: subs
                    .iter()
                    .map(|&(name, g, v, k, verbs)| Subresource {
                        name: name.into(),
                        group: if g == "=" { group.into() } else { g.into() },
                        version: if v == "=" { version.into() } else { v.into() },
                        kind: if k == "=" { kind.into() } else { k.into() },
                        verbs: strings(verbs),
                    })
                    .collect(),
                custom: false,
                printer_columns: Vec::new(),
                schema: None,
            }
        })
        .collect()
}

/// The resources a CustomResourceDefinition serves, one per served version, storage version
/// first (it is the preferred one).
///
/// # Errors
/// A message naming the missing field when the definition is incomplete.
pub fn from_crd(crd: &serde_json::Value) -> Result<Vec<Resource>, String> {
    use serde_json::Value;
    let text = |path: &str| crd.pointer(path).and_then(Value::as_str).unwrap_or_default().to_string();
    let list = |path: &str| -> Vec<String> {
        crd.pointer(path)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default()
    };
    let (group, kind, plural) = (text("/spec/group"), text("/spec/names/kind"), text("/spec/names/plural"));
    for (field, value) in [("spec.group", &group), ("spec.names.kind", &kind), ("spec.names.plural", &plural)]
    {
        if value.is_empty() {
            return Err(format!("{field}: Required value"));
        }
    }
    let singular = match text("/spec/names/singular") {
        s if s.is_empty() => kind.to_lowercase(),
        s => s,
    };
    let namespaced = text("/spec/scope") != "Cluster";
    let versions = crd.pointer("/spec/versions").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut out: Vec<Resource> = Vec::new();
    for v in versions.iter().filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(false)) {
        let version = v.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        let mut subresources = Vec::new();
        if v.pointer("/subresources/status").is_some() {
            subresources.push(Subresource {
                name: "status".into(),
                group: group.clone(),
                version: version.clone(),
                kind: kind.clone(),
                verbs: strings(STATUS_VERBS),
            });
        }
        if v.pointer("/subresources/scale").is_some() {
            subresources.push(Subresource {
                name: "scale".into(),
                group: "autoscaling".into(),
                version: "v1".into(),
                kind: "Scale".into(),
                verbs: strings(STATUS_VERBS),
            });
        }
        let printer_columns = v
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map(|cols| {
                cols.iter()
                    .map(|c| {
                        let t = |f: &str| c.get(f).and_then(Value::as_str).unwrap_or_default().to_string();
                        PrinterColumn {
                            name: t("name"),
                            type_: t("type"),
                            format: t("format"),
                            description: t("description"),
                            priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                            json_path: t("jsonPath"),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let resource = Resource {
            group: group.clone(),
            version,
            kind: kind.clone(),
            plural: plural.clone(),
            singular: singular.clone(),
            namespaced,
            short_names: list("/spec/names/shortNames"),
            categories: list("/spec/names/categories"),
            verbs: strings(ALL_VERBS),
            subresources,
            custom: true,
            printer_columns,
            schema: v.pointer("/schema/openAPIV3Schema").cloned(),
        };
        if v.get("storage").and_then(Value::as_bool).unwrap_or(false) {
            out.insert(0, resource);
        } else {
            out.push(resource);
        }
    }
    Ok(out)
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crds_become_resources_storage_version_first() {
        let crd = serde_json::json!({
            "spec": {
                "group": "stable.example.com",
                "scope": "Namespaced",
                "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]},
                "versions": [
                    {"name": "v1beta1", "served": true, "storage": false},
                    {"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                     "additionalPrinterColumns": [{"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"}]},
                    {"name": "v0", "served": false, "storage": false},
                ],
            }
        });
        let rs = from_crd(&crd).unwrap();
        assert_eq!(rs.iter().map(|r| r.version.as_str()).collect::<Vec<_>>(), ["v1", "v1beta1"]);
        assert_eq!(rs[0].short_names, ["ct"]);
        assert!(rs[0].subresource("status").is_some() && rs[1].subresource("status").is_none());
        assert_eq!(rs[0].printer_columns[0].json_path, ".spec.cronSpec");
        assert_eq!(rs[0].key_prefix(), "/registry/stable.example.com/crontabs/");
        assert!(from_crd(&serde_json::json!({"spec": {}})).unwrap_err().contains("spec.group"));
    }

    #[test]
    fn plurals_are_unique_within_a_group_version() {
        let all = builtin();
        let mut seen = std::collections::HashSet::new();
        for r in &all {
            assert!(seen.insert((r.group.clone(), r.version.clone(), r.plural.clone())), "{r:?}");
        }
        let deploy = all.iter().find(|r| r.plural == "deployments").unwrap();
        assert_eq!(deploy.api_version(), "apps/v1");
        assert_eq!(deploy.subresource("scale").unwrap().kind, "Scale");
        assert_eq!(deploy.key_prefix(), "/registry/apps/deployments/");
        let pods = all.iter().find(|r| r.plural == "pods").unwrap();
        assert_eq!(pods.subresource("status").unwrap().kind, "Pod");
        assert_eq!(pods.key_prefix(), "/registry/core/pods/");
    }
}
