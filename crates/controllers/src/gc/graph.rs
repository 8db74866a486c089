//! The dependency graph, as upstream's graph builder keeps it: one node per object uid with
//! its owner references and its dependents. Owners that have not been observed are *virtual*
//! nodes until a live read says whether they exist. Changes return the work they cause.

use std::collections::{BTreeSet, HashMap};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

pub const ORPHAN: &str = "orphan";
pub const FOREGROUND: &str = "foregroundDeletion";

/// Which object a node stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub api_version: String,
    pub kind: String,
    /// The object's namespace; for a virtual owner, its dependent's (used only when the
    /// owner's resource turns out to be namespaced).
    pub namespace: Option<String>,
    pub name: String,
    pub uid: String,
}

/// An object as an informer reported it.
#[derive(Clone, Debug)]
pub struct Observed {
    pub identity: Identity,
    pub owners: Vec<OwnerReference>,
    pub deleting: bool,
    pub finalizers: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Node {
    pub identity: Identity,
    pub owners: Vec<OwnerReference>,
    pub dependents: BTreeSet<String>,
    /// Known only from a dependent's reference.
    pub virtual_: bool,
    /// Has a deletionTimestamp.
    pub being_deleted: bool,
    /// Being deleted in the foreground: waits for its blocking dependents.
    pub deleting_dependents: bool,
    /// Being deleted with the orphan finalizer: its dependents lose their references to it.
    pub orphaning: bool,
}

/// Work a change causes, as upstream's two queues.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Work {
    /// See whether the object should go (its owners gone or waiting), or whether a
    /// foreground deletion can finish, or whether a virtual node exists.
    AttemptToDelete(String),
    /// Remove references to the object from its dependents, then its `orphan` finalizer.
    AttemptToOrphan(String),
}

#[derive(Debug, Default)]
pub struct Graph {
    nodes: HashMap<String, Node>,
}

