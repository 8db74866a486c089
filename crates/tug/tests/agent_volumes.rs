//! Env sources and volumes on the real node agent: ConfigMaps and Secrets as env and files
//! (updated in place), the downward API, emptyDir, hostPath, projected service account tokens,
//! a pod waiting for its ConfigMap, and `$(VAR)` expansion, driven with the real kubectl and
//! checked with `kubectl logs`. Needs root, containerd, runc and the CNI plugins.

mod common;

use common::node::{RealNode, poll, test_registry};
use tug_oci::testimages;

const CONFIG: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\ndata:\n  mode: fast\n  \
                      greeting: hello\n";

fn config_pod(image: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: cfg
  labels: {{app: cfg, tier: web}}
spec:
  restartPolicy: Always
  containers:
  - name: main
    image: {image}
    command: ["sh", "-c"]
    args:
    - |
      echo "env MODE=$MODE CFG=$CFG_greeting PW=$PASSWORD MSG=$MSG ARG=$(MODE) MEM=$MEM_MI"
      echo "secret $(cat /etc/secret/password) mode $(stat -L -c %a /etc/secret/password)"
      echo "labels $(cat /etc/info/labels | tr '\n' ' ') name $(cat /etc/info/name)"
      while true; do echo "greeting $(cat /etc/cfg/greeting)"; sleep 1; done
    resources:
      limits: {{memory: 64Mi}}
    env:
    - name: MODE
      valueFrom: {{configMapKeyRef: {{name: app-config, key: mode}}}}
    - name: PASSWORD
      valueFrom: {{secretKeyRef: {{name: app-secret, key: password}}}}
    - name: MSG
      value: "$(MODE)-$$(MODE)-$(NOPE)"
    - name: MEM_MI
      valueFrom: {{resourceFieldRef: {{resource: limits.memory, divisor: 1Mi}}}}
    envFrom:
    - configMapRef: {{name: app-config}}
      prefix: CFG_
    volumeMounts:
    - {{name: cfg, mountPath: /etc/cfg}}
    - {{name: secret, mountPath: /etc/secret}}
    - {{name: info, mountPath: /etc/info}}
  volumes:
  - name: cfg
    configMap: {{name: app-config}}
  - name: secret
    secret: {{secretName: app-secret, defaultMode: 0400}}
  - name: info
    downwardAPI:
      items:
      - {{path: labels, fieldRef: {{fieldPath: metadata.labels}}}}
      - {{path: name, fieldRef: {{fieldPath: metadata.name}}}}
"#
    )
}

/// Runs as user 1000 with `fsGroup: 2000`: its volumes belong to group 2000, which the
/// process has among its groups.
fn fs_group_pod(image: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: grouped}}
spec:
  restartPolicy: Never
  securityContext: {{runAsUser: 1000, fsGroup: 2000}}
  containers:
  - name: main
    image: {image}
    command: ["sh", "-c"]
    args:
    - |
      echo "groups $(id -G)"
      echo "data $(stat -c '%g %a' /data)"
      echo "cfg $(stat -L -c '%g %a' /etc/cfg/greeting)"
      echo made > /data/new && echo "new $(stat -c '%g' /data/new)"
    volumeMounts:
    - {{name: data, mountPath: /data}}
    - {{name: cfg, mountPath: /etc/cfg}}
  volumes:
  - {{name: data, emptyDir: {{}}}}
  - name: cfg
    configMap: {{name: app-config}}
"#
    )
}

fn shared_pod(image: &str, host_dir: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: shared
spec:
  restartPolicy: Never
  initContainers:
  - name: init
    image: {image}
    command: ["sh", "-c", "echo from-init > /work/msg"]
    volumeMounts: [{{name: work, mountPath: /work}}]
  containers:
  - name: main
    image: {image}
    command: ["sh", "-c", "echo shared $(cat /work/msg); grep -q ' /cache tmpfs ' /proc/mounts && echo cache tmpfs $(df -k /cache | tail -1 | awk '{{print $2}}'); echo from-pod > /host/out; cat /host/in; echo sub > /sub/f; cat /work/nested/dir/f; touch /ro/x 2>/dev/null || echo ro refused"]
    volumeMounts:
    - {{name: work, mountPath: /work}}
    - {{name: work, mountPath: /sub, subPath: nested/dir}}
    - {{name: host, mountPath: /ro, readOnly: true}}
    - {{name: cache, mountPath: /cache}}
    - {{name: host, mountPath: /host}}
  volumes:
  - name: work
    emptyDir: {{}}
  - name: cache
    emptyDir: {{medium: Memory, sizeLimit: 16Mi}}
  - name: host
    hostPath: {{path: {host_dir}, type: DirectoryOrCreate}}
"#
    )
}

fn late_pod(image: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: late
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: {image}
    command: ["sh", "-c", "echo late $VALUE"]
    env:
    - name: VALUE
      valueFrom: {{configMapKeyRef: {{name: late-config, key: value}}}}
"#
    )
}

