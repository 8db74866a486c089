//! Events about objects, as upstream's controller-manager records them: core/v1 Events from a
//! named component, with repeats of the same event counted on one object rather than
//! written again (upstream's event correlator).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use k8s_openapi::{
    api::core::v1::{Event, EventSource, ObjectReference},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time},
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{Patch, PatchParams, PostParams},
};
use serde_json::json;

/// Repeats within this window raise the count of one Event.
const AGGREGATE_WINDOW: Duration = Duration::from_secs(600);

pub struct Recorder {
    client: Client,
    component: String,
    seen: Mutex<HashMap<String, Seen>>,
}

struct Seen {
    name: String,
    namespace: String,
    count: i32,
    at: Instant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Normal,
    Warning,
}

impl Recorder {
    pub fn new(client: Client, component: &str) -> Recorder {
        Recorder { client, component: component.to_string(), seen: Mutex::new(HashMap::new()) }
    }

    /// Records an event about `obj`; failures are logged, never returned: an event is not
    /// worth failing a reconcile for.
    pub async fn record<K>(&self, obj: &K, kind: Type, reason: &str, message: &str)
    where
        K: Resource<DynamicType = ()>,
    {
        let reference = reference(obj);
        let namespace = obj.namespace().unwrap_or_else(|| "default".to_string());
        let type_ = if kind == Type::Normal { "Normal" } else { "Warning" };
        let id = format!(
            "{}/{}/{}/{type_}/{reason}/{message}",
            reference.kind.as_deref().unwrap_or(""),
            namespace,
            reference.name.as_deref().unwrap_or("")
        );
        let now = jiff::Timestamp::now();
        let repeat = {
            let mut seen = self.lock();
            seen.retain(|_, s| s.at.elapsed() < AGGREGATE_WINDOW);
            seen.get_mut(&id).map(|s| {
                s.count += 1;
                s.at = Instant::now();
                (s.name.clone(), s.namespace.clone(), s.count)
            })
        };
        if let Some((name, ns, count)) = repeat {
            let api: Api<Event> = Api::namespaced(self.client.clone(), &ns);
            let patch = json!({"count": count, "lastTimestamp": Time(now)});
            if api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.is_ok() {
                return;
            }
        }
        let name = format!("{}.{:x}", reference.name.as_deref().unwrap_or("event"), now.as_nanosecond());
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                ..Default::default()
            },
            involved_object: reference,
            reason: Some(reason.to_string()),
            message: Some(message.to_string()),
            type_: Some(type_.to_string()),
            source: Some(EventSource { component: Some(self.component.clone()), host: None }),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(self.component.clone()),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: None::<MicroTime>,
            count: Some(1),
            ..Default::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        match api.create(&PostParams::default(), &event).await {
            Ok(_) => {
                self.lock().insert(id, Seen { name, namespace, count: 1, at: Instant::now() });
            }
            Err(err) => tracing::debug!(error = %err, reason, "could not record an event"),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Seen>> {
        self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// An ObjectReference to `obj`.
pub fn reference<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    ObjectReference {
        api_version: Some(K::api_version(&()).to_string()),
        kind: Some(K::kind(&()).to_string()),
        name: obj.meta().name.clone(),
        namespace: obj.meta().namespace.clone(),
        uid: obj.meta().uid.clone(),
        resource_version: obj.meta().resource_version.clone(),
        field_path: None,
    }
}
