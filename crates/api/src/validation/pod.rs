//! Pod specs (`ValidatePodSpec` and its parts), for Pods and for the pod templates of
//! workloads. Objects arrive defaulted, so fields upstream defaults are only checked for values
//! a client set explicitly.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;

use super::field::{Bad, Errors, Path, array_of, get, int_of, object_of, str_of};
use super::format;
use super::meta;
use super::quantity::Quantity;

/// Volume sources in the order upstream checks them, with the path its "more than one" error
/// names (upstream spells two of them differently from the field).
const VOLUME_SOURCES: &[(&str, &str)] = &[
    ("emptyDir", "emptyDir"),
    ("hostPath", "hostPath"),
    ("gitRepo", "gitRepo"),
    ("gcePersistentDisk", "gcePersistentDisk"),
    ("awsElasticBlockStore", "awsElasticBlockStore"),
    ("secret", "secret"),
    ("nfs", "nfs"),
    ("iscsi", "iscsi"),
    ("glusterfs", "glusterfs"),
    ("flocker", "flocker"),
    ("persistentVolumeClaim", "persistentVolumeClaim"),
    ("rbd", "rbd"),
    ("cinder", "cinder"),
    ("cephfs", "cephFS"),
    ("quobyte", "quobyte"),
    ("downwardAPI", "downwarAPI"),
    ("fc", "fc"),
    ("flexVolume", "flexVolume"),
    ("configMap", "configMap"),
    ("azureFile", "azureFile"),
    ("vsphereVolume", "vsphereVolume"),
    ("photonPersistentDisk", "photonPersistentDisk"),
    ("portworxVolume", "portworxVolume"),
    ("azureDisk", "azureDisk"),
    ("storageos", "storageos"),
    ("projected", "projected"),
    ("scaleIO", "scaleIO"),
    ("csi", "csi"),
    ("ephemeral", "ephemeral"),
    ("image", "image"),
];

const FILE_MODE_MSG: &str = "must be a number between 0 and 0777 (octal), both inclusive";
const NOT_NEGATIVE: &str = "must be greater than or equal to 0";

/// Where a pod spec sits: a Pod gets a few checks templates do not.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Pod,
    Template,
}

/// A Pod's spec (metadata is checked by the caller).
pub fn pod(obj: &Value, errs: &mut Errors) {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let path = Path::new("spec");
    pod_spec(spec, &path, Context::Pod, errs);
    for list in ["containers", "initContainers"] {
        for (i, c) in array_of(spec, list).iter().enumerate() {
            let image = str_of(c, "image");
            if image.trim() != image {
                errs.invalid(
                    &path.child(list).index(i).child("image"),
                    Bad::Str(image),
                    "must not have leading or trailing whitespace",
                );
            }
        }
    }
}

