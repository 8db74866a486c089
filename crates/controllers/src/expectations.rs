//! Expectations, as upstream's controllers keep them: after a controller asks for N pods to be
//! created or deleted, it does not act on its owner again until the informer has seen those N
//! changes (or five minutes pass), so a burst of events never over-creates.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::informer::Key;

/// How long expectations hold before a controller acts anyway (upstream's ExpectationsTimeout).
const TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Default)]
pub struct Expectations {
    pending: Mutex<HashMap<Key, Pending>>,
}

struct Pending {
    adds: i64,
    deletes: i64,
    since: Instant,
}

impl Expectations {
    /// Whether the owner's earlier requests have all been observed (or have expired).
    pub fn satisfied(&self, key: &Key) -> bool {
        match self.lock().get(key) {
            Some(p) => (p.adds <= 0 && p.deletes <= 0) || p.since.elapsed() > TIMEOUT,
            None => true,
        }
    }

    pub fn expect(&self, key: &Key, adds: i64, deletes: i64) {
        self.lock().insert(key.clone(), Pending { adds, deletes, since: Instant::now() });
    }

    pub fn creation_observed(&self, key: &Key) {
        if let Some(p) = self.lock().get_mut(key) {
            p.adds -= 1;
        }
    }

    pub fn deletion_observed(&self, key: &Key) {
        if let Some(p) = self.lock().get_mut(key) {
            p.deletes -= 1;
        }
    }

    /// A request that failed will never be observed: stop waiting for it.
    pub fn lower(&self, key: &Key, adds: i64, deletes: i64) {
        if let Some(p) = self.lock().get_mut(key) {
            p.adds -= adds;
            p.deletes -= deletes;
        }
    }

    pub fn forget(&self, key: &Key) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Pending>> {
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn satisfied_once_every_request_is_observed() {
        let e = Expectations::default();
        let k = Key::namespaced("default", "rs");
        assert!(e.satisfied(&k));
        e.expect(&k, 2, 0);
        assert!(!e.satisfied(&k));
        e.creation_observed(&k);
        assert!(!e.satisfied(&k));
        e.lower(&k, 1, 0);
        assert!(e.satisfied(&k));
    }
}
