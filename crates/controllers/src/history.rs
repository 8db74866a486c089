//! ControllerRevisions, as upstream's `pkg/controller/history` keeps them for StatefulSets and
//! DaemonSets: immutable snapshots of a pod template named `<owner>-<hash>`, numbered in the
//! order they were (last) made current, so `kubectl rollout history/undo` can list and restore
//! them.

use std::{collections::BTreeMap, sync::Arc};

use k8s_openapi::{
    api::{apps::v1::ControllerRevision, core::v1::PodTemplateSpec},
    apimachinery::pkg::{
        apis::meta::v1::{ObjectMeta, OwnerReference},
        runtime::RawExtension,
    },
};
use kube::{Api, api::PostParams};
use serde_json::{Value, json};

/// The label a revision carries its hash under (upstream's `ControllerRevisionHashLabel`).
pub const HASH_LABEL: &str = "controller.kubernetes.io/hash";

/// Characters upstream's `rand.SafeEncodeString` maps to: no vowels, no confusable digits, so a
/// hash never spells a word.
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// 32-bit FNV-1 (Go's `fnv.New32`, which upstream's revision hash uses).
pub fn fnv1_32(chunks: &[&[u8]]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for chunk in chunks {
        for byte in *chunk {
            hash = hash.wrapping_mul(0x0100_0193);
            hash ^= u32::from(*byte);
        }
    }
    hash
}

/// 32-bit FNV-1a (Go's `fnv.New32a`, which upstream's template hash uses).
pub fn fnv1a_32(chunks: &[&[u8]]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for chunk in chunks {
        for byte in *chunk {
            hash ^= u32::from(*byte);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    }
    hash
}

/// Upstream's `rand.SafeEncodeString`: each character of `s` mapped into the safe alphabet.
pub fn safe_encode(s: &str) -> String {
    s.bytes().map(|b| SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()] as char).collect()
}

/// The hash of a revision's data, with the collision count mixed in when there is one.
pub fn hash_revision(data: &[u8], collision_count: Option<i32>) -> String {
    let probe = collision_count.map(|c| c.to_string());
    let hash = match &probe {
        Some(p) => fnv1_32(&[data, p.as_bytes()]),
        None => fnv1_32(&[data]),
    };
    safe_encode(&hash.to_string())
}

/// The hash of a pod template (upstream's `controller.ComputeHash`, as DaemonSets label their
/// pods with it).
pub fn hash_template(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let bytes = serde_json::to_vec(template).unwrap_or_default();
    let probe = collision_count.map(|c| c.to_string());
    let hash = match &probe {
        Some(p) => fnv1a_32(&[&bytes, p.as_bytes()]),
        None => fnv1a_32(&[&bytes]),
    };
    safe_encode(&hash.to_string())
}

/// `<prefix>-<hash>`, the prefix cut so the name stays within 253 characters.
pub fn revision_name(prefix: &str, hash: &str) -> String {
    let cut = prefix.char_indices().nth(223).map_or(prefix.len(), |(i, _)| i);
    format!("{}-{hash}", &prefix[..cut])
}

/// The patch a revision stores: one that puts `template` back in place whole
/// (`{"spec": {"template": {..., "$patch": "replace"}}}`), as upstream's `getPatch` builds it
/// and `kubectl rollout undo` applies it.
pub fn template_patch(template: &PodTemplateSpec) -> Value {
    let mut template = serde_json::to_value(template).unwrap_or_else(|_| json!({}));
    if let Some(map) = template.as_object_mut() {
        map.insert("$patch".into(), json!("replace"));
    }
    json!({"spec": {"template": template}})
}

/// The template a revision stores, without the patch directive.
pub fn template_of(revision: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut template = revision.data.as_ref()?.0.get("spec")?.get("template")?.clone();
    if let Some(map) = template.as_object_mut() {
        map.remove("$patch");
    }
    serde_json::from_value(template).ok()
}

/// A new revision of `owner` holding `data`, named by its hash.
pub fn new_revision(
    owner: OwnerReference,
    namespace: &str,
    template_labels: Option<&BTreeMap<String, String>>,
    data: Value,
    number: i64,
    collision_count: Option<i32>,
) -> ControllerRevision {
    let bytes = serde_json::to_vec(&data).unwrap_or_default();
    let hash = hash_revision(&bytes, collision_count);
    let mut labels = template_labels.cloned().unwrap_or_default();
    labels.insert(HASH_LABEL.into(), hash.clone());
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(revision_name(&owner.name, &hash)),
            namespace: Some(namespace.to_string()),
            labels: Some(labels),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        data: Some(RawExtension(data)),
        revision: number,
    }
}

/// Whether two revisions hold the same data (upstream's `EqualRevision`).
pub fn equal(a: &ControllerRevision, b: &ControllerRevision) -> bool {
    a.data.as_ref().map(|d| &d.0) == b.data.as_ref().map(|d| &d.0)
}