/// `ValidatePodTemplateSpec`: the template's labels and annotations (at `<path>.labels`, as
/// upstream names them) and its pod spec.
pub fn template(template: &Value, path: &Path, errs: &mut Errors) {
    let meta_v = template.get("metadata").unwrap_or(&Value::Null);
    meta::labels(object_of(meta_v, "labels"), &path.child("labels"), errs);
    meta::annotations(object_of(meta_v, "annotations"), &path.child("annotations"), errs);
    let spec = template.get("spec").unwrap_or(&Value::Null);
    pod_spec(spec, &path.child("spec"), Context::Template, errs);
    if !array_of(spec, "ephemeralContainers").is_empty() {
        errs.forbidden(
            &path.child("spec").child("ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        );
    }
}

/// `ValidatePodSpec`.
pub fn pod_spec(spec: &Value, path: &Path, ctx: Context, errs: &mut Errors) {
    let grace = int_of(spec, "terminationGracePeriodSeconds");
    let volumes = volumes(array_of(spec, "volumes"), &path.child("volumes"), errs);
    containers(spec, &volumes, grace, &path.child("containers"), errs);
    init_containers(spec, &volumes, grace, &path.child("initContainers"), errs);
    host_network_ports(spec, path, ctx, errs);
    one_of(spec, "restartPolicy", &["Always", "OnFailure", "Never"], &path.child("restartPolicy"), errs);
    one_of(
        spec,
        "dnsPolicy",
        &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        &path.child("dnsPolicy"),
        errs,
    );
    meta::labels(object_of(spec, "nodeSelector"), &path.child("nodeSelector"), errs);
    dns_config(spec, &path.child("dnsConfig"), errs);
    for (field, check) in [
        ("serviceAccountName", format::dns1123_subdomain as fn(&str) -> Vec<String>),
        ("nodeName", format::dns1123_subdomain),
    ] {
        let v = str_of(spec, field);
        if !v.is_empty() {
            errs.invalid_each(&path.child(field), v, check(v));
        }
    }
    if let Some(v) = int_of(spec, "activeDeadlineSeconds")
        && !(1..=i64::from(i32::MAX)).contains(&v)
    {
        errs.invalid(
            &path.child("activeDeadlineSeconds"),
            Bad::Int(v),
            &format::inclusive_range(1, i64::from(i32::MAX)),
        );
    }
    for field in ["hostname", "subdomain"] {
        let v = str_of(spec, field);
        if !v.is_empty() {
            errs.invalid_each(&path.child(field), v, format::dns1123_label(v));
        }
    }
    tolerations(array_of(spec, "tolerations"), &path.child("tolerations"), errs);
    let class = str_of(spec, "priorityClassName");
    if !class.is_empty() {
        errs.invalid_each(&path.child("priorityClassName"), class, format::dns1123_subdomain(class));
    }
    if let Some(p) = spec.get("preemptionPolicy").and_then(Value::as_str) {
        one_of_value(p, &["PreemptLowerPriority", "Never"], &path.child("preemptionPolicy"), errs);
    }
}

/// An enum field: "" is `Required`, anything unknown `NotSupported`.
pub fn one_of(obj: &Value, field: &str, allowed: &[&str], path: &Path, errs: &mut Errors) {
    one_of_value(str_of(obj, field), allowed, path, errs);
}

fn one_of_value(value: &str, allowed: &[&str], path: &Path, errs: &mut Errors) {
    if value.is_empty() {
        errs.required(path, "");
    } else if !allowed.contains(&value) {
        errs.not_supported(path, Bad::Str(value), allowed);
    }
}

/// `ValidateVolumes`; returns the valid volumes by name, which mounts may refer to.
fn volumes<'a>(list: &'a [Value], path: &Path, errs: &mut Errors) -> BTreeMap<&'a str, &'a Value> {
    let mut valid = BTreeMap::new();
    for (i, vol) in list.iter().enumerate() {
        let p = path.index(i);
        let mut own = Errors::default();
        let name = str_of(vol, "name");
        volume_source(vol, &p, &mut own);
        if name.is_empty() {
            own.required(&p.child("name"), "");
        } else {
            own.invalid_each(&p.child("name"), name, format::dns1123_label(name));
        }
        if valid.contains_key(name) {
            own.duplicate(&p.child("name"), Bad::Str(name));
        }
        if own.is_empty() {
            valid.insert(name, vol);
        } else {
            errs.extend(own);
        }
    }
    valid
}

fn volume_source(vol: &Value, path: &Path, errs: &mut Errors) {
    let mut count = 0;
    for (key, forbidden_path) in VOLUME_SOURCES {
        let Some(source) = get(vol, key) else { continue };
        if count > 0 {
            errs.forbidden(&path.child(forbidden_path), "may not specify more than 1 volume type");
            continue;
        }
        count += 1;
        let p = path.child(key);
        match *key {
            "hostPath" if str_of(source, "path").is_empty() => errs.required(&p.child("path"), ""),
            "secret" => {
                if str_of(source, "secretName").is_empty() {
                    errs.required(&p.child("secretName"), "");
                }
                file_modes(source, &p, errs);
            }
            "configMap" => {
                if str_of(source, "name").is_empty() {
                    errs.required(&p.child("name"), "");
                }
                file_modes(source, &p, errs);
            }
            "persistentVolumeClaim" if str_of(source, "claimName").is_empty() => {
                errs.required(&p.child("claimName"), "")
            }
            "nfs" => {
                if str_of(source, "server").is_empty() {
                    errs.required(&p.child("server"), "");
                }
                let nfs_path = str_of(source, "path");
                if nfs_path.is_empty() {
                    errs.required(&p.child("path"), "");
                }
                if !nfs_path.starts_with('/') {
                    errs.invalid(&p.child("path"), Bad::Str(nfs_path), "must be an absolute path");
                }
            }
            "emptyDir" => {
                let negative =
                    get(source, "sizeLimit").and_then(Quantity::parse).is_some_and(|q| q.nanos < 0);
                if negative {
                    errs.forbidden(
                        &p.child("sizeLimit"),
                        "SizeLimit field must be a valid resource quantity",
                    );
                }
            }
            _ => {}
        }
    }
    if count == 0 {
        errs.required(path, "must specify a volume type");
    }
}

/// `defaultMode` and the `items` of a secret or configMap volume.
fn file_modes(source: &Value, path: &Path, errs: &mut Errors) {
    if let Some(mode) = int_of(source, "defaultMode")
        && !(0..=0o777).contains(&mode)
    {
        errs.invalid(&path.child("defaultMode"), Bad::Int(mode), FILE_MODE_MSG);
    }
    for (i, item) in array_of(source, "items").iter().enumerate() {
        let p = path.child("items").index(i);
        if str_of(item, "key").is_empty() {
            errs.required(&p.child("key"), "");
        }
        let item_path = str_of(item, "path");
        if item_path.is_empty() {
            errs.required(&p.child("path"), "");
        }
        local_path(item_path, &p.child("path"), errs);
        // The `..` element check already covers "../".
        if item_path.starts_with("..") && !item_path.starts_with("../") {
            errs.invalid(&p.child("path"), Bad::Str(item_path), "must not start with '..'");
        }
        if let Some(mode) = int_of(item, "mode")
            && !(0..=0o777).contains(&mode)
        {
            errs.invalid(&p.child("mode"), Bad::Int(mode), FILE_MODE_MSG);
        }
    }
}

/// `validateLocalDescendingPath`: relative, without `..` elements.
fn local_path(p: &str, path: &Path, errs: &mut Errors) {
    if p.starts_with('/') {
        errs.invalid(path, Bad::Str(p), "must be a relative path");
    }
    if p.split('/').any(|part| part == "..") {
        errs.invalid(path, Bad::Str(p), "must not contain '..'");
    }
}

fn containers(
    spec: &Value,
    volumes: &BTreeMap<&str, &Value>,
    grace: Option<i64>,
    path: &Path,
    errs: &mut Errors,
) {
    let list = array_of(spec, "containers");
    if list.is_empty() {
        errs.required(path, "");
        return;
    }
    let mut names = HashSet::new();
    for (i, c) in list.iter().enumerate() {
        let p = path.index(i);
        container_common(c, volumes, &p, errs);
        let name = str_of(c, "name");
        if !names.insert(name) {
            errs.duplicate(&p.child("name"), Bad::Str(name));
        }
        probes_and_lifecycle(c, grace, &p, errs);
        if get(c, "restartPolicy").is_some() {
            errs.forbidden(&p.child("restartPolicy"), "may not be set for non-init containers");
        }
    }
    host_port_conflicts(list, path, errs);
}

fn init_containers(
    spec: &Value,
    volumes: &BTreeMap<&str, &Value>,
    grace: Option<i64>,
    path: &Path,
    errs: &mut Errors,
) {
    let mut names: HashSet<&str> = array_of(spec, "containers").iter().map(|c| str_of(c, "name")).collect();
    for (i, c) in array_of(spec, "initContainers").iter().enumerate() {
        let p = path.index(i);
        container_common(c, volumes, &p, errs);
        let restart = c.get("restartPolicy").and_then(Value::as_str);
        if let Some(policy) = restart.filter(|r| *r != "Always") {
            errs.not_supported(&p.child("restartPolicy"), Bad::Str(policy), &["Always"]);
        }
        let name = str_of(c, "name");
        if names.contains(name) {
            errs.duplicate(&p.child("name"), Bad::Str(name));
        } else if !name.is_empty() {
            names.insert(name);
        }
        host_port_conflicts(std::slice::from_ref(c), path, errs);
        if restart == Some("Always") {
            probes_and_lifecycle(c, grace, &p, errs);
        } else {
            for field in ["lifecycle", "livenessProbe", "readinessProbe", "startupProbe"] {
                if get(c, field).is_some() {
                    errs.forbidden(
                        &p.child(field),
                        "may not be set for init containers without restartPolicy=Always",
                    );
                }
            }
        }
    }
}

/// `validateContainerCommon`.
fn container_common(c: &Value, volumes: &BTreeMap<&str, &Value>, path: &Path, errs: &mut Errors) {
    let name = str_of(c, "name");
    if name.is_empty() {
        errs.required(&path.child("name"), "");
    } else {
        errs.invalid_each(&path.child("name"), name, format::dns1123_label(name));
    }
    if str_of(c, "image").is_empty() {
        errs.required(&path.child("image"), "");
    }
    one_of(
        c,
        "terminationMessagePolicy",
        &["File", "FallbackToLogsOnError"],
        &path.child("terminationMessagePolicy"),
        errs,
    );
    container_ports(array_of(c, "ports"), &path.child("ports"), errs);
    env(array_of(c, "env"), &path.child("env"), errs);
    env_from(array_of(c, "envFrom"), &path.child("envFrom"), errs);
    volume_mounts(array_of(c, "volumeMounts"), volumes, &path.child("volumeMounts"), errs);
    one_of(c, "imagePullPolicy", &["Always", "IfNotPresent", "Never"], &path.child("imagePullPolicy"), errs);
    resources(c.get("resources").unwrap_or(&Value::Null), &path.child("resources"), errs);
}

fn container_ports(ports: &[Value], path: &Path, errs: &mut Errors) {
    let mut names = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = path.index(i);
        let name = str_of(port, "name");
        if !name.is_empty() {
            let msgs = format::port_name(name);
            if !msgs.is_empty() {
                errs.invalid_each(&p.child("name"), name, msgs);
            } else if !names.insert(name) {
                errs.duplicate(&p.child("name"), Bad::Str(name));
            }
        }
        match int_of(port, "containerPort").unwrap_or(0) {
            0 => errs.required(&p.child("containerPort"), ""),
            n => port_number(n, &p.child("containerPort"), errs),
        }
        match int_of(port, "hostPort").unwrap_or(0) {
            0 => {}
            n => port_number(n, &p.child("hostPort"), errs),
        }
        protocol(port, &p.child("protocol"), errs);
    }
}