fn unmountable_pod(image: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: nomount
spec:
  containers:
  - name: main
    image: {image}
    command: ["sleep", "3600"]
    volumeMounts: [{{name: cfg, mountPath: /etc/cfg}}]
  volumes:
  - name: cfg
    configMap: {{name: absent}}
"#
    )
}

/// A projected volume laid out as upstream's ServiceAccount admission writes `kube-api-access-*`.
fn token_pod(image: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: token
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: {image}
    command: ["sh", "-c", "cd /var/run/secrets/kubernetes.io/serviceaccount; echo token $(head -c 3 token) $(head -1 ca.crt) $(cat namespace) $(cat mode)"]
    volumeMounts: [{{name: kube-api-access-x1, mountPath: /var/run/secrets/kubernetes.io/serviceaccount, readOnly: true}}]
  volumes:
  - name: kube-api-access-x1
    projected:
      defaultMode: 420
      sources:
      - serviceAccountToken: {{path: token, expirationSeconds: 3607}}
      - configMap: {{name: kube-root-ca.crt, items: [{{key: ca.crt, path: ca.crt}}]}}
      - downwardAPI: {{items: [{{path: namespace, fieldRef: {{apiVersion: v1, fieldPath: metadata.namespace}}}}]}}
      - configMap: {{name: app-config, items: [{{key: mode, path: mode}}]}}
"#
    )
}

/// A hostPath PersistentVolume, a claim bound to it, and a pod using the claim.
fn claim_objects(image: &str, path: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: PersistentVolume
metadata:
  name: data-pv
spec:
  capacity: {{storage: 1Gi}}
  accessModes: [ReadWriteOnce]
  hostPath: {{path: {path}, type: DirectoryOrCreate}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
spec:
  accessModes: [ReadWriteOnce]
  resources: {{requests: {{storage: 1Gi}}}}
  volumeName: data-pv
  storageClassName: ""
"#
    ) + &format!(
        r#"---
apiVersion: v1
kind: Pod
metadata:
  name: claim
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: {image}
    command: ["sh", "-c", "echo kept > /data/file; echo claim ok"]
    volumeMounts: [{{name: data, mountPath: /data}}]
  volumes:
  - name: data
    persistentVolumeClaim: {{claimName: data}}
"#
    )
}

fn events_of(node: &RealNode, pod: &str) -> String {
    let query = format!(
        "jsonpath={{range .items[?(@.involvedObject.name==\"{pod}\")]}}{{.type}} {{.reason}}: {{.message}}\n{{end}}"
    );
    node.server.ok(&["get", "events", "-o", &query])
}

fn logs_contain(node: &RealNode, pod: &str, needle: &str) -> Option<String> {
    let out = node.server.kubectl(&["logs", pod]);
    let logs = String::from_utf8_lossy(&out.stdout).into_owned();
    logs.contains(needle).then_some(logs)
}

