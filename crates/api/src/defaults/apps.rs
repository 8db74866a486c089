//! `apps/v1`: Deployment, ReplicaSet, StatefulSet and DaemonSet.

use serde_json::json;

use super::{Object, child, child_or_insert, default_str, default_value, items, str_of, zero_status};

fn template(spec: &mut Object) {
    if let Some(t) = child_or_insert(spec, "template") {
        super::pod::template(t);
    }
}

/// `SetDefaults_Deployment`: one replica, a 25%/25% rolling update, ten old ReplicaSets kept and
/// a 600-second progress deadline.
pub(super) fn deployment(o: &mut Object) {
    if let Some(spec) = child_or_insert(o, "spec") {
        default_value(spec, "replicas", json!(1));
        if let Some(strategy) = child_or_insert(spec, "strategy") {
            default_str(strategy, "type", "RollingUpdate");
            if str_of(strategy, "type") == Some("RollingUpdate")
                && let Some(rolling) = child_or_insert(strategy, "rollingUpdate")
            {
                default_value(rolling, "maxUnavailable", json!("25%"));
                default_value(rolling, "maxSurge", json!("25%"));
            }
        }
        default_value(spec, "revisionHistoryLimit", json!(10));
        default_value(spec, "progressDeadlineSeconds", json!(600));
        template(spec);
    }
    child_or_insert(o, "status");
}

pub(super) fn replica_set(o: &mut Object) {
    if let Some(spec) = child_or_insert(o, "spec") {
        default_value(spec, "replicas", json!(1));
        template(spec);
    }
    zero_status(o, &["replicas"]);
}

/// `SetDefaults_StatefulSet`. A strategy whose type the client set to `RollingUpdate` without a
/// `rollingUpdate` stays without one, as upstream leaves it.
pub(super) fn stateful_set(o: &mut Object) {
    if let Some(spec) = child_or_insert(o, "spec") {
        default_str(spec, "podManagementPolicy", "OrderedReady");
        if let Some(strategy) = child_or_insert(spec, "updateStrategy") {
            if super::is_empty_str(strategy.get("type")) {
                strategy.insert("type".into(), json!("RollingUpdate"));
                default_value(strategy, "rollingUpdate", json!({}));
            }
            if str_of(strategy, "type") == Some("RollingUpdate")
                && let Some(rolling) = child(strategy, "rollingUpdate")
            {
                default_value(rolling, "partition", json!(0));
            }
        }
        if let Some(policy) = child_or_insert(spec, "persistentVolumeClaimRetentionPolicy") {
            default_str(policy, "whenDeleted", "Retain");
            default_str(policy, "whenScaled", "Retain");
        }
        default_value(spec, "replicas", json!(1));
        default_value(spec, "revisionHistoryLimit", json!(10));
        template(spec);
        for claim in items(spec, "volumeClaimTemplates") {
            // Served as full PersistentVolumeClaims, defaults included.
            default_value(claim, "apiVersion", json!("v1"));
            default_value(claim, "kind", json!("PersistentVolumeClaim"));
            child_or_insert(claim, "metadata");
            super::core::persistent_volume_claim(claim);
        }
    }
    zero_status(o, &["replicas", "availableReplicas"]);
}

/// `SetDefaults_DaemonSet`: a rolling update of one unavailable and no surge pods, ten old
/// revisions kept.
pub(super) fn daemon_set(o: &mut Object) {
    if let Some(spec) = child_or_insert(o, "spec") {
        if let Some(strategy) = child_or_insert(spec, "updateStrategy") {
            default_str(strategy, "type", "RollingUpdate");
            if str_of(strategy, "type") == Some("RollingUpdate")
                && let Some(rolling) = child_or_insert(strategy, "rollingUpdate")
            {
                default_value(rolling, "maxUnavailable", json!(1));
                default_value(rolling, "maxSurge", json!(0));
            }
        }
        default_value(spec, "revisionHistoryLimit", json!(10));
        template(spec);
    }
    zero_status(
        o,
        &["currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady"],
    );
}

#[cfg(test)]
mod tests {
    use super::super::testing::defaulted;
    use serde_json::{Value, json};

