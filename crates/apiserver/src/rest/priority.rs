//! The `Priority` admission plugin upstream enables by default: a new Pod takes the priority of
//! the PriorityClass it names, or of the class marked `globalDefault` when it names none, so
//! the scheduler can preempt by it. A Pod naming a class that does not exist is refused.

use serde_json::Value;
use tug_api::{
    defaults,
    meta::meta_str,
    status::{ApiError, Reason},
};

use super::to_object;
use crate::{AppState, error::Error};

const PREFIX: &str = "/registry/scheduling.k8s.io/priorityclasses/";

/// Resolves the Pod's PriorityClass and writes `priority` (and `preemptionPolicy`). A Pod with
/// no class and no global default is left to the defaults (priority 0).
pub(super) async fn admit(state: &AppState, pod: &mut Value) -> Result<(), Error> {
    let named = pod.pointer("/spec/priorityClassName").and_then(Value::as_str).unwrap_or("").to_string();
    let class = if named.is_empty() {
        global_default(state).await?
    } else {
        // From the watch cache when it holds the class; a class it has not seen yet (just
        // created) is looked up in the store.
        let key = format!("{PREFIX}{named}");
        let kv = match state.cache.get(&key) {
            Some(entry) => Some(entry.to_kv()),
            None => state.store.get(&key).await?.0,
        };
        match kv {
            Some(kv) => Some(to_object(&kv)?),
            None => return Err(forbidden(pod, &format!("no PriorityClass with name {named} was found"))),
        }
    };
    let Some(class) = class else { return Ok(()) };
    let name = meta_str(&class, "name").unwrap_or_default().to_string();
    let value = class.get("value").and_then(Value::as_i64).unwrap_or(0);
    let policy = class.get("preemptionPolicy").and_then(Value::as_str);
    defaults::set_pod_priority(pod, &name, value, policy).map_err(|msg| forbidden(pod, &msg))
}

/// The class marked `globalDefault`; of several (a race upstream allows), the lowest value.
/// Read from the watch cache, as upstream's plugin reads an informer: this runs for every Pod
/// created without a class, and a store list per Pod was a measurable part of the scheduler
/// benchmark. Before the cache's first load it reads the store.
async fn global_default(state: &AppState) -> Result<Option<Value>, Error> {
    let classes: Vec<Value> = if state.cache.revision() > 0 {
        let listed = state.cache.list(PREFIX, None, 0, |_| true);
        listed.entries.iter().filter_map(|e| e.object(listed.revision)).collect()
    } else {
        let page = state.store.list(PREFIX, None, 0).await?;
        page.kvs.iter().map(to_object).collect::<Result<_, _>>()?
    };
    let value = |c: &Value| c.get("value").and_then(Value::as_i64).unwrap_or(0);
    Ok(classes
        .into_iter()
        .filter(|c| c.get("globalDefault").and_then(Value::as_bool) == Some(true))
        .min_by_key(value))
}

fn forbidden(pod: &Value, message: &str) -> Error {
    let name = meta_str(pod, "name").unwrap_or_default();
    ApiError::new(Reason::Forbidden, format!("pods \"{name}\" is forbidden: {message}")).into()
}
