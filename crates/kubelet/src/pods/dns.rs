//! A pod's resolver (`dnsPolicy`, `dnsConfig`), as upstream's kubelet `GetPodDNS`. Pure
//! functions.

use k8s_openapi::api::core::v1::Pod;

use crate::runtime::proto::DnsConfig;

/// Upstream's `ndots` for cluster DNS: names with fewer dots go through the search path first.
const CLUSTER_OPTIONS: &[&str] = &["ndots:5"];

/// The node's resolver settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeDns {
    /// `--cluster-dns`: the cluster's DNS service; empty while the cluster has none.
    pub cluster_dns: Vec<String>,
    /// `--cluster-domain` (`cluster.local`).
    pub cluster_domain: String,
    /// The host's resolver (`/etc/resolv.conf`).
    pub host: DnsConfig,
}

/// The host's resolver, for `dnsPolicy: Default` (and `ClusterFirst` without cluster DNS).
/// Loopback servers are left out: inside the pod's network namespace they are the pod itself.
pub fn host_dns(resolv_conf: &str) -> DnsConfig {
    let mut dns = DnsConfig::default();
    for line in resolv_conf.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(server) = words.next().filter(|s| !s.starts_with("127.") && *s != "::1") {
                    dns.servers.push(server.to_string());
                }
            }
            Some("search") => dns.searches = words.map(str::to_string).collect(),
            Some("options") => dns.options.extend(words.map(str::to_string)),
            _ => {}
        }
    }
    dns
}

/// What the policy resolves to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Cluster,
    Host,
    None,
}

/// The warning upstream's kubelet records (`MissingClusterDNS`) when a pod asks for cluster
/// DNS the node does not have; the pod then uses the host's resolver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingClusterDns {
    pub message: String,
}

/// The pod's resolver: `ClusterFirst` (not on the host network) and `ClusterFirstWithHostNet`
/// use the cluster DNS with the search path `<ns>.svc.<domain> svc.<domain> <domain>` then the
/// host's, and `ndots:5`; `Default` (and `ClusterFirst` on the host network) uses the host's;
/// `None` starts empty. `dnsConfig` is appended (options merge by name).
pub fn pod_dns(pod: &Pod, node: &NodeDns) -> (DnsConfig, Option<MissingClusterDns>) {
    let spec = pod.spec.as_ref();
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    let policy = spec.and_then(|s| s.dns_policy.as_deref()).unwrap_or("ClusterFirst");
    let mut kind = match policy {
        "ClusterFirstWithHostNet" => Kind::Cluster,
        "ClusterFirst" if !host_network => Kind::Cluster,
        "None" => Kind::None,
        _ => Kind::Host,
    };
    let mut warning = None;
    if kind == Kind::Cluster && node.cluster_dns.is_empty() {
        let r = super::config::PodRef::of(pod);
        warning = Some(MissingClusterDns {
            message: format!(
                "pod: {:?}. kubelet does not have ClusterDNS IP configured and cannot create Pod using \
                 \"ClusterFirst\" policy. Falling back to \"Default\" policy.",
                r.display()
            ),
        });
        kind = Kind::Host;
    }
    let mut dns = match kind {
        Kind::None => DnsConfig::default(),
        Kind::Host => node.host.clone(),
        Kind::Cluster => {
            let mut searches = Vec::new();
            if !node.cluster_domain.is_empty() {
                let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
                let domain = &node.cluster_domain;
                searches = vec![format!("{namespace}.svc.{domain}"), format!("svc.{domain}"), domain.clone()];
            }
            searches.extend(node.host.searches.iter().cloned());
            DnsConfig {
                servers: node.cluster_dns.clone(),
                searches: dedup(searches),
                options: CLUSTER_OPTIONS.iter().map(|o| (*o).to_string()).collect(),
            }
        }
    };
    if let Some(extra) = spec.and_then(|s| s.dns_config.as_ref()) {
        dns.servers.extend(extra.nameservers.iter().flatten().cloned());
        dns.servers = dedup(std::mem::take(&mut dns.servers));
        dns.searches.extend(extra.searches.iter().flatten().cloned());
        dns.searches = dedup(std::mem::take(&mut dns.searches));
        for option in extra.options.iter().flatten() {
            let Some(name) = option.name.as_deref() else { continue };
            let text = match &option.value {
                Some(value) => format!("{name}:{value}"),
                None => name.to_string(),
            };
            let same = |o: &String| o.split(':').next() == Some(name);
            match dns.options.iter_mut().find(|o| same(o)) {
                Some(existing) => *existing = text,
                None => dns.options.push(text),
            }
        }
    }
    (dns, warning)
}

