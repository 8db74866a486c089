//! Favours nodes that already have the pod's images, weighted by image size and by how many
//! nodes have them (so that one node with the image does not attract every pod).

use crate::{
    framework::{CycleState, MAX_NODE_SCORE, ScorePlugin},
    pod_info::PodInfo,
    snapshot::{Cache, NodeInfo},
};

pub const NAME: &str = "ImageLocality";

const MB: i64 = 1024 * 1024;
/// Below this the image is too small to matter; upstream's thresholds.
const MIN_THRESHOLD: i64 = 23 * MB;
const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

pub struct ImageLocality;

/// Per image of the pod: its spread, the fraction of nodes that have it.
struct Spread(Vec<f64>);

impl ScorePlugin for ImageLocality {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_score(&self, pod: &PodInfo, cache: &Cache, _: &[usize], state: &mut CycleState) -> bool {
        let total = cache.num_nodes().max(1) as f64;
        let spread: Vec<f64> = pod.images.iter().map(|i| cache.image_num_nodes(i) as f64 / total).collect();
        let any = spread.iter().any(|s| *s > 0.0);
        state.write(Spread(spread));
        any
    }

    fn score(&self, pod: &PodInfo, node: &NodeInfo, state: &CycleState) -> i64 {
        let Some(Spread(spread)) = state.read::<Spread>() else { return 0 };
        let sum: f64 = pod
            .images
            .iter()
            .zip(spread)
            .filter_map(|(image, spread)| node.images.get(image).map(|size| *size as f64 * spread))
            .sum();
        let max = MAX_CONTAINER_THRESHOLD * pod.images.len().max(1) as i64;
        let sum = (sum as i64).clamp(MIN_THRESHOLD, max);
        MAX_NODE_SCORE * (sum - MIN_THRESHOLD) / (max - MIN_THRESHOLD)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plugins::testing::*;

    #[test]
    fn nodes_with_big_images_score_higher() {
        let with_image = node(json!({"metadata": {"name": "a"}, "status": {"images": [
            {"names": ["nginx:latest"], "sizeBytes": 500 * MB}]}}));
        let c = cache(&[with_image, node(json!({"metadata": {"name": "b"}}))], &[]);
        let p = pod(
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}),
        );
        let mut s = CycleState::default();
        assert!(ImageLocality.pre_score(&p, &c, &[], &mut s));
        // 500 MB on half of the nodes: (250 - 23) / (1000 - 23) of the range.
        assert_eq!(ImageLocality.score(&p, c.node("a").unwrap(), &s), 23);
        assert_eq!(ImageLocality.score(&p, c.node("b").unwrap(), &s), 0);
    }
}