pub fn port_number(n: i64, path: &Path, errs: &mut Errors) {
    for m in format::port_num(n) {
        errs.invalid(path, Bad::Int(n), &m);
    }
}

pub fn protocol(port: &Value, path: &Path, errs: &mut Errors) {
    // Upstream lists the supported protocols sorted.
    one_of(port, "protocol", &["SCTP", "TCP", "UDP"], path, errs);
}

/// An `IntOrString` port: a number in range, or a port name.
pub fn port_num_or_name(v: Option<&Value>, path: &Path, errs: &mut Errors) {
    match v {
        Some(Value::String(s)) => errs.invalid_each(path, s, format::port_name(s)),
        Some(Value::Number(n)) => port_number(n.as_i64().unwrap_or(0), path, errs),
        _ => port_number(0, path, errs),
    }
}

fn env(vars: &[Value], path: &Path, errs: &mut Errors) {
    for (i, var) in vars.iter().enumerate() {
        let p = path.index(i);
        let name = str_of(var, "name");
        if name.is_empty() {
            errs.required(&p.child("name"), "");
        } else {
            errs.invalid_each(&p.child("name"), name, format::env_var_name(name));
        }
        let Some(from) = get(var, "valueFrom") else { continue };
        let from_path = p.child("valueFrom");
        let mut sources = 0;
        for (key, selector) in [("configMapKeyRef", true), ("secretKeyRef", true), ("fieldRef", false)] {
            let Some(src) = get(from, key) else { continue };
            sources += 1;
            if selector && str_of(src, "key").is_empty() {
                errs.required(&from_path.child(key).child("key"), "");
            }
        }
        if get(from, "resourceFieldRef").is_some() {
            sources += 1;
        }
        if sources == 0 {
            errs.invalid(
                &from_path,
                Bad::Str(""),
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            );
        } else if !str_of(var, "value").is_empty() {
            errs.invalid(&from_path, Bad::Str(""), "may not be specified when `value` is not empty");
        } else if sources > 1 {
            errs.invalid(&from_path, Bad::Str(""), "may not have more than one field specified at a time");
        }
    }
}

