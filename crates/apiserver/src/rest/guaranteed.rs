//! Read-modify-write against the datastore, first from the watch cache: upstream's
//! `GuaranteedUpdate` with its cached object. The cache may lag the datastore, so a write
//! built on a cached read carries the cached revision as its precondition; if the cache was
//! behind, the commit fails and the retry reads the datastore. A refusal decided on a cached
//! read is likewise checked against the datastore before the client sees it.

use serde_json::Value;
use tug_store::KeyValue;

use super::{Target, to_object, write::MAX_RETRIES};
use crate::{AppState, error::Error};

/// Where an attempt reads the object it changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Source {
    Cache,
    Datastore,
}

/// Runs `attempt` until it commits (`Ok(Some)`): first on a cached read (unless `dry`: a dry
/// run commits nothing that would expose a stale read, so it reads the datastore), then on
/// datastore reads after each lost race (`Ok(None)`); `exhausted` is the error once the
/// retries run out.
pub(super) async fn guaranteed_update<T, F>(
    dry: bool,
    mut attempt: impl FnMut(Source) -> F,
    exhausted: impl FnOnce() -> Error,
) -> Result<T, Error>
where
    F: Future<Output = Result<Option<T>, Error>>,
{
    for n in 0..MAX_RETRIES {
        let source = if n == 0 && !dry { Source::Cache } else { Source::Datastore };
        match attempt(source).await {
            Ok(Some(done)) => return Ok(done),
            Ok(None) => {}
            // Perhaps decided on a stale copy: ask the datastore before answering.
            Err(_) if source == Source::Cache => {}
            Err(err) => return Err(err),
        }
    }
    Err(exhausted())
}

/// The object `target` names, as stored and as presented in the request's version. A key the
/// cache does not hold is read from the datastore (the cache may not have seen it yet).
pub(super) async fn read_current_from(
    state: &AppState,
    target: &Target,
    source: Source,
) -> Result<(KeyValue, Value), Error> {
    if source == Source::Cache {
        let name = target.name.as_deref().unwrap_or_default();
        if let Some(entry) = state.cache.get(&target.key(name)) {
            let kv = entry.to_kv();
            let obj = target.present_version(to_object(&kv)?);
            return Ok((kv, obj));
        }
    }
    super::write::read_current(state, target).await
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use tug_api::status::ApiError;

    use super::*;

    fn refused() -> Error {
        ApiError::bad_request("refused").into()
    }

    #[tokio::test]
    async fn a_refusal_on_a_cached_read_is_asked_again_of_the_datastore() {
        let seen = RefCell::new(Vec::new());
        let done = guaranteed_update(
            false,
            |source| {
                seen.borrow_mut().push(source);
                async move { if source == Source::Cache { Err(refused()) } else { Ok(Some(7)) } }
            },
            refused,
        )
        .await;
        assert_eq!(done.ok(), Some(7));
        assert_eq!(*seen.borrow(), [Source::Cache, Source::Datastore]);
    }

    #[tokio::test]
    async fn a_refusal_on_a_datastore_read_stands() {
        let calls = RefCell::new(0);
        let done: Result<(), Error> = guaranteed_update(
            false,
            |_| {
                *calls.borrow_mut() += 1;
                async { Err(refused()) }
            },
            || unreachable!(),
        )
        .await;
        assert!(done.is_err());
        assert_eq!(*calls.borrow(), 2);
    }

    #[tokio::test]
    async fn a_dry_run_reads_the_datastore() {
        let seen = RefCell::new(Vec::new());
        let done = guaranteed_update(
            true,
            |source| {
                seen.borrow_mut().push(source);
                async { Ok(Some(())) }
            },
            refused,
        )
        .await;
        assert!(done.is_ok());
        assert_eq!(*seen.borrow(), [Source::Datastore]);
    }

    #[tokio::test]
    async fn lost_races_retry_from_the_datastore_until_the_limit() {
        let seen = RefCell::new(Vec::new());
        let done: Result<(), Error> = guaranteed_update(
            false,
            |source| {
                seen.borrow_mut().push(source);
                async { Ok(None) }
            },
            refused,
        )
        .await;
        assert!(done.is_err());
        let seen = seen.into_inner();
        assert_eq!(seen.len(), MAX_RETRIES);
        assert!(seen[1..].iter().all(|s| *s == Source::Datastore));
    }
}