    /// What `kubectl create deployment web --image=nginx` sends.
    fn kubectl_create_deployment() -> Value {
        json!({
            "kind": "Deployment", "apiVersion": "apps/v1",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": {}}]}},
                "strategy": {}
            },
            "status": {}
        })
    }

    fn defaulted_template(containers: Value) -> Value {
        json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": containers,
                "dnsPolicy": "ClusterFirst",
                "restartPolicy": "Always",
                "schedulerName": "default-scheduler",
                "securityContext": {},
                "terminationGracePeriodSeconds": 30
            }
        })
    }

    fn nginx() -> Value {
        json!([{
            "name": "nginx", "image": "nginx", "imagePullPolicy": "Always", "resources": {},
            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"
        }])
    }

    #[test]
    fn kubectl_create_deployment_reads_back_as_upstream_serves_it() {
        let got = defaulted("apps", "v1", "Deployment", kubectl_create_deployment());
        let want = json!({
            "kind": "Deployment", "apiVersion": "apps/v1",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "progressDeadlineSeconds": 600,
                "replicas": 1,
                "revisionHistoryLimit": 10,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}, "type": "RollingUpdate"},
                "template": defaulted_template(nginx())
            },
            "status": {}
        });
        assert_eq!(got, want);
    }

    #[test]
    fn deployment_keeps_what_the_user_set() {
        let mut d = kubectl_create_deployment();
        d["spec"]["replicas"] = json!(0);
        d["spec"]["revisionHistoryLimit"] = json!(0);
        d["spec"]["progressDeadlineSeconds"] = json!(60);
        d["spec"]["strategy"] = json!({"type": "Recreate"});
        d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!("IfNotPresent");
        let got = defaulted("apps", "v1", "Deployment", d);
        assert_eq!(got["spec"]["replicas"], 0);
        assert_eq!(got["spec"]["revisionHistoryLimit"], 0);
        assert_eq!(got["spec"]["progressDeadlineSeconds"], 60);
        assert_eq!(got["spec"]["strategy"], json!({"type": "Recreate"}));
        assert_eq!(got["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent");

        let mut partial = kubectl_create_deployment();
        partial["spec"]["strategy"] = json!({"rollingUpdate": {"maxSurge": 1}});
        let got = defaulted("apps", "v1", "Deployment", partial);
        assert_eq!(
            got["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}})
        );
    }

    #[test]
    fn replica_set_gets_one_replica_and_a_defaulted_template() {
        let rs = defaulted(
            "apps",
            "v1",
            "ReplicaSet",
            json!({
                "metadata": {"name": "web-abc"},
                "spec": {"selector": {"matchLabels": {"app": "web"}},
                         "template": {"metadata": {"labels": {"app": "web"}},
                                      "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}
            }),
        );
        assert_eq!(
            rs,
            json!({
                "metadata": {"name": "web-abc"},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": defaulted_template(nginx())},
                "status": {"replicas": 0}
            })
        );
    }

    #[test]
    fn stateful_set_with_volume_claim_templates() {
        let sts = defaulted(
            "apps",
            "v1",
            "StatefulSet",
            json!({
                "apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"name": "db"},
                "spec": {
                    "serviceName": "db",
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}},
                    "volumeClaimTemplates": [{
                        "metadata": {"name": "data"},
                        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
                    }]
                }
            }),
        );
        assert_eq!(
            sts,
            json!({
                "apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"name": "db"},
                "spec": {
                    "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
                    "podManagementPolicy": "OrderedReady",
                    "replicas": 1,
                    "revisionHistoryLimit": 10,
                    "selector": {"matchLabels": {"app": "web"}},
                    "serviceName": "db",
                    "template": defaulted_template(nginx()),
                    "updateStrategy": {"rollingUpdate": {"partition": 0}, "type": "RollingUpdate"},
                    "volumeClaimTemplates": [{
                        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                        "metadata": {"name": "data"},
                        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                                 "volumeMode": "Filesystem"},
                        "status": {"phase": "Pending"}
                    }]
                },
                "status": {"replicas": 0, "availableReplicas": 0}
            })
        );
    }

    #[test]
    fn stateful_set_strategies_follow_upstream_quirks() {
        let explicit = defaulted(
            "apps",
            "v1",
            "StatefulSet",
            json!({"spec": {"updateStrategy": {"type": "RollingUpdate"}, "template": {"spec": {"containers": []}}}}),
        );
        assert_eq!(explicit["spec"]["updateStrategy"], json!({"type": "RollingUpdate"}));
        let on_delete = defaulted(
            "apps",
            "v1",
            "StatefulSet",
            json!({"spec": {"updateStrategy": {"type": "OnDelete"}, "podManagementPolicy": "Parallel",
                            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete"}}}),
        );
        assert_eq!(on_delete["spec"]["updateStrategy"], json!({"type": "OnDelete"}));
        assert_eq!(on_delete["spec"]["podManagementPolicy"], "Parallel");
        assert_eq!(
            on_delete["spec"]["persistentVolumeClaimRetentionPolicy"],
            json!({"whenDeleted": "Delete", "whenScaled": "Retain"})
        );
        let partitioned = defaulted(
            "apps",
            "v1",
            "StatefulSet",
            json!({"spec": {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}}}}),
        );
        assert_eq!(
            partitioned["spec"]["updateStrategy"]["rollingUpdate"],
            json!({"maxUnavailable": 2, "partition": 0})
        );
    }

    #[test]
    fn daemon_set_rolls_one_at_a_time() {
        let ds = defaulted(
            "apps",
            "v1",
            "DaemonSet",
            json!({
                "spec": {"selector": {"matchLabels": {"app": "web"}},
                         "template": {"metadata": {"labels": {"app": "web"}},
                                      "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}
            }),
        );
        assert_eq!(
            ds,
            json!({
                "spec": {
                    "revisionHistoryLimit": 10,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": defaulted_template(nginx()),
                    "updateStrategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}, "type": "RollingUpdate"}
                },
                "status": {"currentNumberScheduled": 0, "desiredNumberScheduled": 0, "numberMisscheduled": 0, "numberReady": 0}
            })
        );
        let on_delete =
            defaulted("apps", "v1", "DaemonSet", json!({"spec": {"updateStrategy": {"type": "OnDelete"}}}));
        assert_eq!(on_delete["spec"]["updateStrategy"], json!({"type": "OnDelete"}));
    }
}