fn env_from(sources: &[Value], path: &Path, errs: &mut Errors) {
    for (i, src) in sources.iter().enumerate() {
        let p = path.index(i);
        let prefix = str_of(src, "prefix");
        if !prefix.is_empty() {
            errs.invalid_each(&p.child("prefix"), prefix, format::env_var_name(prefix));
        }
        let mut count = 0;
        for key in ["configMapRef", "secretRef"] {
            if let Some(r) = get(src, key) {
                count += 1;
                let name = str_of(r, "name");
                if name.is_empty() {
                    errs.required(&p.child(key).child("name"), "");
                } else {
                    let prefixed = format::dns1123_subdomain_prefix(name);
                    errs.invalid_each(&p.child(key).child("name"), name, prefixed);
                }
            }
        }
        // Upstream names the whole list here, not the entry.
        if count == 0 {
            errs.invalid(path, Bad::Str(""), "must specify one of: `configMapRef` or `secretRef`");
        } else if count > 1 {
            errs.invalid(path, Bad::Str(""), "may not have more than one field specified at a time");
        }
    }
}

fn volume_mounts(mounts: &[Value], volumes: &BTreeMap<&str, &Value>, path: &Path, errs: &mut Errors) {
    let mut mount_points = HashSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let p = path.index(i);
        let name = str_of(m, "name");
        if name.is_empty() {
            errs.required(&p.child("name"), "");
        }
        if !volumes.contains_key(name) {
            errs.not_found(&p.child("name"), Bad::Str(name));
        }
        let mount_path = str_of(m, "mountPath");
        if mount_path.is_empty() {
            errs.required(&p.child("mountPath"), "");
        }
        if !mount_points.insert(mount_path) {
            errs.invalid(&p.child("mountPath"), Bad::Str(mount_path), "must be unique");
        }
        // Upstream names the list, not the entry, for sub-path errors.
        let sub_path = str_of(m, "subPath");
        if !sub_path.is_empty() {
            local_path(sub_path, &path.child("subPath"), errs);
        }
        let expr = str_of(m, "subPathExpr");
        if !expr.is_empty() {
            if !sub_path.is_empty() {
                errs.invalid(
                    &p.child("subPathExpr"),
                    Bad::Str(expr),
                    "subPathExpr and subPath are mutually exclusive",
                );
            }
            local_path(expr, &path.child("subPathExpr"), errs);
        }
    }
}

/// `validateResourceRequirements` for a container.
fn resources(res: &Value, path: &Path, errs: &mut Errors) {
    let limits = object_of(res, "limits");
    let lim_path = path.child("limits");
    let req_path = path.child("requests");
    let mut cpu_or_memory = false;
    let mut huge_pages = false;
    let mut sorted_limits: Vec<(&String, &Value)> = limits.into_iter().flatten().collect();
    sorted_limits.sort_by(|a, b| a.0.cmp(b.0));
    for (name, q) in &sorted_limits {
        let p = lim_path.key(name);
        resource_name(name, &p, errs);
        quantity_value(name, q, &p, errs);
        cpu_or_memory |= matches!(name.as_str(), "cpu" | "memory");
        huge_pages |= name.starts_with("hugepages-");
    }
    let mut requests: Vec<(&String, &Value)> = object_of(res, "requests").into_iter().flatten().collect();
    requests.sort_by(|a, b| a.0.cmp(b.0));
    for (name, q) in requests {
        let p = req_path.key(name);
        resource_name(name, &p, errs);
        quantity_value(name, q, &p, errs);
        cpu_or_memory |= matches!(name.as_str(), "cpu" | "memory");
        huge_pages |= name.starts_with("hugepages-");
        let Some(request) = Quantity::parse(q) else { continue };
        let limit = limits.and_then(|l| l.get(name)).and_then(Quantity::parse);
        match limit {
            Some(limit) if request.nanos != limit.nanos && !overcommit_allowed(name) => errs.invalid(
                &req_path,
                Bad::Str(&request.canonical()),
                &format!("must be equal to {name} limit of {}", limit.canonical()),
            ),
            Some(limit) if request.nanos > limit.nanos => errs.invalid(
                &req_path,
                Bad::Str(&request.canonical()),
                &format!("must be less than or equal to {name} limit of {}", limit.canonical()),
            ),
            None if !overcommit_allowed(name) => {
                errs.required(&lim_path, "Limit must be set for non overcommitable resources")
            }
            _ => {}
        }
    }
    if huge_pages && !cpu_or_memory {
        errs.forbidden(path, "HugePages require cpu or memory");
    }
}

