//! Label selectors with full Kubernetes semantics (`matchLabels` AND every `matchExpressions`
//! requirement). The checker's cross-object rules and the guard's budget matching both use this
//! one implementation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub type Labels = BTreeMap<String, String>;

/// A validated label selector. An empty selector matches every object; "no selector" is expressed by
/// the caller as `Option::None` and matches nothing, as for PodDisruptionBudgets in `policy/v1`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Selector {
    pub requirements: Vec<Requirement>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Requirement {
    pub key: String,
    pub op: SelectorOp,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SelectorOp {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error(
        "label selector operator {op:?} on key {key:?} is unknown: use In, NotIn, Exists or DoesNotExist"
    )]
    UnknownOperator { key: String, op: String },
    #[error(
        "label selector requirement on key {key:?} with operator {op} needs at least one value"
    )]
    MissingValues { key: String, op: &'static str },
    #[error("label selector requirement on key {key:?} with operator {op} must not list values")]
    UnexpectedValues { key: String, op: &'static str },
}

impl Selector {
    /// A selector from `matchLabels` only.
    pub fn from_labels<'a>(labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            requirements: labels
                .into_iter()
                .map(|(k, v)| Requirement {
                    key: k.to_owned(),
                    op: SelectorOp::In,
                    values: vec![v.to_owned()],
                })
                .collect(),
        }
    }

    /// Converts and validates a Kubernetes `LabelSelector`.
    pub fn from_k8s(
        s: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    ) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for (k, v) in s.match_labels.iter().flatten() {
            requirements.push(Requirement {
                key: k.clone(),
                op: SelectorOp::In,
                values: vec![v.clone()],
            });
        }
        for e in s.match_expressions.iter().flatten() {
            let op = match e.operator.as_str() {
                "In" => SelectorOp::In,
                "NotIn" => SelectorOp::NotIn,
                "Exists" => SelectorOp::Exists,
                "DoesNotExist" => SelectorOp::DoesNotExist,
                other => {
                    return Err(SelectorError::UnknownOperator {
                        key: e.key.clone(),
                        op: other.to_owned(),
                    });
                }
            };
            let values = e.values.clone().unwrap_or_default();
            match op {
                SelectorOp::In | SelectorOp::NotIn if values.is_empty() => {
                    return Err(SelectorError::MissingValues {
                        key: e.key.clone(),
                        op: op.as_str(),
                    });
                }
                SelectorOp::Exists | SelectorOp::DoesNotExist if !values.is_empty() => {
                    return Err(SelectorError::UnexpectedValues {
                        key: e.key.clone(),
                        op: op.as_str(),
                    });
                }
                _ => {}
            }
            requirements.push(Requirement {
                key: e.key.clone(),
                op,
                values,
            });
        }
        Ok(Self { requirements })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.matches_with(|key| labels.get(key).map(String::as_str))
    }

    /// [`Selector::matches`] over any label store, `label(key)` giving a pod's value for `key`
    /// (the checker keeps labels as a sorted pair list, not a map).
    pub fn matches_with<'a>(&self, label: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.requirements
            .iter()
            .all(|r| r.matches_value(label(&r.key)))
    }
}

impl Requirement {
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matches_value(labels.get(&self.key).map(String::as_str))
    }

    /// The rule on the value a pod has for this requirement's key (`None`: no such label).
    pub fn matches_value(&self, value: Option<&str>) -> bool {
        let listed = |v: &str| self.values.iter().any(|x| x == v);
        match self.op {
            SelectorOp::In => value.is_some_and(listed),
            SelectorOp::NotIn => value.is_none_or(|v| !listed(v)),
            SelectorOp::Exists => value.is_some(),
            SelectorOp::DoesNotExist => value.is_none(),
        }
    }
}

impl SelectorOp {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "In",
            Self::NotIn => "NotIn",
            Self::Exists => "Exists",
            Self::DoesNotExist => "DoesNotExist",
        }
    }
}

impl std::fmt::Display for Selector {
    /// The `kubectl get -l` form, e.g. `app=web,tier in (a,b),!canary`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .requirements
            .iter()
            .map(|r| match (r.op, r.values.as_slice()) {
                (SelectorOp::In, [v]) => format!("{}={v}", r.key),
                (SelectorOp::In, vs) => format!("{} in ({})", r.key, vs.join(",")),
                (SelectorOp::NotIn, vs) => format!("{} notin ({})", r.key, vs.join(",")),
                (SelectorOp::Exists, _) => r.key.clone(),
                (SelectorOp::DoesNotExist, _) => format!("!{}", r.key),
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn expr(key: &str, op: &str, values: Option<&[&str]>) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: values.map(|vs| vs.iter().map(|v| (*v).to_owned()).collect()),
        }
    }

    #[test]
    fn match_labels_and_expressions_are_anded() {
        let s = Selector::from_k8s(&LabelSelector {
            match_labels: Some([("app".to_owned(), "web".to_owned())].into()),
            match_expressions: Some(vec![
                expr("tier", "In", Some(&["front", "edge"])),
                expr("canary", "DoesNotExist", None),
                expr("env", "NotIn", Some(&["dev"])),
                expr("team", "Exists", None),
            ]),
        })
        .unwrap();
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "edge"), ("team", "a")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "back"), ("team", "a")])));
        assert!(!s.matches(&labels(&[
            ("app", "web"),
            ("tier", "edge"),
            ("team", "a"),
            ("canary", "1")
        ])));
        assert!(!s.matches(&labels(&[
            ("app", "web"),
            ("tier", "edge"),
            ("team", "a"),
            ("env", "dev")
        ])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "edge")])));
        assert!(!s.matches(&labels(&[("app", "api"), ("tier", "edge"), ("team", "a")])));
        assert_eq!(
            s.to_string(),
            "app=web,tier in (front,edge),!canary,env notin (dev),team"
        );
    }

    #[test]
    fn empty_selector_matches_everything() {
        let s = Selector::from_k8s(&LabelSelector::default()).unwrap();
        assert!(s.matches(&Labels::new()));
        assert!(s.matches(&labels(&[("a", "b")])));
    }

    #[test]
    fn invalid_requirements_are_refused_with_the_key() {
        let bad = |e| {
            Selector::from_k8s(&LabelSelector {
                match_labels: None,
                match_expressions: Some(vec![e]),
            })
            .unwrap_err()
            .to_string()
        };
        assert!(bad(expr("app", "Equals", Some(&["x"]))).contains("\"app\""));
        assert!(bad(expr("app", "In", None)).contains("at least one value"));
        assert!(bad(expr("app", "Exists", Some(&["x"]))).contains("must not list values"));
    }
}
