//! A container's environment as upstream's kubelet builds it (`makeEnvironmentVariables`):
//! `envFrom` first, then `env` (later names win), values from ConfigMaps, Secrets, the pod's
//! fields and the container's resources, then the variables naming Services
//! (`service_env.rs`) that the container does not set itself, and `$(VAR)` references
//! expanded in `value`s, `command` and `args`. Pure apart from reading the [`Cluster`]'s caches.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::{Container, Pod, ResourceFieldSelector},
    apimachinery::pkg::api::resource::Quantity,
};

use super::cluster::Cluster;

/// What the downward API reads besides the pod object.
#[derive(Clone, Debug, Default)]
pub struct Downward {
    pub pod_ips: Vec<String>,
    pub host_ips: Vec<String>,
    /// The node's allocatable resources: the value of a limit the container does not set.
    pub allocatable: BTreeMap<String, Quantity>,
}

/// Keys of an `envFrom` source skipped for not being environment variable names, reported as
/// upstream's `InvalidEnvironmentVariableNames` event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub message: String,
}

/// The resolved environment, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Env {
    pub vars: Vec<(String, String)>,
    pub skipped: Vec<Skipped>,
}

impl Env {
    fn set(&mut self, key: &str, value: String) {
        match self.vars.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.vars.push((key.to_string(), value)),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// `command` or `args` with `$(VAR)` references to this environment expanded.
    pub fn expand_all(&self, words: &[String]) -> Vec<String> {
        words.iter().map(|w| expand(w, |k| self.get(k))).collect()
    }
}

/// Expands `$(NAME)` references with `lookup`, as upstream's `expansion.Expand`: `$$` is a
/// literal `$`, unknown or unterminated references stay as written.
pub fn expand<'a>(input: &str, lookup: impl Fn(&str) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(') {
            match inner.find(')') {
                Some(end) => {
                    let name = &inner[..end];
                    match lookup(name).filter(|_| !name.is_empty()) {
                        Some(value) => out.push_str(value),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &inner[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = inner;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Upstream's relaxed rule for environment variable names (GA since 1.34): printable ASCII
/// other than `=`.
pub fn is_env_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b'=')
}

/// `map` as the downward API writes labels and annotations: sorted `key="value"` lines with
/// Go's quoting.
pub fn format_map(map: Option<&BTreeMap<String, String>>) -> String {
    map.into_iter().flatten().map(|(k, v)| format!("{k}={}", go_quote(v))).collect::<Vec<_>>().join("\n")
}

fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `metadata.labels['key']` → `("metadata.labels", "key")`.
fn subscript(path: &str) -> Option<(&str, &str)> {
    let (field, rest) = path.split_once('[')?;
    let key = rest.strip_suffix(']')?.strip_prefix('\'')?.strip_suffix('\'')?;
    Some((field, key))
}

/// The value of a downward API `fieldPath` for env (`volume` false) or a volume file.
///
/// # Errors
/// Upstream's message for a path it does not support there.
pub fn field_value(pod: &Pod, downward: &Downward, path: &str, volume: bool) -> Result<String, String> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    if let Some((field, key)) = subscript(path) {
        let map = match field {
            "metadata.labels" => meta.labels.as_ref(),
            "metadata.annotations" => meta.annotations.as_ref(),
            _ => return Err(format!("unsupported fieldPath: {path}")),
        };
        return Ok(map.and_then(|m| m.get(key)).cloned().unwrap_or_default());
    }
    let value = match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" if volume => format_map(meta.labels.as_ref()),
        "metadata.annotations" if volume => format_map(meta.annotations.as_ref()),
        "spec.nodeName" if !volume => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" if !volume => {
            spec.and_then(|s| s.service_account_name.clone()).unwrap_or_default()
        }
        "status.podIP" if !volume => downward.pod_ips.first().cloned().unwrap_or_default(),
        "status.podIPs" if !volume => downward.pod_ips.join(","),
        "status.hostIP" if !volume => downward.host_ips.first().cloned().unwrap_or_default(),
        "status.hostIPs" if !volume => downward.host_ips.join(","),
        _ => return Err(format!("unsupported fieldPath: {path}")),
    };
    Ok(value)
}