fn is_native(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

fn overcommit_allowed(name: &str) -> bool {
    is_native(name) && !name.starts_with("hugepages-")
}

const STANDARD_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "storage",
    "requests.storage",
    "services.nodeports",
    "services.loadbalancers",
];

/// `validateContainerResourceName`.
fn resource_name(name: &str, path: &Path, errs: &mut Errors) {
    let msgs = format::qualified_name_errors(name);
    if !msgs.is_empty() {
        errs.invalid_each(path, name, msgs);
        return;
    }
    if !name.contains('/') {
        let standard = STANDARD_RESOURCES.contains(&name) || name.starts_with("hugepages-");
        if !standard {
            errs.invalid(path, Bad::Str(name), "must be a standard resource type or fully qualified");
        }
        let container =
            matches!(name, "cpu" | "memory" | "ephemeral-storage") || name.starts_with("hugepages-");
        if !container {
            errs.invalid(path, Bad::Str(name), "must be a standard resource for containers");
        }
    }
}

/// `ValidateResourceQuantityValue`: not negative, and whole for extended resources.
fn quantity_value(name: &str, v: &Value, path: &Path, errs: &mut Errors) {
    let Some(q) = Quantity::parse(v) else { return };
    if q.nanos < 0 {
        errs.invalid(path, Bad::Str(&q.canonical()), NOT_NEGATIVE);
    }
    let extended = !is_native(name) && !name.starts_with("requests.");
    if extended && q.nanos % 1_000_000_000 != 0 {
        errs.invalid(path, Bad::Str(&q.canonical()), "must be an integer");
    }
}

fn probes_and_lifecycle(c: &Value, grace: Option<i64>, path: &Path, errs: &mut Errors) {
    if let Some(lifecycle) = get(c, "lifecycle") {
        for hook in ["postStart", "preStop"] {
            if let Some(h) = get(lifecycle, hook) {
                handler(h, grace, &path.child("lifecycle").child(hook), true, errs);
            }
        }
    }
    for (name, success_must_be_one) in
        [("livenessProbe", true), ("readinessProbe", false), ("startupProbe", true)]
    {
        let Some(probe) = get(c, name) else { continue };
        let p = path.child(name);
        handler(probe, grace, &p, false, errs);
        for field in
            ["initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"]
        {
            if let Some(v) = int_of(probe, field).filter(|v| *v < 0) {
                errs.invalid(&p.child(field), Bad::Int(v), NOT_NEGATIVE);
            }
        }
        if let Some(v) = int_of(probe, "terminationGracePeriodSeconds").filter(|v| *v <= 0) {
            errs.invalid(&p.child("terminationGracePeriodSeconds"), Bad::Int(v), "must be greater than 0");
        }
        if success_must_be_one && let Some(v) = int_of(probe, "successThreshold").filter(|v| *v != 1) {
            errs.invalid(&p.child("successThreshold"), Bad::Int(v), "must be 1");
        }
        if name == "readinessProbe" && get(probe, "terminationGracePeriodSeconds").is_some() {
            let v = int_of(probe, "terminationGracePeriodSeconds").unwrap_or(0);
            errs.invalid(
                &p.child("terminationGracePeriodSeconds"),
                Bad::Int(v),
                "must not be set for readinessProbes",
            );
        }
    }
}

