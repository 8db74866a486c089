//! Lifecycle hooks as upstream's handler runner: `postStart` and `preStop` handlers of kind
//! exec (CRI `ExecSync`, no timeout of its own), httpGet (only a transport error fails it; the
//! status code does not count) and sleep. The failure messages are upstream's; the events the
//! caller records carry only `PostStartHook failed` / `PreStopHook failed`, as upstream's, so
//! that hook output never leaks into events.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, LifecycleHandler};

use super::{config::PodRef, probes::action};
use crate::runtime::Runtime;

/// Runs `handler` for run `container_id` of `container` in pod `pod` (at `pod_ip`).
///
/// # Errors
/// Upstream's message naming the hook, the container and the pod.
pub async fn run(
    runtime: &dyn Runtime,
    handler: &LifecycleHandler,
    pod: &PodRef,
    container: &Container,
    container_id: &str,
    pod_ip: &str,
) -> Result<(), String> {
    let (c, p) = (&container.name, pod.display());
    if let Some(exec) = &handler.exec {
        let command = exec.command.clone().unwrap_or_default();
        let go_list = format!("[{}]", command.join(" "));
        let (err, output) = match runtime.exec_sync(container_id, &command, Duration::ZERO).await {
            Ok(answer) if answer.exit_code == 0 => return Ok(()),
            Ok(answer) => {
                let stderr = String::from_utf8_lossy(&answer.stderr).into_owned();
                let mut output = answer.stdout;
                output.extend_from_slice(&answer.stderr);
                let err =
                    format!("command '{}' exited with {}: {stderr}", command.join(" "), answer.exit_code);
                (err, String::from_utf8_lossy(&output).into_owned())
            }
            Err(e) => (e.to_string(), String::new()),
        };
        return Err(format!(
            "Exec lifecycle hook ({go_list}) for Container {c:?} in Pod {p:?} failed - error: {err}, message: {output:?}"
        ));
    }
    if let Some(get) = &handler.http_get {
        let path = get.path.clone().unwrap_or_default();
        let fail = |err: String| {
            format!("HTTP lifecycle hook ({path}) for Container {c:?} in Pod {p:?} failed - error: {err}")
        };
        let request = action::http_get(get, container, pod_ip).map_err(fail)?;
        return request.send("lifecycle", Duration::ZERO).await.map(drop).map_err(fail);
    }
    if let Some(sleep) = &handler.sleep {
        tokio::time::sleep(Duration::from_secs(sleep.seconds.max(0) as u64)).await;
        return Ok(());
    }
    // tcpSocket is kept in the API for compatibility only; upstream runs nothing for it.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{
        FakeRuntime,
        proto::{ContainerConfig, ExecSyncResponse, ImageSpec},
    };

    fn handler(json: serde_json::Value) -> LifecycleHandler {
        serde_json::from_value(json).unwrap()
    }

    #[tokio::test]
    async fn hooks_fail_with_upstreams_messages() {
        let fake = FakeRuntime::new();
        let sandbox = fake.run_pod_sandbox(&Default::default(), "").await.unwrap();
        fake.add_image("img");
        let config = ContainerConfig {
            image: Some(ImageSpec { image: "img".into(), ..Default::default() }),
            ..Default::default()
        };
        let id = fake.create_container(&sandbox, &config, &Default::default()).await.unwrap();
        fake.start_container(&id).await.unwrap();
        fake.script_exec(|_, cmd| {
            let code = if cmd[2] == "exit 0" { 0 } else { 3 };
            Ok(ExecSyncResponse { stdout: b"o".to_vec(), stderr: b"e".to_vec(), exit_code: code })
        });
        let pod = PodRef { name: "p".into(), namespace: "ns".into(), uid: "u".into() };
        let c: Container = serde_json::from_value(serde_json::json!({"name": "main"})).unwrap();
        let ok = handler(serde_json::json!({"exec": {"command": ["sh", "-c", "exit 0"]}}));
        assert_eq!(run(&fake, &ok, &pod, &c, &id, "").await, Ok(()));
        let bad = handler(serde_json::json!({"exec": {"command": ["sh", "-c", "exit 3"]}}));
        assert_eq!(
            run(&fake, &bad, &pod, &c, &id, "").await.unwrap_err(),
            "Exec lifecycle hook ([sh -c exit 3]) for Container \"main\" in Pod \"p_ns(u)\" failed - error: \
             command 'sh -c exit 3' exited with 3: e, message: \"oe\""
        );

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let get = handler(serde_json::json!({"httpGet": {"port": port, "path": "/stop"}}));
        let err = run(&fake, &get, &pod, &c, &id, "127.0.0.1").await.unwrap_err();
        assert!(
            err.starts_with(
                "HTTP lifecycle hook (/stop) for Container \"main\" in Pod \"p_ns(u)\" failed - error: Get"
            ),
            "{err}"
        );
        let sleep = handler(serde_json::json!({"sleep": {"seconds": 0}}));
        assert_eq!(run(&fake, &sleep, &pod, &c, &id, "").await, Ok(()));
    }
}
