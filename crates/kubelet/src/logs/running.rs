//! Which containers run now, as the container runtime reports them: the real agent's answer to
//! [`Liveness`], so that `kubectl logs -f` ends when the container does. The log server asks
//! synchronously, so a task refreshes a snapshot from CRI's ListContainers every second.
//!
//! The snapshot may be up to a second old, so a container it has not seen yet counts as
//! running (it has a log file, so it was just started); one it saw running and no longer
//! lists, or lists as exited, has stopped.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use crate::{
    logs::files::{ContainerRef, Liveness},
    pods::config::{CONTAINER_NAME_LABEL, POD_NAME_LABEL, POD_NAMESPACE_LABEL},
    runtime::{
        Runtime,
        proto::{Container, ContainerState},
    },
};

const REFRESH: Duration = Duration::from_secs(1);

/// Each container seen so far, and whether it ran at the last refresh.
#[derive(Default)]
pub struct RunningContainers(RwLock<HashMap<ContainerRef, bool>>);

impl RunningContainers {
    /// Starts refreshing from `runtime` until `stopped` turns true.
    pub fn follow(runtime: Arc<dyn Runtime>, mut stopped: tokio::sync::watch::Receiver<bool>) -> Arc<Self> {
        let me = Arc::new(RunningContainers::default());
        let snapshot = me.clone();
        tokio::spawn(async move {
            loop {
                match runtime.list_containers(None).await {
                    Ok(list) => snapshot.replace(running(&list)),
                    Err(err) => tracing::debug!(error = %err, "listing containers for the log server"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(REFRESH) => {}
                    _ = stopped.wait_for(|s| *s) => return,
                }
            }
        });
        me
    }

    /// Takes a new listing: what it does not show any more has stopped.
    fn replace(&self, now: HashMap<ContainerRef, bool>) {
        let mut seen = self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        for running in seen.values_mut() {
            *running = false;
        }
        seen.extend(now);
        // Forget stopped containers of pods long gone, so the map stays the size of the node.
        if seen.len() > 4 * MAX_REMEMBERED {
            seen.retain(|_, running| *running);
        }
    }
}

/// How many containers the snapshot remembers before it forgets the stopped ones.
const MAX_REMEMBERED: usize = 1024;

impl Liveness for RunningContainers {
    fn running(&self, container: &ContainerRef) -> bool {
        let seen = self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.get(container).copied().unwrap_or(true)
    }
}

/// Each container of a pod, by the labels the pod workers give them, and whether its newest
/// run is running (an older, exited run of a restarted container does not count).
fn running(list: &[Container]) -> HashMap<ContainerRef, bool> {
    let mut newest: HashMap<ContainerRef, (i64, bool)> = HashMap::new();
    for c in list {
        let label = |key: &str| c.labels.get(key).cloned();
        let (Some(namespace), Some(pod), Some(container)) =
            (label(POD_NAMESPACE_LABEL), label(POD_NAME_LABEL), label(CONTAINER_NAME_LABEL))
        else {
            continue;
        };
        let key = ContainerRef { namespace, pod, container };
        let run = (c.created_at, c.state() == ContainerState::ContainerRunning);
        match newest.get(&key) {
            Some((at, _)) if *at > run.0 => {}
            _ => {
                newest.insert(key, run);
            }
        }
    }
    newest.into_iter().map(|(k, (_, running))| (k, running)).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn container(pod: &str, name: &str, state: ContainerState) -> Container {
        let labels: HashMap<String, String> =
            [(POD_NAMESPACE_LABEL, "default"), (POD_NAME_LABEL, pod), (CONTAINER_NAME_LABEL, name)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        Container { id: format!("{pod}-{name}"), labels, state: state as i32, ..Default::default() }
    }

    #[test]
    fn running_follows_the_newest_run_and_what_disappears_has_stopped() {
        let mut unlabelled = container("x", "y", ContainerState::ContainerExited);
        unlabelled.labels.clear();
        let mut old_run = container("web", "app", ContainerState::ContainerExited);
        old_run.created_at = 1;
        let mut new_run = container("web", "app", ContainerState::ContainerRunning);
        new_run.created_at = 2;
        let list = [old_run, new_run, container("web", "init", ContainerState::ContainerExited), unlabelled];
        let snapshot = RunningContainers::default();
        snapshot.replace(running(&list));
        let r = |pod: &str, c: &str| ContainerRef {
            namespace: "default".into(),
            pod: pod.into(),
            container: c.into(),
        };
        assert!(snapshot.running(&r("web", "app")));
        assert!(!snapshot.running(&r("web", "init")));
        // Not seen yet: just started, as far as the snapshot knows.
        assert!(snapshot.running(&r("x", "y")));
        // Gone from the runtime: stopped.
        snapshot.replace(HashMap::new());
        assert!(!snapshot.running(&r("web", "app")));
    }
}
