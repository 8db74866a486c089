//! New pods for a Job: from its template, with the tracking finalizer and, for Indexed Jobs,
//! the completion index (annotation, label, hostname, `JOB_COMPLETION_INDEX`) and, with
//! `backoffLimitPerIndex`, the index's failure counts.

use std::{collections::BTreeMap, sync::Arc};

use futures::future::join_all;
use k8s_openapi::api::{
    batch::v1::Job,
    core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod},
};
use kube::{Api, ResourceExt, api::PostParams};

use super::{Controller, assess::TRACKING_FINALIZER, indexes, per_index};
use crate::{events::Type, informer::Key, owner::controller_ref, pods};

/// Upstream's cap on pods created in one sync.
const BURST: usize = 500;

/// The pod for `index` (`None` for NonIndexed Jobs); `replaced` is the index's failed pod it
/// takes over from.
pub fn pod_for(job: &Job, index: Option<i32>, replaced: Option<&Pod>) -> Pod {
    let name = job.name_any();
    let ns = job.namespace().unwrap_or_default();
    let template = job.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
    let prefix = index.map_or(name.clone(), |i| format!("{name}-{i}"));
    let mut pod = pods::from_template(&template, &prefix, &ns, controller_ref(job));
    pod.metadata.finalizers.get_or_insert_with(Vec::new).push(TRACKING_FINALIZER.to_string());
    if let Some(i) = index {
        let value = i.to_string();
        pod.metadata.annotations.get_or_insert_default().insert(indexes::ANNOTATION.into(), value.clone());
        pod.metadata.labels.get_or_insert_default().insert(indexes::ANNOTATION.into(), value);
        if per_index::limit(job).is_some() {
            let (failures, ignored) = per_index::new_counts(job, replaced);
            let annotations = pod.metadata.annotations.get_or_insert_default();
            annotations.insert(indexes::FAILURE_COUNT.into(), failures.to_string());
            if ignored > 0 {
                annotations.insert(indexes::IGNORED_FAILURE_COUNT.into(), ignored.to_string());
            }
        }
        if let Some(spec) = pod.spec.as_mut() {
            if spec.hostname.is_none() {
                spec.hostname = Some(format!("{name}-{i}"));
            }
            let env = EnvVar {
                name: "JOB_COMPLETION_INDEX".into(),
                value: None,
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        api_version: None,
                        field_path: format!("metadata.annotations['{}']", indexes::ANNOTATION),
                    }),
                    ..Default::default()
                }),
            };
            let containers = spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten());
            for c in containers {
                let vars = c.env.get_or_insert_with(Vec::new);
                if !vars.iter().any(|v| v.name == env.name) {
                    vars.push(env.clone());
                }
            }
        }
    }
    pod
}

impl Controller {
    /// Creates one pod per entry, in upstream's slow-start batches (1, 2, 4, ...) that stop at
    /// the first failure. `replaced` holds the failed pod each index takes over from.
    pub(super) async fn create_pods(
        &self,
        job: &Job,
        key: &Key,
        indexes: &[Option<i32>],
        replaced: &BTreeMap<i32, Arc<Pod>>,
    ) -> anyhow::Result<()> {
        let indexes = &indexes[..indexes.len().min(BURST)];
        let ns = key.namespace.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        self.expectations.expect(key, indexes.len() as i64, 0);
        let (mut done, mut batch) = (0, 1);
        while done < indexes.len() {
            let chunk = &indexes[done..(done + batch).min(indexes.len())];
            let params = PostParams::default();
            let results = join_all(chunk.iter().map(|i| {
                let pod = pod_for(job, *i, i.and_then(|i| replaced.get(&i)).map(|p| p.as_ref()));
                let api = api.clone();
                let params = params.clone();
                async move { api.create(&params, &pod).await }
            }))
            .await;
            let mut failed = 0;
            for result in results {
                match result {
                    Ok(created) => {
                        let msg = format!("Created pod: {}", created.name_any());
                        self.recorder.record(job, Type::Normal, "SuccessfulCreate", &msg).await;
                    }
                    Err(err) => {
                        failed += 1;
                        let msg = format!("Error creating: {}", api_message(&err));
                        self.recorder.record(job, Type::Warning, "FailedCreate", &msg).await;
                    }
                }
            }
            done += chunk.len();
            if failed > 0 {
                self.expectations.lower(key, (failed + indexes.len() - done) as i64, 0);
                anyhow::bail!("{failed} of {} pod creations failed", chunk.len());
            }
            batch *= 2;
        }
        Ok(())
    }
}

/// The message of an API error, as upstream's events quote it.
pub fn api_message(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(e) => e.message.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn indexed_pods_carry_their_index() {
        let job: Job = serde_json::from_value(json!({
            "metadata": {"name": "work", "namespace": "ns", "uid": "u"},
            "spec": {"completionMode": "Indexed", "completions": 3,
                     "template": {"metadata": {"labels": {"job-name": "work"}},
                                  "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}
        }))
        .unwrap();
        let pod = pod_for(&job, Some(2), None);
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("work-2-"));
        assert_eq!(pod.metadata.annotations.as_ref().unwrap()[indexes::ANNOTATION], "2");
        assert_eq!(pod.metadata.labels.as_ref().unwrap()[indexes::ANNOTATION], "2");
        assert_eq!(pod.metadata.finalizers.as_deref(), Some(&[TRACKING_FINALIZER.to_string()][..]));
        let spec = pod.spec.unwrap();
        assert_eq!(spec.hostname.as_deref(), Some("work-2"));
        assert_eq!(spec.containers[0].env.as_ref().unwrap()[0].name, "JOB_COMPLETION_INDEX");
        assert!(!pod.metadata.annotations.as_ref().unwrap().contains_key(indexes::FAILURE_COUNT));
        let plain = pod_for(&job, None, None);
        assert_eq!(plain.metadata.generate_name.as_deref(), Some("work-"));
    }

    #[test]
    fn per_index_pods_carry_the_failure_counts_of_their_index() {
        let job: Job = serde_json::from_value(json!({
            "metadata": {"name": "work", "namespace": "ns", "uid": "u"},
            "spec": {"completionMode": "Indexed", "completions": 3, "backoffLimitPerIndex": 2,
                     "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}
        }))
        .unwrap();
        let first = pod_for(&job, Some(1), None);
        assert_eq!(first.metadata.annotations.as_ref().unwrap()[indexes::FAILURE_COUNT], "0");
        let mut failed = first.clone();
        failed.status = Some(serde_json::from_value(json!({"phase": "Failed"})).unwrap());
        let second = pod_for(&job, Some(1), Some(&failed));
        let annotations = second.metadata.annotations.unwrap();
        assert_eq!(annotations[indexes::FAILURE_COUNT], "1");
        assert!(!annotations.contains_key(indexes::IGNORED_FAILURE_COUNT));
    }
}