/// The value of a `resourceFieldRef` of container `container` (limits default to the node's
/// allocatable), divided by `divisor` and rounded up, as upstream's `ExtractResourceValueByContainerName`.
///
/// # Errors
/// When the container or the resource is unknown.
pub fn resource_value(
    pod: &Pod,
    container: &str,
    selector: &ResourceFieldSelector,
    downward: &Downward,
) -> Result<String, String> {
    let spec = pod.spec.as_ref();
    let c = spec
        .into_iter()
        .flat_map(|s| s.containers.iter().chain(s.init_containers.iter().flatten()))
        .find(|c| c.name == container)
        .ok_or_else(|| format!("container {container} not found"))?;
    let (kind, resource) = selector
        .resource
        .split_once('.')
        .ok_or_else(|| format!("unsupported container resource : {}", selector.resource))?;
    let resources = c.resources.as_ref();
    let set = match kind {
        "limits" => resources.and_then(|r| r.limits.as_ref()),
        "requests" => resources.and_then(|r| r.requests.as_ref()),
        _ => return Err(format!("unsupported container resource : {}", selector.resource)),
    };
    let quantity = set
        .and_then(|s| s.get(resource))
        .or_else(|| (kind == "limits").then(|| downward.allocatable.get(resource)).flatten())
        .map_or("0", |q| q.0.as_str());
    let divisor = selector.divisor.as_ref().map_or("1", |d| d.0.as_str());
    let ceil_div = |n: i64, d: i64| if d <= 0 { 0 } else { (n + d - 1).div_euclid(d) };
    let parse_err = || format!("invalid quantity for {}", selector.resource);
    let value = match resource {
        "cpu" => {
            let n = tug_scheduler::quantity::milli_value(quantity).ok_or_else(parse_err)?;
            let d = tug_scheduler::quantity::milli_value(divisor).ok_or_else(parse_err)?;
            ceil_div(n, d)
        }
        "memory" | "ephemeral-storage" => {
            let n = tug_scheduler::quantity::value(quantity).ok_or_else(parse_err)?;
            let d = tug_scheduler::quantity::value(divisor).ok_or_else(parse_err)?;
            ceil_div(n, d)
        }
        other if other.starts_with("hugepages-") => {
            let n = tug_scheduler::quantity::value(quantity).ok_or_else(parse_err)?;
            let d = tug_scheduler::quantity::value(divisor).ok_or_else(parse_err)?;
            ceil_div(n, d)
        }
        _ => return Err(format!("unsupported container resource : {}", selector.resource)),
    };
    Ok(value.to_string())
}

fn config_map_missing(name: &str) -> String {
    format!("configmap \"{name}\" not found")
}

fn secret_missing(name: &str) -> String {
    format!("secret \"{name}\" not found")
}

/// The environment of `container`.
///
/// # Errors
/// Upstream's message when a required ConfigMap, Secret or key is missing (the container
/// waits with `CreateContainerConfigError`).
pub fn resolve(
    pod: &Pod,
    container: &Container,
    downward: &Downward,
    cluster: &dyn Cluster,
) -> Result<Env, String> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let services = cluster.services().ok_or_else(|| {
        "services have not yet been read at least once, cannot construct envvars".to_string()
    })?;
    let links = pod.spec.as_ref().and_then(|s| s.enable_service_links).unwrap_or(true);
    let service_vars = super::service_env::service_env(&services, namespace, links);
    let mut env = Env::default();
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.as_deref().unwrap_or_default();
        let (data, what, name): (BTreeMap<String, String>, &str, String) =
            if let Some(source) = &from.config_map_ref {
                match cluster.config_map(namespace, &source.name) {
                    Some(cm) => (cm.data.clone().unwrap_or_default(), "configMap", source.name.clone()),
                    None if source.optional == Some(true) => continue,
                    None => return Err(config_map_missing(&source.name)),
                }
            } else if let Some(source) = &from.secret_ref {
                match cluster.secret(namespace, &source.name) {
                    Some(secret) => (secret_strings(&secret), "secret", source.name.clone()),
                    None if source.optional == Some(true) => continue,
                    None => return Err(secret_missing(&source.name)),
                }
            } else {
                continue;
            };
        let mut invalid = Vec::new();
        for (key, value) in data {
            let full = format!("{prefix}{key}");
            if is_env_name(&full) {
                env.set(&full, value);
            } else {
                invalid.push(full);
            }
        }
        if !invalid.is_empty() {
            invalid.sort();
            env.skipped.push(Skipped {
                message: format!(
                    "Keys [{}] from the EnvFrom {what} {namespace}/{name} were skipped since they are considered \
                     invalid environment variable names.",
                    invalid.join(", ")
                ),
            });
        }
    }
    for var in container.env.iter().flatten() {
        let Some(from) = &var.value_from else {
            let value = expand(var.value.as_deref().unwrap_or_default(), |k| {
                env.get(k).or_else(|| service_vars.get(k).map(String::as_str))
            });
            env.set(&var.name, value);
            continue;
        };
        let value = if let Some(field) = &from.field_ref {
            field_value(pod, downward, &field.field_path, false)?
        } else if let Some(resource) = &from.resource_field_ref {
            let name =
                resource.container_name.as_deref().filter(|n| !n.is_empty()).unwrap_or(&container.name);
            resource_value(pod, name, resource, downward)?
        } else if let Some(key) = &from.config_map_key_ref {
            let optional = key.optional == Some(true);
            let Some(cm) = cluster.config_map(namespace, &key.name) else {
                if optional {
                    continue;
                }
                return Err(config_map_missing(&key.name));
            };
            match cm.data.as_ref().and_then(|d| d.get(&key.key)) {
                Some(v) => v.clone(),
                None if optional => continue,
                None => {
                    return Err(format!(
                        "couldn't find key {} in ConfigMap {namespace}/{}",
                        key.key, key.name
                    ));
                }
            }
        } else if let Some(key) = &from.secret_key_ref {
            let optional = key.optional == Some(true);
            let Some(secret) = cluster.secret(namespace, &key.name) else {
                if optional {
                    continue;
                }
                return Err(secret_missing(&key.name));
            };
            match secret_strings(&secret).remove(&key.key) {
                Some(v) => v,
                None if optional => continue,
                None => {
                    return Err(format!("couldn't find key {} in Secret {namespace}/{}", key.key, key.name));
                }
            }
        } else {
            continue;
        };
        env.set(&var.name, value);
    }
    // The container's own variables win over the services'.
    for (name, value) in service_vars {
        if env.get(&name).is_none() {
            env.vars.push((name, value));
        }
    }
    Ok(env)
}