impl Graph {
    pub fn get(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Identities of `uid`'s dependents.
    pub fn dependents(&self, uid: &str) -> Vec<Identity> {
        self.nodes
            .get(uid)
            .map(|n| {
                n.dependents.iter().filter_map(|d| self.nodes.get(d)).map(|d| d.identity.clone()).collect()
            })
            .unwrap_or_default()
    }

    /// Dependents whose reference to `uid` has `blockOwnerDeletion: true`: a foreground
    /// deletion of `uid` waits for them.
    pub fn blocking_dependents(&self, uid: &str) -> Vec<&Node> {
        let Some(node) = self.nodes.get(uid) else { return Vec::new() };
        node.dependents
            .iter()
            .filter_map(|d| self.nodes.get(d))
            .filter(|d| d.owners.iter().any(|r| r.uid == uid && r.block_owner_deletion == Some(true)))
            .collect()
    }

    /// Adds or updates an observed object.
    pub fn observe(&mut self, obj: Observed) -> Vec<Work> {
        let uid = obj.identity.uid.clone();
        let mut work = Vec::new();
        let old_owners = match self.nodes.get_mut(&uid) {
            Some(node) => {
                node.virtual_ = false;
                node.identity = obj.identity.clone();
                std::mem::replace(&mut node.owners, obj.owners.clone())
            }
            None => {
                self.nodes.insert(
                    uid.clone(),
                    Node {
                        identity: obj.identity.clone(),
                        owners: obj.owners.clone(),
                        dependents: BTreeSet::new(),
                        virtual_: false,
                        being_deleted: false,
                        deleting_dependents: false,
                        orphaning: false,
                    },
                );
                Vec::new()
            }
        };
        // Owners no longer referenced, or no longer blocked by this object: a foreground
        // deletion waiting for it may finish.
        for old in &old_owners {
            let now = obj.owners.iter().find(|r| r.uid == old.uid);
            let unblocked = old.block_owner_deletion == Some(true)
                && now.is_none_or(|r| r.block_owner_deletion != Some(true));
            if now.is_none()
                && let Some(owner) = self.nodes.get_mut(&old.uid)
            {
                owner.dependents.remove(&uid);
            }
            if unblocked && self.nodes.get(&old.uid).is_some_and(|o| o.deleting_dependents) {
                work.push(Work::AttemptToDelete(old.uid.clone()));
            }
        }
        for owner in obj.owners.iter().filter(|r| !old_owners.iter().any(|o| o.uid == r.uid)) {
            match self.nodes.get_mut(&owner.uid) {
                Some(node) => {
                    node.dependents.insert(uid.clone());
                }
                None => {
                    // Not seen (yet): a virtual node, checked against the API server.
                    let mut dependents = BTreeSet::new();
                    dependents.insert(uid.clone());
                    self.nodes.insert(
                        owner.uid.clone(),
                        Node {
                            identity: Identity {
                                api_version: owner.api_version.clone(),
                                kind: owner.kind.clone(),
                                namespace: obj.identity.namespace.clone(),
                                name: owner.name.clone(),
                                uid: owner.uid.clone(),
                            },
                            owners: Vec::new(),
                            dependents,
                            virtual_: true,
                            being_deleted: false,
                            deleting_dependents: false,
                            orphaning: false,
                        },
                    );
                    work.push(Work::AttemptToDelete(owner.uid.clone()));
                }
            }
        }
        work.extend(self.transitions(&obj));
        work
    }

    /// The deletion states an update may enter.
    fn transitions(&mut self, obj: &Observed) -> Vec<Work> {
        let uid = &obj.identity.uid;
        let has = |f: &str| obj.finalizers.iter().any(|x| x == f);
        let orphaning = obj.deleting && has(ORPHAN);
        let deleting_dependents = obj.deleting && has(FOREGROUND);
        let Some(node) = self.nodes.get_mut(uid) else { return Vec::new() };
        let mut work = Vec::new();
        node.being_deleted = obj.deleting;
        if orphaning && !node.orphaning {
            work.push(Work::AttemptToOrphan(uid.clone()));
        }
        node.orphaning = orphaning;
        if deleting_dependents && !node.deleting_dependents {
            work.extend(node.dependents.iter().map(|d| Work::AttemptToDelete(d.clone())));
            work.push(Work::AttemptToDelete(uid.clone()));
        }
        node.deleting_dependents = deleting_dependents;
        work
    }

    /// Removes an object that is gone (observed deleted, or a virtual node found absent): its
    /// dependents may now be orphans, and owners waiting for it may finish.
    pub fn remove(&mut self, uid: &str) -> Vec<Work> {
        let Some(node) = self.nodes.remove(uid) else { return Vec::new() };
        let mut work = Vec::new();
        for owner in &node.owners {
            if let Some(o) = self.nodes.get_mut(&owner.uid) {
                o.dependents.remove(uid);
                if o.deleting_dependents {
                    work.push(Work::AttemptToDelete(owner.uid.clone()));
                }
                // A virtual owner nobody references any more is forgotten.
                if o.virtual_ && o.dependents.is_empty() {
                    self.nodes.remove(&owner.uid);
                }
            }
        }
        work.extend(node.dependents.iter().map(|d| Work::AttemptToDelete(d.clone())));
        work
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(kind: &str, name: &str, uid: &str) -> Identity {
        Identity {
            api_version: "v1".into(),
            kind: kind.into(),
            namespace: Some("default".into()),
            name: name.into(),
            uid: uid.into(),
        }
    }

    fn owner_ref(uid: &str, block: bool) -> OwnerReference {
        OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: format!("rs-{uid}"),
            uid: uid.into(),
            controller: Some(true),
            block_owner_deletion: Some(block),
        }
    }

    fn observed(name: &str, uid: &str, owners: Vec<OwnerReference>) -> Observed {
        Observed { identity: identity("Pod", name, uid), owners, deleting: false, finalizers: vec![] }
    }

    #[test]
    fn an_unseen_owner_becomes_a_virtual_node_to_check() {
        let mut g = Graph::default();
        let work = g.observe(observed("p", "p1", vec![owner_ref("rs1", true)]));
        assert_eq!(work, vec![Work::AttemptToDelete("rs1".into())]);
        let owner = g.get("rs1").unwrap();
        assert!(owner.virtual_);
        assert_eq!(owner.identity.kind, "ReplicaSet");
        assert_eq!(owner.identity.namespace.as_deref(), Some("default"));
        assert!(owner.dependents.contains("p1"));
        // Observing the owner makes it real, keeping its dependents.
        g.observe(Observed {
            identity: identity("ReplicaSet", "rs-rs1", "rs1"),
            owners: vec![],
            deleting: false,
            finalizers: vec![],
        });
        assert!(!g.get("rs1").unwrap().virtual_);
        assert_eq!(g.dependents("rs1").len(), 1);
    }

    #[test]
    fn removing_an_owner_queues_its_dependents() {
        let mut g = Graph::default();
        g.observe(Observed {
            identity: identity("ReplicaSet", "rs", "rs1"),
            owners: vec![],
            deleting: false,
            finalizers: vec![],
        });
        g.observe(observed("a", "p1", vec![owner_ref("rs1", true)]));
        g.observe(observed("b", "p2", vec![owner_ref("rs1", false)]));
        let mut work = g.remove("rs1");
        work.sort_by_key(|w| format!("{w:?}"));
        assert_eq!(work, vec![Work::AttemptToDelete("p1".into()), Work::AttemptToDelete("p2".into())]);
    }

    #[test]
    fn foreground_deletion_queues_dependents_and_waits_for_blocking_ones() {
        let mut g = Graph::default();
        let rs = |deleting| Observed {
            identity: identity("ReplicaSet", "rs", "rs1"),
            owners: vec![],
            deleting,
            finalizers: if deleting { vec![FOREGROUND.into()] } else { vec![] },
        };
        g.observe(rs(false));
        g.observe(observed("a", "p1", vec![owner_ref("rs1", true)]));
        g.observe(observed("b", "p2", vec![owner_ref("rs1", false)]));
        let work = g.observe(rs(true));
        assert!(work.contains(&Work::AttemptToDelete("p1".into())));
        assert!(work.contains(&Work::AttemptToDelete("p2".into())));
        assert!(work.contains(&Work::AttemptToDelete("rs1".into())));
        // Only the blocking dependent holds the owner; its removal re-queues the owner.
        let blocking: Vec<_> = g.blocking_dependents("rs1").iter().map(|n| n.identity.uid.clone()).collect();
        assert_eq!(blocking, ["p1"]);
        assert_eq!(g.remove("p1"), vec![Work::AttemptToDelete("rs1".into())]);
        assert!(g.blocking_dependents("rs1").is_empty());
    }

    #[test]
    fn a_dependent_dropping_its_blocking_reference_unblocks_a_waiting_owner() {
        let mut g = Graph::default();
        g.observe(Observed {
            identity: identity("ReplicaSet", "rs", "rs1"),
            owners: vec![],
            deleting: true,
            finalizers: vec![FOREGROUND.into()],
        });
        g.observe(observed("a", "p1", vec![owner_ref("rs1", true)]));
        let work = g.observe(observed("a", "p1", vec![]));
        assert_eq!(work, vec![Work::AttemptToDelete("rs1".into())]);
        assert!(g.dependents("rs1").is_empty());
    }

    #[test]
    fn the_orphan_finalizer_on_a_deleted_owner_queues_orphaning_once() {
        let mut g = Graph::default();
        let rs = Observed {
            identity: identity("ReplicaSet", "rs", "rs1"),
            owners: vec![],
            deleting: true,
            finalizers: vec![ORPHAN.into()],
        };
        assert_eq!(g.observe(rs.clone()), vec![Work::AttemptToOrphan("rs1".into())]);
        assert!(g.observe(rs).is_empty());
    }

    #[test]
    fn a_virtual_owner_goes_with_its_last_dependent() {
        let mut g = Graph::default();
        g.observe(observed("a", "p1", vec![owner_ref("gone", true)]));
        g.remove("p1");
        assert!(g.get("gone").is_none());
        assert!(g.is_empty());
    }
}