#[test]
fn config_maps_secrets_and_volumes_reach_containers() {
    let Some(registry) = test_registry() else { return };
    let busybox = registry.image(testimages::BUSYBOX);
    let node = RealNode::start(&registry);
    let server = &node.server;

    // A ConfigMap and a Secret as env and files; the downward API as files.
    server.kubectl_stdin(&["apply", "-f", "-"], CONFIG);
    server.ok(&["create", "secret", "generic", "app-secret", "--from-literal=password=s3cr3t"]);
    server.kubectl_stdin(&["apply", "-f", "-"], &config_pod(&busybox));
    node.wait_for_status("cfg", "Running");
    let logs = poll("pod cfg logs its env and files", || logs_contain(&node, "cfg", "greeting hello"));
    assert!(
        logs.contains("env MODE=fast CFG=hello PW=s3cr3t MSG=fast-$(MODE)-$(NOPE) ARG=fast MEM=64\n"),
        "{logs}"
    );
    assert!(logs.contains("secret s3cr3t mode 400\n"), "{logs}");
    assert!(logs.contains("labels app=\"cfg\" tier=\"web\" name cfg\n"), "{logs}");

    // An applied change reaches the mounted file of the running container.
    server.kubectl_stdin(&["apply", "-f", "-"], &CONFIG.replace("greeting: hello", "greeting: bonjour"));
    poll("the running container sees the updated ConfigMap", || {
        logs_contain(&node, "cfg", "greeting bonjour")
    });
    let restarts =
        server.ok(&["get", "pod", "cfg", "-o", "jsonpath={.status.containerStatuses[0].restartCount}"]);
    assert_eq!(restarts, "0");

    // The pod's volumes live under the agent's data dir until the pod is deleted.
    let uid = server.ok(&["get", "pod", "cfg", "-o", "jsonpath={.metadata.uid}"]);
    let pod_dir = node.data_dir().join("agent/pods").join(uid.trim());
    let secret_dir = pod_dir.join("volumes/kubernetes.io~secret/secret");
    assert!(secret_dir.join("..data").exists(), "{}", secret_dir.display());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(mounts.contains(&format!(" {} ", secret_dir.display())), "secret volumes are tmpfs");
    server.ok(&["delete", "pod", "cfg", "--timeout=90s"]);
    poll("the pod's volumes are removed", || (!pod_dir.exists()).then_some(()));
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&pod_dir.display().to_string()), "tmpfs unmounted");

    // fsGroup: the volumes belong to the pod's group, and so does what it writes there.
    server.kubectl_stdin(&["apply", "-f", "-"], &fs_group_pod(&busybox));
    node.wait_for_status("grouped", "Completed");
    let logs = server.ok(&["logs", "grouped"]);
    let groups = logs.lines().next().unwrap_or_default();
    assert!(groups.split(' ').any(|g| g == "2000"), "{logs}");
    assert!(logs.contains("\ndata 2000 2777\ncfg 2000 644\nnew 2000\n"), "{logs}");

    // emptyDir shared by an init container and the main one (also through a subPath), a tmpfs
    // emptyDir, a hostPath (also read-only).
    let host = tempfile::tempdir().unwrap();
    let host_dir = host.path().join("shared");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("in"), "from-host\n").unwrap();
    server.kubectl_stdin(&["apply", "-f", "-"], &shared_pod(&busybox, host_dir.to_str().unwrap()));
    node.wait_for_status("shared", "Completed");
    assert_eq!(
        server.ok(&["logs", "shared"]),
        "shared from-init\ncache tmpfs 16384\nfrom-host\nsub\nro refused\n"
    );
    assert_eq!(std::fs::read_to_string(host_dir.join("out")).unwrap(), "from-pod\n");
    let uid = server.ok(&["get", "pod", "shared", "-o", "jsonpath={.metadata.uid}"]);
    let shared_dir = node.data_dir().join("agent/pods").join(uid.trim());
    poll("a finished pod's volumes are torn down", || (!shared_dir.exists()).then_some(()));
    assert!(host_dir.join("in").exists(), "hostPath contents stay");

    // A missing ConfigMap: the container waits with upstream's reason, then starts.
    server.kubectl_stdin(&["apply", "-f", "-"], &late_pod(&busybox));
    node.wait_for_status("late", "CreateContainerConfigError");
    let message = server.ok(&[
        "get",
        "pod",
        "late",
        "-o",
        "jsonpath={.status.containerStatuses[0].state.waiting.message}",
    ]);
    assert_eq!(message, "configmap \"late-config\" not found");
    poll("a Failed event says why", || {
        events_of(&node, "late")
            .contains("Warning Failed: Error: configmap \"late-config\" not found")
            .then_some(())
    });
    server.ok(&["create", "configmap", "late-config", "--from-literal=value=arrived"]);
    node.wait_for_status("late", "Completed");
    assert_eq!(server.ok(&["logs", "late"]), "late arrived\n");

    // A volume that cannot be set up keeps the pod ContainerCreating with FailedMount.
    server.kubectl_stdin(&["apply", "-f", "-"], &unmountable_pod(&busybox));
    poll("a FailedMount event", || {
        events_of(&node, "nomount")
            .contains("Warning FailedMount: MountVolume.SetUp failed for volume \"cfg\" : configmap \"absent\" not found")
            .then_some(())
    });
    assert_eq!(node.status_and_restarts("nomount").map(|(s, _)| s).as_deref(), Some("ContainerCreating"));

    // A projected volume as kube-api-access: a service account token (TokenRequest), the
    // cluster's CA from kube-root-ca.crt and the namespace.
    poll("the default service account exists", || {
        server.kubectl(&["get", "serviceaccount", "default"]).status.success().then_some(())
    });
    server.kubectl_stdin(&["apply", "-f", "-"], &token_pod(&busybox));
    node.wait_for_status("token", "Completed");
    assert_eq!(server.ok(&["logs", "token"]), "token eyJ -----BEGIN CERTIFICATE----- default fast\n");

    // A claim bound to a hostPath PersistentVolume (bound by hand: no binder controller yet).
    let pv_dir = host.path().join("pv");
    let objects = claim_objects(&busybox, pv_dir.to_str().unwrap());
    let (pv_and_claim, pod) = objects.split_at(objects.rfind("---").unwrap());
    server.kubectl_stdin(&["apply", "-f", "-"], pv_and_claim);
    let bound = r#"{"status":{"phase":"Bound"}}"#;
    server.ok(&["patch", "pvc", "data", "--subresource=status", "--type=merge", "-p", bound]);
    server.kubectl_stdin(&["apply", "-f", "-"], pod);
    node.wait_for_status("claim", "Completed");
    assert_eq!(server.ok(&["logs", "claim"]), "claim ok\n");
    assert_eq!(std::fs::read_to_string(pv_dir.join("file")).unwrap(), "kept\n");

    drop(node);
    drop(registry);
}