/// A Secret's data as text (the API has decoded the base64; `stringData` is only written).
pub fn secret_strings(secret: &k8s_openapi::api::core::v1::Secret) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = secret.string_data.clone().unwrap_or_default();
    for (k, v) in secret.data.iter().flatten() {
        out.insert(k.clone(), String::from_utf8_lossy(&v.0).into_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::pods::cluster::StaticCluster;
    use serde_json::json;

    fn pod(env: serde_json::Value, env_from: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u1",
                         "labels": {"app": "web", "tier": "a\"b"}, "annotations": {"note": "x"}},
            "spec": {
                "nodeName": "n1",
                "serviceAccountName": "robot",
                "containers": [{
                    "name": "c", "image": "busybox", "env": env, "envFrom": env_from,
                    "resources": {"limits": {"memory": "64Mi"}, "requests": {"cpu": "250m"}},
                }],
            },
        }))
        .unwrap()
    }

    fn cluster() -> StaticCluster {
        StaticCluster::default()
            .with_config_map(
                "ns",
                json!({"metadata": {"name": "cfg"}, "data": {"mode": "fast", "level": "3"}}),
            )
            .with_secret("ns", json!({"metadata": {"name": "pw"}, "data": {"password": "czNjcjN0"}}))
    }

    fn downward() -> Downward {
        Downward {
            pod_ips: vec!["10.42.0.5".into(), "fd00::5".into()],
            host_ips: vec!["192.168.1.2".into()],
            allocatable: BTreeMap::from([("cpu".into(), Quantity("2".into()))]),
        }
    }

    #[test]
    fn expansion_follows_upstreams_rules() {
        let vars = HashMap::from([("A".to_string(), "1".to_string()), ("B".to_string(), "two".to_string())]);
        let cases = [
            ("$(A)-$(B)", "1-two"),
            ("$$(A)", "$(A)"),
            ("$(C)", "$(C)"),
            ("$(A", "$(A"),
            ("a$b$", "a$b$"),
            ("$$$(A)", "$1"),
            ("$()", "$()"),
        ];
        for (input, want) in cases {
            assert_eq!(expand(input, |k| vars.get(k).map(String::as_str)), want, "{input}");
        }
    }

    #[test]
    fn env_reads_config_maps_secrets_fields_and_resources() {
        let p = pod(
            json!([
                {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "mode"}}},
                {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "pw", "key": "password"}}},
                {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "IPS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}},
                {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
                {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
                {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}},
                {"name": "REQ", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu"}}},
                {"name": "MSG", "value": "$(MODE) at $(CFG_level) $$(MODE) $(NOPE)"},
                {"name": "GONE", "valueFrom": {"configMapKeyRef": {"name": "x", "key": "k", "optional": true}}},
            ]),
            json!([{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"},
                   {"secretRef": {"name": "absent", "optional": true}}]),
        );
        let c = &p.spec.as_ref().unwrap().containers[0];
        let env = resolve(&p, c, &downward(), &cluster()).unwrap();
        let get = |k| env.get(k).unwrap_or("<unset>");
        assert_eq!(get("CFG_mode"), "fast");
        assert_eq!(get("MODE"), "fast");
        assert_eq!(get("PW"), "s3cr3t");
        assert_eq!(get("APP"), "web");
        assert_eq!(get("IPS"), "10.42.0.5,fd00::5");
        assert_eq!(get("SA"), "robot");
        assert_eq!(get("MEM"), "64");
        assert_eq!(get("CPU"), "2000", "no limit: the node's allocatable");
        assert_eq!(get("REQ"), "1", "250m rounded up to whole cores");
        assert_eq!(get("MSG"), "fast at 3 $(MODE) $(NOPE)");
        assert_eq!(get("GONE"), "<unset>");
        assert_eq!(env.vars[0].0, "CFG_level", "envFrom comes first");
        assert_eq!(env.expand_all(&["echo $(MODE) $$HOME".into()]), vec!["echo fast $HOME"]);
    }

    #[test]
    fn service_variables_come_last_and_yield_to_the_containers_own() {
        let mut cluster = cluster();
        let service = |ns: &str, name: &str, ip: &str| {
            std::sync::Arc::new(
                serde_json::from_value(json!({"metadata": {"name": name, "namespace": ns},
                    "spec": {"clusterIP": ip, "ports": [{"port": 80}]}}))
                .unwrap(),
            )
        };
        cluster.services =
            vec![service("default", "kubernetes", "10.43.0.1"), service("ns", "db", "10.43.0.9")];
        let p = pod(
            json!([{"name": "DB_SERVICE_PORT", "value": "mine"},
                   {"name": "URL", "value": "http://$(DB_SERVICE_HOST):$(DB_SERVICE_PORT)"}]),
            json!(null),
        );
        let container = &p.spec.as_ref().unwrap().containers[0];
        let env = resolve(&p, container, &Downward::default(), &cluster).unwrap();
        assert_eq!(env.vars[0], ("DB_SERVICE_PORT".to_string(), "mine".to_string()));
        assert_eq!(env.get("URL"), Some("http://10.43.0.9:mine"));
        assert_eq!(env.get("DB_SERVICE_HOST"), Some("10.43.0.9"));
        assert_eq!(env.get("KUBERNETES_SERVICE_HOST"), Some("10.43.0.1"));
        assert_eq!(env.vars.iter().filter(|(k, _)| k == "DB_SERVICE_PORT").count(), 1);

        let mut no_links = p.clone();
        no_links.spec.as_mut().unwrap().enable_service_links = Some(false);
        let env = resolve(&no_links, container, &Downward::default(), &cluster).unwrap();
        assert_eq!(env.get("DB_SERVICE_HOST"), None);
        assert_eq!(env.get("KUBERNETES_SERVICE_HOST"), Some("10.43.0.1"));
    }

    #[test]
    fn missing_sources_give_upstreams_errors() {
        let case = |env: serde_json::Value, from: serde_json::Value| {
            let p = pod(env, from);
            let c = p.spec.as_ref().unwrap().containers[0].clone();
            resolve(&p, &c, &downward(), &cluster()).unwrap_err()
        };
        assert_eq!(case(json!([]), json!([{"configMapRef": {"name": "x"}}])), "configmap \"x\" not found");
        assert_eq!(
            case(json!([{"name": "A", "valueFrom": {"secretKeyRef": {"name": "x", "key": "k"}}}]), json!([])),
            "secret \"x\" not found"
        );
        assert_eq!(
            case(
                json!([{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}]),
                json!([])
            ),
            "couldn't find key k in ConfigMap ns/cfg"
        );
        assert_eq!(
            case(
                json!([{"name": "A", "valueFrom": {"secretKeyRef": {"name": "pw", "key": "k"}}}]),
                json!([])
            ),
            "couldn't find key k in Secret ns/pw"
        );
    }

    #[test]
    fn envfrom_skips_invalid_names_and_volumes_format_maps() {
        let cluster = StaticCluster::default()
            .with_config_map("ns", json!({"metadata": {"name": "odd"}, "data": {"ok": "1", "a=b": "2"}}));
        let p = pod(json!([]), json!([{"configMapRef": {"name": "odd"}}]));
        let c = &p.spec.as_ref().unwrap().containers[0];
        let env = resolve(&p, c, &downward(), &cluster).unwrap();
        assert_eq!(env.vars, vec![("ok".to_string(), "1".to_string())]);
        assert_eq!(
            env.skipped[0].message,
            "Keys [a=b] from the EnvFrom configMap ns/odd were skipped since they are considered invalid \
             environment variable names."
        );
        assert_eq!(
            field_value(&p, &downward(), "metadata.labels", true).unwrap(),
            "app=\"web\"\ntier=\"a\\\"b\""
        );
        assert!(field_value(&p, &downward(), "status.podIP", true).is_err());
    }
}
