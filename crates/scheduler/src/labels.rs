//! Label and node selectors, compiled once per pod so that matching them against thousands of
//! nodes allocates nothing.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::{NodeSelector, NodeSelectorRequirement, NodeSelectorTerm},
    apimachinery::pkg::apis::meta::v1::LabelSelector,
};

pub type Labels = BTreeMap<String, String>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Requirement {
    pub key: String,
    pub op: Op,
    pub values: Vec<String>,
}

impl Requirement {
    fn matches_value(&self, value: Option<&str>) -> bool {
        match (self.op, value) {
            (Op::In, Some(v)) => self.values.iter().any(|x| x == v),
            (Op::In, None) => false,
            (Op::NotIn, Some(v)) => !self.values.iter().any(|x| x == v),
            (Op::NotIn, None) => true,
            (Op::Exists, v) => v.is_some(),
            (Op::DoesNotExist, v) => v.is_none(),
            (Op::Gt | Op::Lt, None) => false,
            (op @ (Op::Gt | Op::Lt), Some(v)) => {
                // Upstream compares both sides as integers; a value that is not one never matches.
                let (Ok(have), Some(Ok(want))) =
                    (v.parse::<i64>(), self.values.first().map(|w| w.parse::<i64>()))
                else {
                    return false;
                };
                if op == Op::Gt { have > want } else { have < want }
            }
        }
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.matches_value(labels.get(&self.key).map(String::as_str))
    }
}

/// A `metav1.LabelSelector`, as upstream's `LabelSelectorAsSelector` reads it: a missing
/// selector matches nothing, an empty one everything. Equality is structural (the same
/// requirements in the same order), which is what the per-selector pod counts key on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Selector {
    requirements: Vec<Requirement>,
    nothing: bool,
}

impl Selector {
    pub fn nothing() -> Selector {
        Selector { requirements: Vec::new(), nothing: true }
    }

    pub fn everything() -> Selector {
        Selector { requirements: Vec::new(), nothing: false }
    }

    /// `None` and selectors with an unknown operator match nothing.
    pub fn from_api(selector: Option<&LabelSelector>) -> Selector {
        let Some(sel) = selector else { return Selector::nothing() };
        let mut requirements = Vec::new();
        for (k, v) in sel.match_labels.iter().flatten() {
            requirements.push(Requirement { key: k.clone(), op: Op::In, values: vec![v.clone()] });
        }
        for e in sel.match_expressions.iter().flatten() {
            let op = match e.operator.as_str() {
                "In" => Op::In,
                "NotIn" => Op::NotIn,
                "Exists" => Op::Exists,
                "DoesNotExist" => Op::DoesNotExist,
                _ => return Selector::nothing(),
            };
            requirements.push(Requirement {
                key: e.key.clone(),
                op,
                values: e.values.clone().unwrap_or_default(),
            });
        }
        Selector { requirements, nothing: false }
    }

    /// `matchLabelKeys`: `key in (value of key in labels)` for each key the labels have.
    pub fn with_label_keys(mut self, keys: &[String], labels: &Labels) -> Selector {
        for key in keys {
            if let Some(v) = labels.get(key) {
                self.requirements.push(Requirement { key: key.clone(), op: Op::In, values: vec![v.clone()] });
            }
        }
        self
    }

    pub fn is_nothing(&self) -> bool {
        self.nothing
    }

    /// An empty selector (`{}`), which matches every set of labels.
    pub fn is_everything(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }
}

/// A node selector term: label expressions and `metadata.name` field expressions, ANDed.
#[derive(Clone, Debug)]
pub struct NodeTerm {
    expressions: Vec<Requirement>,
    fields: Vec<Requirement>,
}

impl NodeTerm {
    /// `None` when the term is invalid (it then matches nothing, as upstream).
    pub fn from_api(term: &NodeSelectorTerm) -> Option<NodeTerm> {
        let convert = |reqs: &Option<Vec<NodeSelectorRequirement>>| -> Option<Vec<Requirement>> {
            reqs.iter()
                .flatten()
                .map(|r| {
                    let op = match r.operator.as_str() {
                        "In" => Op::In,
                        "NotIn" => Op::NotIn,
                        "Exists" => Op::Exists,
                        "DoesNotExist" => Op::DoesNotExist,
                        "Gt" => Op::Gt,
                        "Lt" => Op::Lt,
                        _ => return None,
                    };
                    Some(Requirement { key: r.key.clone(), op, values: r.values.clone().unwrap_or_default() })
                })
                .collect()
        };
        let expressions = convert(&term.match_expressions)?;
        let fields = convert(&term.match_fields)?;
        if fields.iter().any(|f| f.key != "metadata.name") {
            return None;
        }
        Some(NodeTerm { expressions, fields })
    }

    /// An empty term matches nothing.
    pub fn matches(&self, name: &str, labels: &Labels) -> bool {
        if self.expressions.is_empty() && self.fields.is_empty() {
            return false;
        }
        self.expressions.iter().all(|r| r.matches(labels))
            && self.fields.iter().all(|f| f.matches_value(Some(name)))
    }
}

/// `requiredDuringSchedulingIgnoredDuringExecution`: terms ORed.
#[derive(Clone, Debug)]
pub struct NodeSelectorTerms {
    terms: Vec<Option<NodeTerm>>,
}

impl NodeSelectorTerms {
    pub fn from_api(sel: &NodeSelector) -> NodeSelectorTerms {
        NodeSelectorTerms { terms: sel.node_selector_terms.iter().map(NodeTerm::from_api).collect() }
    }

    pub fn matches(&self, name: &str, labels: &Labels) -> bool {
        self.terms.iter().flatten().any(|t| t.matches(name, labels))
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn missing_selector_matches_nothing_and_empty_everything() {
        let l = labels(&[("app", "web")]);
        assert!(!Selector::from_api(None).matches(&l));
        assert!(Selector::from_api(Some(&LabelSelector::default())).matches(&l));
    }

    #[test]
    fn match_labels_and_expressions() {
        let sel = LabelSelector {
            match_labels: Some([("app".to_string(), "web".to_string())].into()),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "NotIn".into(),
                values: Some(vec!["db".into()]),
            }]),
        };
        let s = Selector::from_api(Some(&sel));
        assert!(s.matches(&labels(&[("app", "web")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "db")])));
        assert!(!s.matches(&labels(&[("app", "api")])));
    }

    #[test]
    fn node_terms_gt_lt_and_fields() {
        let term = NodeSelectorTerm {
            match_expressions: Some(vec![NodeSelectorRequirement {
                key: "cores".into(),
                operator: "Gt".into(),
                values: Some(vec!["4".into()]),
            }]),
            match_fields: Some(vec![NodeSelectorRequirement {
                key: "metadata.name".into(),
                operator: "In".into(),
                values: Some(vec!["n1".into()]),
            }]),
        };
        let t = NodeTerm::from_api(&term).unwrap();
        assert!(t.matches("n1", &labels(&[("cores", "8")])));
        assert!(!t.matches("n2", &labels(&[("cores", "8")])));
        assert!(!t.matches("n1", &labels(&[("cores", "4")])));
        assert!(!NodeTerm::from_api(&NodeSelectorTerm::default()).unwrap().matches("n1", &labels(&[])));
    }
}