fn dedup(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(spec: serde_json::Value) -> Pod {
        let mut spec = spec;
        spec["containers"] = serde_json::json!([{"name": "c", "image": "busybox"}]);
        serde_json::from_value(
            serde_json::json!({"metadata": {"name": "p", "namespace": "ns", "uid": "u"}, "spec": spec}),
        )
        .unwrap()
    }

    fn node(cluster_dns: &[&str]) -> NodeDns {
        NodeDns {
            cluster_dns: cluster_dns.iter().map(|s| (*s).to_string()).collect(),
            cluster_domain: "cluster.local".into(),
            host: host_dns("nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch example.com\noptions edns0\n"),
        }
    }

    #[test]
    fn the_host_resolver_leaves_out_loopback() {
        let host = node(&[]).host;
        assert_eq!(
            (host.servers, host.searches, host.options),
            (vec!["10.0.0.2".into()], vec!["example.com".into()], vec!["edns0".into()])
        );
    }

    #[test]
    fn cluster_first_uses_the_cluster_dns_and_search_path() {
        let (dns, warning) = pod_dns(&pod(serde_json::json!({})), &node(&["10.43.0.10"]));
        assert!(warning.is_none());
        assert_eq!(dns.servers, vec!["10.43.0.10"]);
        assert_eq!(
            dns.searches,
            vec!["ns.svc.cluster.local", "svc.cluster.local", "cluster.local", "example.com"]
        );
        assert_eq!(dns.options, vec!["ndots:5"]);
        let host_net = pod(serde_json::json!({"hostNetwork": true}));
        assert_eq!(pod_dns(&host_net, &node(&["10.43.0.10"])).0.servers, vec!["10.0.0.2"]);
        let with_host_net =
            pod(serde_json::json!({"hostNetwork": true, "dnsPolicy": "ClusterFirstWithHostNet"}));
        assert_eq!(pod_dns(&with_host_net, &node(&["10.43.0.10"])).0.servers, vec!["10.43.0.10"]);
    }

    #[test]
    fn without_cluster_dns_cluster_first_falls_back_to_the_host() {
        let (dns, warning) = pod_dns(&pod(serde_json::json!({})), &node(&[]));
        assert_eq!(dns, node(&[]).host);
        assert!(warning.unwrap().message.contains("Falling back to \"Default\" policy."));
    }

    #[test]
    fn none_takes_dns_config_and_options_merge() {
        let none = pod(serde_json::json!({"dnsPolicy": "None", "dnsConfig": {
            "nameservers": ["1.1.1.1"], "searches": ["a.example"], "options": [{"name": "ndots", "value": "2"}, {"name": "rotate"}],
        }}));
        let (dns, _) = pod_dns(&none, &node(&["10.43.0.10"]));
        assert_eq!((dns.servers, dns.searches), (vec!["1.1.1.1".into()], vec!["a.example".into()]));
        assert_eq!(dns.options, vec!["ndots:2", "rotate"]);
        let merged = pod(
            serde_json::json!({"dnsConfig": {"nameservers": ["10.43.0.10"], "options": [{"name": "ndots", "value": "1"}]}}),
        );
        let (dns, _) = pod_dns(&merged, &node(&["10.43.0.10"]));
        assert_eq!((dns.servers, dns.options), (vec!["10.43.0.10".into()], vec!["ndots:1".into()]));
    }
}