/// A probe or lifecycle handler: exactly one action, each well formed.
fn handler(h: &Value, grace: Option<i64>, path: &Path, lifecycle: bool, errs: &mut Errors) {
    let kinds: &[&str] = if lifecycle {
        &["exec", "httpGet", "tcpSocket", "sleep"]
    } else {
        &["exec", "httpGet", "tcpSocket", "grpc"]
    };
    let mut count = 0;
    for kind in kinds {
        let Some(action) = get(h, kind) else { continue };
        let p = path.child(kind);
        if count > 0 {
            errs.forbidden(&p, "may not specify more than 1 handler type");
            continue;
        }
        count += 1;
        match *kind {
            "exec" if array_of(action, "command").is_empty() => errs.required(&p.child("command"), ""),
            "httpGet" => {
                if str_of(action, "path").is_empty() {
                    errs.required(&p.child("path"), "");
                }
                port_num_or_name(action.get("port"), &p.child("port"), errs);
                let scheme = str_of(action, "scheme");
                if !matches!(scheme, "HTTP" | "HTTPS") {
                    errs.not_supported(&p.child("scheme"), Bad::Str(scheme), &["HTTP", "HTTPS"]);
                }
                for header in array_of(action, "httpHeaders") {
                    let name = str_of(header, "name");
                    errs.invalid_each(&p.child("httpHeaders"), name, format::http_header_name(name));
                }
            }
            "tcpSocket" => port_num_or_name(action.get("port"), &p.child("port"), errs),
            "grpc" => port_number(int_of(action, "port").unwrap_or(0), &p.child("port"), errs),
            "sleep" => {
                let seconds = int_of(action, "seconds").unwrap_or(0);
                if let Some(grace) = grace
                    && (seconds < 0 || seconds > grace)
                {
                    errs.invalid(
                        &p,
                        Bad::Int(seconds),
                        &format!(
                            "must be non-negative and less than terminationGracePeriodSeconds ({grace})"
                        ),
                    );
                }
            }
            _ => {}
        }
    }
    if count == 0 {
        errs.required(path, "must specify a handler type");
    }
}

/// Host ports may not collide across containers (per protocol and host IP).
fn host_port_conflicts(containers: &[Value], path: &Path, errs: &mut Errors) {
    let mut seen = HashSet::new();
    for (ci, c) in containers.iter().enumerate() {
        for (pi, port) in array_of(c, "ports").iter().enumerate() {
            let host_port = int_of(port, "hostPort").unwrap_or(0);
            if host_port == 0 {
                continue;
            }
            let key = format!("{}/{}/{host_port}", str_of(port, "protocol"), str_of(port, "hostIP"));
            if !seen.insert(key.clone()) {
                errs.duplicate(&path.index(ci).child("ports").index(pi).child("hostPort"), Bad::Str(&key));
            }
        }
    }
}

/// With `hostNetwork`, a host port must equal its container port (templates may leave it 0).
fn host_network_ports(spec: &Value, path: &Path, ctx: Context, errs: &mut Errors) {
    if spec.get("hostNetwork").and_then(Value::as_bool) != Some(true) {
        return;
    }
    for (ci, c) in array_of(spec, "containers").iter().enumerate() {
        for (pi, port) in array_of(c, "ports").iter().enumerate() {
            let host = int_of(port, "hostPort").unwrap_or(0);
            let container = int_of(port, "containerPort").unwrap_or(0);
            if (ctx == Context::Pod || host != 0) && host != container {
                errs.invalid(
                    &path.child("containers").index(ci).child("ports").index(pi).child("hostPort"),
                    Bad::Int(host),
                    "must match `containerPort` when `hostNetwork` is true",
                );
            }
        }
    }
}

fn dns_config(spec: &Value, path: &Path, errs: &mut Errors) {
    let config = get(spec, "dnsConfig");
    if str_of(spec, "dnsPolicy") == "None" {
        match config {
            None => {
                errs.required(path, "must provide `dnsConfig` when `dnsPolicy` is None");
                return;
            }
            Some(c) if array_of(c, "nameservers").is_empty() => {
                errs.required(
                    &path.child("nameservers"),
                    "must provide at least one DNS nameserver when `dnsPolicy` is None",
                );
                return;
            }
            _ => {}
        }
    }
    let Some(config) = config else { return };
    let nameservers = array_of(config, "nameservers");
    if nameservers.len() > 3 {
        errs.invalid(
            &path.child("nameservers"),
            Bad::Json(&config["nameservers"]),
            "must not have more than 3 nameservers",
        );
    }
    for (i, opt) in array_of(config, "options").iter().enumerate() {
        if str_of(opt, "name").is_empty() {
            errs.required(&path.child("options").index(i), "must not be empty");
        }
    }
}