/// The number the next revision gets: one past the highest.
pub fn next_number(revisions: &[Arc<ControllerRevision>]) -> i64 {
    revisions.iter().map(|r| r.revision).max().unwrap_or(0) + 1
}

/// Sorts revisions oldest first (by number, then name for a stable order).
pub fn sort(revisions: &mut [Arc<ControllerRevision>]) {
    revisions.sort_by(|a, b| a.revision.cmp(&b.revision).then_with(|| a.metadata.name.cmp(&b.metadata.name)));
}

/// Which revisions to delete to keep at most `limit` of those not in use (`live`), oldest
/// first, as upstream's `truncateHistory`. `revisions` must be sorted.
pub fn to_truncate<'a>(
    revisions: &'a [Arc<ControllerRevision>],
    live: &[&str],
    limit: i32,
) -> Vec<&'a Arc<ControllerRevision>> {
    let history: Vec<_> =
        revisions.iter().filter(|r| !live.contains(&r.metadata.name.as_deref().unwrap_or(""))).collect();
    let excess = history.len().saturating_sub(limit.max(0) as usize);
    history.into_iter().take(excess).collect()
}

/// What `create` settled on.
pub struct Created {
    pub revision: ControllerRevision,
    /// The collision count after any hash collisions were stepped over.
    pub collision_count: i32,
}

/// Creates `revision` (built by `make` for a collision count), stepping the collision count
/// past names taken by revisions with other data, as upstream's `CreateControllerRevision`. An
/// existing revision with the same data is returned as is.
///
/// # Errors
/// Any API error other than a name already taken.
pub async fn create(
    api: &Api<ControllerRevision>,
    mut collision_count: i32,
    make: impl Fn(Option<i32>) -> ControllerRevision,
) -> anyhow::Result<Created> {
    for _ in 0..100 {
        let revision = make(Some(collision_count).filter(|c| *c > 0));
        match api.create(&PostParams::default(), &revision).await {
            Ok(created) => return Ok(Created { revision: created, collision_count }),
            Err(kube::Error::Api(e)) if e.code == 409 => {
                let name = revision.metadata.name.clone().unwrap_or_default();
                let existing = api.get(&name).await?;
                if equal(&existing, &revision) {
                    return Ok(Created { revision: existing, collision_count });
                }
                collision_count += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("no free revision name after 100 hash collisions")
}

/// Renumbers `revision` (a rollback to an earlier template makes it the newest again).
///
/// # Errors
/// Any API error.
pub async fn renumber(
    api: &Api<ControllerRevision>,
    revision: &ControllerRevision,
    number: i64,
) -> anyhow::Result<ControllerRevision> {
    if revision.revision == number {
        return Ok(revision.clone());
    }
    let name = revision.metadata.name.clone().unwrap_or_default();
    let patch = json!({"revision": number});
    let params = kube::api::PatchParams::default();
    Ok(api.patch(&name, &params, &kube::api::Patch::Merge(&patch)).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_go() {
        // Reference values of Go's hash/fnv for "hello".
        assert_eq!(fnv1_32(&[b"hello"]), 0xb6fa_7167);
        assert_eq!(fnv1a_32(&[b"hello"]), 0x4f9f_2cab);
        assert_eq!(fnv1_32(&[b"hel", b"lo"]), fnv1_32(&[b"hello"]));
    }

    #[test]
    fn hashes_are_safe_encoded_and_collisions_change_them() {
        let h = hash_revision(br#"{"spec":{}}"#, None);
        assert!(h.bytes().all(|b| SAFE_ALPHABET.contains(&b)), "{h}");
        assert_ne!(h, hash_revision(br#"{"spec":{}}"#, Some(1)));
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }

    #[test]
    fn a_revision_is_named_by_its_hash_and_keeps_its_template() {
        let template: PodTemplateSpec = serde_json::from_value(json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}
        }))
        .unwrap();
        let owner = OwnerReference { name: "web".into(), ..Default::default() };
        let labels = template.metadata.as_ref().and_then(|m| m.labels.as_ref());
        let r = new_revision(owner, "default", labels, template_patch(&template), 1, None);
        let name = r.metadata.name.clone().unwrap();
        let hash = &r.metadata.labels.as_ref().unwrap()[HASH_LABEL];
        assert_eq!(name, format!("web-{hash}"));
        assert_eq!(r.metadata.labels.as_ref().unwrap()["app"], "web");
        assert_eq!(r.data.as_ref().unwrap().0["spec"]["template"]["$patch"], "replace");
        assert_eq!(template_of(&r), Some(template));
    }

    #[test]
    fn truncation_keeps_live_revisions_and_the_newest_history() {
        let rev = |name: &str, n| {
            Arc::new(ControllerRevision {
                metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
                data: None,
                revision: n,
            })
        };
        let revisions = vec![rev("a", 1), rev("b", 2), rev("c", 3), rev("d", 4)];
        let gone: Vec<_> = to_truncate(&revisions, &["a", "d"], 1)
            .iter()
            .map(|r| r.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(gone, ["b"]);
        assert!(to_truncate(&revisions, &[], 10).is_empty());
    }
}
