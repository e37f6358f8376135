//! The AdmissionReview v1 envelope, exactly as the API server sends it, and the response. Only the
//! fields the guard reads are parsed; `object` and `oldObject` stay raw until a pod is really needed,
//! so a request for a namespace without budgets costs one envelope parse.

use serde::Deserialize;
use serde_json::value::RawValue;
use steady_budget::Operation;

/// Why a body is not an AdmissionReview the guard can answer: HTTP 400 with this reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadReview {
    #[error("the body is not valid JSON for an AdmissionReview: {0}")]
    Json(String),
    #[error("expected kind AdmissionReview, got {0:?}")]
    Kind(String),
    #[error("expected apiVersion admission.k8s.io/v1, got {0:?}")]
    ApiVersion(String),
    #[error("the AdmissionReview has no request")]
    NoRequest,
    #[error("the AdmissionReview request has no uid")]
    NoUid,
    #[error("the {operation} request for {resource} carries no {field}")]
    MissingField {
        operation: String,
        resource: String,
        field: &'static str,
    },
    #[error("the {field} of the request is not a pod: {error}")]
    NotAPod { field: &'static str, error: String },
}

impl BadReview {
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Json(_) => "bad_json",
            Self::Kind(_) | Self::ApiVersion(_) => "bad_kind",
            Self::NoRequest | Self::NoUid => "bad_request",
            Self::MissingField { .. } | Self::NotAPod { .. } => "bad_object",
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(borrow, default)]
    request: Option<RequestIn<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct GroupResource {
    #[serde(default)]
    group: String,
    #[serde(default)]
    resource: String,
}

#[derive(Deserialize, Default)]
struct UserInfo {
    #[serde(default)]
    username: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestIn<'a> {
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    resource: GroupResource,
    #[serde(default)]
    sub_resource: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    operation: Option<String>,
    #[serde(default)]
    user_info: UserInfo,
    #[serde(borrow, default)]
    object: Option<&'a RawValue>,
    #[serde(borrow, default)]
    old_object: Option<&'a RawValue>,
    #[serde(default)]
    dry_run: Option<bool>,
}

/// What the request asks, in the guard's terms.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// Not a disruption the guard judges (pod CREATE, `pods/status`, other resources…).
    Pass(&'static str),
    /// Pod DELETE (also each pod of a deletecollection): the pod is `oldObject`.
    Delete { old: Option<&'a RawValue> },
    /// `pods/eviction` CREATE: the pod is read from the index.
    Evict,
    /// Pod UPDATE.
    Update {
        old: &'a RawValue,
        new: &'a RawValue,
    },
    /// `pods/resize` UPDATE.
    Resize {
        old: &'a RawValue,
        new: &'a RawValue,
    },
}

impl Subject<'_> {
    pub fn operation(&self) -> Option<Operation> {
        match self {
            Self::Pass(_) => None,
            Self::Delete { .. } => Some(Operation::Delete),
            Self::Evict => Some(Operation::Evict),
            Self::Update { .. } => Some(Operation::Update),
            Self::Resize { .. } => Some(Operation::Resize),
        }
    }
}

/// A parsed review.
#[derive(Debug)]
pub struct Review<'a> {
    pub uid: String,
    pub namespace: String,
    /// The pod's name; empty for the reviews of a deletecollection.
    pub name: String,
    pub user: String,
    pub dry_run: bool,
    pub subject: Subject<'a>,
}

pub fn parse(body: &[u8]) -> Result<Review<'_>, BadReview> {
    let env: Envelope<'_> =
        serde_json::from_slice(body).map_err(|e| BadReview::Json(e.to_string()))?;
    match env.kind.as_deref() {
        Some("AdmissionReview") => {}
        other => return Err(BadReview::Kind(other.unwrap_or_default().to_owned())),
    }
    match env.api_version.as_deref() {
        Some("admission.k8s.io/v1") => {}
        other => return Err(BadReview::ApiVersion(other.unwrap_or_default().to_owned())),
    }
    let req = env.request.ok_or(BadReview::NoRequest)?;
    let uid = req.uid.filter(|u| !u.is_empty()).ok_or(BadReview::NoUid)?;
    let operation = req.operation.unwrap_or_default();
    let sub = req.sub_resource.unwrap_or_default();
    let is_pods = req.resource.group.is_empty() && req.resource.resource == "pods";
    let missing = |field| BadReview::MissingField {
        operation: operation.clone(),
        resource: if sub.is_empty() {
            "pods".into()
        } else {
            format!("pods/{sub}")
        },
        field,
    };
    let subject = if !is_pods {
        Subject::Pass("NotAPod")
    } else {
        match (operation.as_str(), sub.as_str()) {
            ("DELETE", "") => Subject::Delete {
                old: req.old_object,
            },
            ("CREATE", "eviction") => {
                if req.name.as_deref().unwrap_or_default().is_empty() {
                    return Err(missing("name"));
                }
                Subject::Evict
            }
            ("UPDATE", "") => Subject::Update {
                old: req.old_object.ok_or_else(|| missing("oldObject"))?,
                new: req.object.ok_or_else(|| missing("object"))?,
            },
            ("UPDATE", "resize") => Subject::Resize {
                old: req.old_object.ok_or_else(|| missing("oldObject"))?,
                new: req.object.ok_or_else(|| missing("object"))?,
            },
            _ => Subject::Pass("NotADisruption"),
        }
    };
    Ok(Review {
        uid,
        namespace: req.namespace.unwrap_or_default(),
        name: req.name.unwrap_or_default(),
        user: req.user_info.username.unwrap_or_default(),
        dry_run: req.dry_run.unwrap_or(false),
        subject,
    })
}

/// A refusal in the shape Kubernetes' eviction API uses, so `kubectl drain` retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub cause: String,
    pub retry_after_seconds: u32,
}

/// The answer to one review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub refusal: Option<Refusal>,
    pub warnings: Vec<String>,
}

impl Answer {
    pub fn allow() -> Self {
        Self {
            refusal: None,
            warnings: Vec::new(),
        }
    }

    pub fn deny(refusal: Refusal) -> Self {
        Self {
            refusal: Some(refusal),
            warnings: Vec::new(),
        }
    }
}

pub fn response(uid: &str, answer: &Answer) -> serde_json::Value {
    let mut response = serde_json::json!({ "uid": uid, "allowed": answer.refusal.is_none() });
    if let Some(r) = &answer.refusal {
        response["status"] = serde_json::json!({
            "status": "Failure",
            "code": r.code,
            "reason": r.reason,
            "message": r.message,
            "details": {
                "causes": [{ "type": steady_budget::decision::DENY_CAUSE, "message": r.cause }],
                "retryAfterSeconds": r.retry_after_seconds,
            },
        });
    }
    if !answer.warnings.is_empty() {
        response["warnings"] = serde_json::json!(answer.warnings);
    }
    serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": response,
    })
}