/// `ValidateTolerations`.
pub fn tolerations(list: &[Value], path: &Path, errs: &mut Errors) {
    for (i, t) in list.iter().enumerate() {
        let p = path.index(i);
        let key = str_of(t, "key");
        if !key.is_empty() {
            errs.invalid_each(&p.child("key"), key, format::qualified_name_errors(key));
        }
        let operator = str_of(t, "operator");
        if key.is_empty() && operator != "Exists" {
            errs.invalid(
                &p.child("operator"),
                Bad::Str(operator),
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            );
        }
        let effect = str_of(t, "effect");
        if get(t, "tolerationSeconds").is_some() && effect != "NoExecute" {
            errs.invalid(
                &p.child("effect"),
                Bad::Str(effect),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            );
        }
        let value = str_of(t, "value");
        match operator {
            "Equal" | "" => {
                let msgs = format::label_value_errors(value);
                if !msgs.is_empty() {
                    errs.invalid(&p.child("operator"), Bad::Str(value), &msgs.join(";"));
                }
            }
            "Exists" if !value.is_empty() => errs.invalid(
                &p.child("operator"),
                Bad::Str(value),
                "value must be empty when `operator` is 'Exists'",
            ),
            // Numeric comparisons are newer than the rest; their values are not checked here.
            "Exists" | "Gt" | "Lt" => {}
            other => errs.not_supported(&p.child("operator"), Bad::Str(other), &["Equal", "Exists"]),
        }
        if !effect.is_empty() && !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
            errs.not_supported(
                &p.child("effect"),
                Bad::Str(effect),
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod_errors(spec: Value) -> Vec<(String, String)> {
        let mut errs = Errors::default();
        pod(&json!({"spec": spec}), &mut errs);
        errs.0.into_iter().map(|c| (c.field, c.message)).collect()
    }

    fn defaulted_spec(containers: Value) -> Value {
        json!({"containers": containers, "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
               "terminationGracePeriodSeconds": 30})
    }

    fn c(extra: Value) -> Value {
        let mut base = json!({"name": "app", "image": "nginx", "imagePullPolicy": "Always",
                              "terminationMessagePolicy": "File", "resources": {}});
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        base
    }

    #[test]
    fn a_plain_pod_passes() {
        assert!(pod_errors(defaulted_spec(json!([c(json!({}))]))).is_empty());
    }

    #[test]
    fn containers_are_required() {
        assert_eq!(
            pod_errors(defaulted_spec(json!([]))),
            [("spec.containers".into(), "Required value".into())]
        );
    }

    #[test]
    fn image_and_name_rules() {
        let got = pod_errors(defaulted_spec(json!([c(json!({"image": ""})), c(json!({"name": "App"}))])));
        assert_eq!(got[0], ("spec.containers[0].image".into(), "Required value".into()));
        assert_eq!(got[1].0, "spec.containers[1].name");
        assert!(got[1].1.starts_with("Invalid value: \"App\": a lowercase RFC 1123 label"));
        let got = pod_errors(defaulted_spec(json!([c(json!({})), c(json!({}))])));
        assert_eq!(got, [("spec.containers[1].name".into(), "Duplicate value: \"app\"".into())]);
        let got = pod_errors(defaulted_spec(json!([c(json!({"image": " nginx"}))])));
        assert_eq!(
            got,
            [(
                "spec.containers[0].image".into(),
                "Invalid value: \" nginx\": must not have leading or trailing whitespace".into()
            )]
        );
    }

    #[test]
    fn ports_are_checked() {
        let got = pod_errors(defaulted_spec(json!([c(json!({"ports": [
            {"containerPort": 70000, "protocol": "TCP"},
            {"containerPort": 80, "protocol": "HTTP", "name": "web"},
            {"containerPort": 81, "protocol": "TCP", "name": "web"}
        ]}))])));
        assert_eq!(
            got,
            [
                (
                    "spec.containers[0].ports[0].containerPort".into(),
                    "Invalid value: 70000: must be between 1 and 65535, inclusive".into()
                ),
                (
                    "spec.containers[0].ports[1].protocol".into(),
                    "Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"".into()
                ),
                ("spec.containers[0].ports[2].name".into(), "Duplicate value: \"web\"".into()),
            ]
        );
    }

    #[test]
    fn enums_of_the_spec() {
        let mut spec = defaulted_spec(json!([c(json!({}))]));
        spec["restartPolicy"] = json!("Sometimes");
        spec["dnsPolicy"] = json!("Google");
        let got = pod_errors(spec);
        assert_eq!(
            got,
            [
                (
                    "spec.restartPolicy".into(),
                    "Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"".into()
                ),
                (
                    "spec.dnsPolicy".into(),
                    "Unsupported value: \"Google\": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\"".into()
                ),
            ]
        );
    }

    #[test]
    fn requests_may_not_exceed_limits() {
        let got = pod_errors(defaulted_spec(json!([c(json!({"resources": {
            "limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "1", "memory": "-1"}
        }}))])));
        assert_eq!(
            got,
            [
                (
                    "spec.containers[0].resources.requests".into(),
                    "Invalid value: \"1\": must be less than or equal to cpu limit of 500m".into()
                ),
                (
                    "spec.containers[0].resources.requests[memory]".into(),
                    "Invalid value: \"-1\": must be greater than or equal to 0".into()
                ),
            ]
        );
        let got = pod_errors(defaulted_spec(json!([c(json!({"resources": {"requests": {"cpus": "1"}}}))])));
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].1, "Invalid value: \"cpus\": must be a standard resource for containers");
        let got = pod_errors(defaulted_spec(json!([c(json!({"resources": {
            "limits": {"example.com/gpu": "2"}, "requests": {"example.com/gpu": "1"}}}))])));
        assert_eq!(got[0].1, "Invalid value: \"1\": must be equal to example.com/gpu limit of 2");
    }

    #[test]
    fn env_names_and_sources() {
        let got = pod_errors(defaulted_spec(json!([c(json!({"env": [
            {"name": ""}, {"name": "A=B"}, {"name": "X", "valueFrom": {}}, {"name": "Y", "value": "v", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
        ]}))])));
        let fields: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.containers[0].env[0].name",
                "spec.containers[0].env[1].name",
                "spec.containers[0].env[2].valueFrom",
                "spec.containers[0].env[3].valueFrom"
            ]
        );
        assert_eq!(got[3].1, "Invalid value: \"\": may not be specified when `value` is not empty");
    }

    #[test]
    fn volumes_and_mounts() {
        let mut spec = defaulted_spec(json!([c(json!({"volumeMounts": [
            {"name": "data", "mountPath": "/data"}, {"name": "missing", "mountPath": "/data"}
        ]}))]));
        spec["volumes"] = json!([
            {"name": "data", "emptyDir": {}},
            {"name": "data", "emptyDir": {}},
            {"name": "two", "emptyDir": {}, "configMap": {"name": "x"}},
            {"name": "cfg", "secret": {}}
        ]);
        let got = pod_errors(spec);
        assert_eq!(
            got,
            [
                ("spec.volumes[1].name".into(), "Duplicate value: \"data\"".into()),
                (
                    "spec.volumes[2].configMap".into(),
                    "Forbidden: may not specify more than 1 volume type".into()
                ),
                ("spec.volumes[3].secret.secretName".into(), "Required value".into()),
                ("spec.containers[0].volumeMounts[1].name".into(), "Not found: \"missing\"".into()),
                (
                    "spec.containers[0].volumeMounts[1].mountPath".into(),
                    "Invalid value: \"/data\": must be unique".into()
                ),
            ]
        );
    }

    #[test]
    fn probes_need_one_handler() {
        let got = pod_errors(defaulted_spec(json!([c(json!({
            "livenessProbe": {"successThreshold": 2},
            "readinessProbe": {"httpGet": {"path": "/", "port": 0, "scheme": "HTTP"}, "successThreshold": 1}
        }))])));
        assert_eq!(
            got,
            [
                (
                    "spec.containers[0].livenessProbe".into(),
                    "Required value: must specify a handler type".into()
                ),
                (
                    "spec.containers[0].livenessProbe.successThreshold".into(),
                    "Invalid value: 2: must be 1".into()
                ),
                (
                    "spec.containers[0].readinessProbe.httpGet.port".into(),
                    "Invalid value: 0: must be between 1 and 65535, inclusive".into()
                ),
            ]
        );
    }

    #[test]
    fn tolerations_follow_their_rules() {
        let mut spec = defaulted_spec(json!([c(json!({}))]));
        spec["tolerations"] =
            json!([{"operator": "Equal", "value": "x"}, {"key": "k", "operator": "Exists", "value": "v"}]);
        let got = pod_errors(spec);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, "spec.tolerations[0].operator");
        assert_eq!(got[1].1, "Invalid value: \"v\": value must be empty when `operator` is 'Exists'");
    }

    #[test]
    fn templates_name_their_labels_path() {
        let mut errs = Errors::default();
        let t = json!({"metadata": {"labels": {"a": "-"}}, "spec": defaulted_spec(json!([c(json!({}))]))});
        template(&t, &Path::new("spec.template"), &mut errs);
        assert_eq!(errs.0[0].field, "spec.template.labels");
    }
}

