//! The environment variables that name Services (`getServiceEnvVarMap` and
//! `envvars.FromServices` upstream): for each Service with a cluster IP, `<NAME>_SERVICE_HOST`,
//! `<NAME>_SERVICE_PORT` (its first port), `<NAME>_SERVICE_PORT_<PORTNAME>` for named ports,
//! and the Docker link variables (`<NAME>_PORT`, `<NAME>_PORT_<port>_<PROTO>` with `_PROTO`,
//! `_PORT` and `_ADDR`). The Services are those of the pod's namespace when
//! `enableServiceLinks` is on, and always the `kubernetes` Service of `default`, through
//! which in-cluster clients find the API server.

use std::{collections::BTreeMap, sync::Arc};

use k8s_openapi::api::core::v1::Service;

/// Services of `default` whose variables every pod gets.
const MASTER_SERVICES: &[&str] = &["kubernetes"];

/// The variables for a pod in `namespace`, by name.
pub fn service_env(
    services: &[Arc<Service>],
    namespace: &str,
    enable_links: bool,
) -> BTreeMap<String, String> {
    // By name: a namespace's own Service shadows a master Service of the same name.
    let mut chosen: BTreeMap<&str, &Service> = BTreeMap::new();
    for service in services {
        let Some(name) = service.metadata.name.as_deref() else { continue };
        if cluster_ip(service).is_none() {
            continue;
        }
        let in_ns = service.metadata.namespace.as_deref().unwrap_or("default");
        if in_ns == "default" && MASTER_SERVICES.contains(&name) {
            chosen.entry(name).or_insert(service);
        } else if in_ns == namespace && enable_links {
            chosen.insert(name, service);
        }
    }
    let mut env = BTreeMap::new();
    for (name, service) in chosen {
        vars_of(name, service, &mut env);
    }
    env
}

/// The cluster IP, unless the Service is headless or has none yet.
fn cluster_ip(service: &Service) -> Option<&str> {
    let ip = service.spec.as_ref()?.cluster_ip.as_deref()?;
    (!ip.is_empty() && ip != "None").then_some(ip)
}

fn env_name(name: &str) -> String {
    name.to_uppercase().replace('-', "_")
}

fn vars_of(name: &str, service: &Service, env: &mut BTreeMap<String, String>) {
    let (Some(ip), Some(ports)) = (cluster_ip(service), service.spec.as_ref().and_then(|s| s.ports.as_ref()))
    else {
        return;
    };
    let Some(first) = ports.first() else { return };
    let prefix = env_name(name);
    env.insert(format!("{prefix}_SERVICE_HOST"), ip.to_string());
    env.insert(format!("{prefix}_SERVICE_PORT"), first.port.to_string());
    for port in ports {
        if let Some(port_name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            env.insert(format!("{prefix}_SERVICE_PORT_{}", env_name(port_name)), port.port.to_string());
        }
    }
    // An IPv6 address goes in brackets in a URL, as Go's JoinHostPort writes it.
    let host = if ip.contains(':') { format!("[{ip}]") } else { ip.to_string() };
    for (i, port) in ports.iter().enumerate() {
        let protocol = port.protocol.as_deref().unwrap_or("TCP");
        let (lower, upper) = (protocol.to_lowercase(), protocol.to_uppercase());
        let url = format!("{lower}://{host}:{}", port.port);
        if i == 0 {
            env.insert(format!("{prefix}_PORT"), url.clone());
        }
        let port_prefix = format!("{prefix}_PORT_{}_{upper}", port.port);
        env.insert(format!("{port_prefix}_PROTO"), lower);
        env.insert(format!("{port_prefix}_PORT"), port.port.to_string());
        env.insert(format!("{port_prefix}_ADDR"), ip.to_string());
        env.insert(port_prefix, url);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn service(ns: &str, name: &str, ip: &str, ports: serde_json::Value) -> Arc<Service> {
        Arc::new(
            serde_json::from_value(json!({"metadata": {"name": name, "namespace": ns},
                "spec": {"clusterIP": ip, "ports": ports}}))
            .unwrap(),
        )
    }

    #[test]
    fn services_of_the_namespace_and_the_api_server_become_variables() {
        let services = [
            service("default", "kubernetes", "10.43.0.1", json!([{"name": "https", "port": 443}])),
            service(
                "web",
                "my-db",
                "10.43.0.20",
                json!([
                {"port": 5432}, {"name": "metrics", "port": 9187, "protocol": "UDP"}]),
            ),
            service("web", "headless", "None", json!([{"port": 80}])),
            service("other", "elsewhere", "10.43.0.30", json!([{"port": 80}])),
        ];
        let env = service_env(&services, "web", true);
        let want: BTreeMap<String, String> = [
            ("KUBERNETES_SERVICE_HOST", "10.43.0.1"),
            ("KUBERNETES_SERVICE_PORT", "443"),
            ("KUBERNETES_SERVICE_PORT_HTTPS", "443"),
            ("KUBERNETES_PORT", "tcp://10.43.0.1:443"),
            ("KUBERNETES_PORT_443_TCP", "tcp://10.43.0.1:443"),
            ("KUBERNETES_PORT_443_TCP_PROTO", "tcp"),
            ("KUBERNETES_PORT_443_TCP_PORT", "443"),
            ("KUBERNETES_PORT_443_TCP_ADDR", "10.43.0.1"),
            ("MY_DB_SERVICE_HOST", "10.43.0.20"),
            ("MY_DB_SERVICE_PORT", "5432"),
            ("MY_DB_SERVICE_PORT_METRICS", "9187"),
            ("MY_DB_PORT", "tcp://10.43.0.20:5432"),
            ("MY_DB_PORT_5432_TCP", "tcp://10.43.0.20:5432"),
            ("MY_DB_PORT_5432_TCP_PROTO", "tcp"),
            ("MY_DB_PORT_5432_TCP_PORT", "5432"),
            ("MY_DB_PORT_5432_TCP_ADDR", "10.43.0.20"),
            ("MY_DB_PORT_9187_UDP", "udp://10.43.0.20:9187"),
            ("MY_DB_PORT_9187_UDP_PROTO", "udp"),
            ("MY_DB_PORT_9187_UDP_PORT", "9187"),
            ("MY_DB_PORT_9187_UDP_ADDR", "10.43.0.20"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(env, want);

        // Without service links only the API server's remain.
        let env = service_env(&services, "web", false);
        assert!(env.keys().all(|k| k.starts_with("KUBERNETES_")), "{env:?}");
        assert_eq!(env.len(), 8);
    }
}