/// Upstream's rule for updates of a pod's spec: only container images, a shorter
/// `activeDeadlineSeconds`, added tolerations, removed scheduling gates and a negative grace
/// period raised to 1 may change. Upstream appends a diff of its internal types to the
/// message; that part is left out.
pub fn update(obj: &Value, old: &Value, errs: &mut Errors) {
    let (Some(new_spec), Some(old_spec)) = (obj.get("spec"), old.get("spec")) else { return };
    if mutable_masked(new_spec) != mutable_masked(old_spec) {
        errs.forbidden(
            &Path::new("spec"),
            "pod updates may not change fields other than `spec.containers[*].image`,\
             `spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` \
             (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` \
             (allow it to be set to 1 if it was previously negative)",
        );
    }
}

/// A pod spec with the fields an update may change blanked out.
fn mutable_masked(spec: &Value) -> Value {
    let mut masked = spec.clone();
    if let Some(m) = masked.as_object_mut() {
        for field in
            ["activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds", "schedulingGates"]
        {
            m.remove(field);
        }
        for list in ["containers", "initContainers"] {
            if let Some(items) = m.get_mut(list).and_then(Value::as_array_mut) {
                for c in items.iter_mut().filter_map(Value::as_object_mut) {
                    c.remove("image");
                    // Resources change through the resize subresource, not here.
                }
            }
        }
    }
    masked
}

#[cfg(test)]
mod update_tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_images_and_a_few_fields_may_change() {
        let old = json!({"spec": {"containers": [{"name": "c", "image": "a"}], "restartPolicy": "Always"}});
        let mut errs = Errors::default();
        let new = json!({"spec": {"containers": [{"name": "c", "image": "b"}], "restartPolicy": "Always",
                                  "activeDeadlineSeconds": 5}});
        update(&new, &old, &mut errs);
        assert!(errs.is_empty(), "{errs:?}");
        let new = json!({"spec": {"containers": [{"name": "c", "image": "a"}], "restartPolicy": "Never"}});
        update(&new, &old, &mut errs);
        assert_eq!(errs.0.len(), 1);
        assert_eq!(errs.0[0].field, "spec");
        assert!(errs.0[0].message.starts_with("Forbidden: pod updates may not change fields other than"));
    }
}
