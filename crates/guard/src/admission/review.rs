//! The AdmissionReview v1 envelope, exactly as the API server sends it, and the response. Only the
//! fields the guard reads are parsed; `object` and `oldObject` stay raw until a pod is really needed,
//! so a request for a namespace without budgets costs one envelope parse.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
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
    #[error("the object of the eviction request is not a policy/v1 Eviction: {0}")]
    NotAnEviction(String),
}

impl BadReview {
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Json(_) => "bad_json",
            Self::Kind(_) | Self::ApiVersion(_) => "bad_kind",
            Self::NoRequest | Self::NoUid => "bad_request",
            Self::MissingField { .. } | Self::NotAPod { .. } | Self::NotAnEviction(_) => {
                "bad_object"
            }
        }
    }
}

/// A JSON string, borrowed from the body unless it holds escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Str<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

fn text<'s>(s: &'s Option<Str<'_>>) -> Option<&'s str> {
    s.as_ref().map(|s| &*s.0)
}

fn cow(s: Option<Str<'_>>) -> Cow<'_, str> {
    s.map(|s| s.0).unwrap_or_default()
}

#[derive(Deserialize, Default)]
struct GroupResource<'a> {
    #[serde(borrow, default)]
    group: Option<Str<'a>>,
    #[serde(borrow, default)]
    resource: Option<Str<'a>>,
}

/// `request.options`: the CreateOptions, UpdateOptions or DeleteOptions of the request.
#[derive(Deserialize, Default)]
struct Options<'a> {
    #[serde(borrow, default, rename = "dryRun")]
    dry_run: Option<Vec<Str<'a>>>,
}

/// The part of a policy/v1 Eviction (the `object` of a `pods/eviction` CREATE) that can make it a
/// dry run. `kubectl drain --dry-run=server` puts the dry run here and nowhere else: the request's
/// own `dryRun` is then false.
#[derive(Deserialize, Default)]
struct Eviction<'a> {
    #[serde(borrow, default, rename = "deleteOptions")]
    delete_options: Option<Options<'a>>,
}

/// A `dryRun` list asks for a dry run when it names any stage; the API server accepts only "All".
fn asks_dry_run(o: &Option<Options<'_>>) -> bool {
    o.as_ref()
        .and_then(|o| o.dry_run.as_ref())
        .is_some_and(|stages| !stages.is_empty())
}

#[derive(Deserialize, Default)]
struct UserInfo<'a> {
    #[serde(borrow, default)]
    username: Option<Str<'a>>,
}

/// The fields of the review read so far. Filled in body order by [`EnvelopeSeed`].
#[derive(Default)]
struct Fields<'a> {
    api_version: Option<Str<'a>>,
    kind: Option<Str<'a>>,
    request: bool,
    uid: Option<Str<'a>>,
    resource: Option<GroupResource<'a>>,
    sub_resource: Option<Str<'a>>,
    name: Option<Str<'a>>,
    namespace: Option<Str<'a>>,
    operation: Option<Str<'a>>,
    user: Option<Str<'a>>,
    object: Option<&'a RawValue>,
    old_object: Option<&'a RawValue>,
    dry_run: Option<bool>,
    options: Option<Options<'a>>,
    /// Reading stopped at `object`/`oldObject` (see [`parse_with`]).
    stopped: bool,
}

impl Fields<'_> {
    /// Whether everything that decides an answer without the pod is known: the envelope is a v1
    /// AdmissionReview, and the request's uid, namespace, operation and resource were read. The
    /// API server writes them all before `object` (Go struct order); a body in another order is
    /// simply read to the end.
    fn can_stop(&self) -> bool {
        text(&self.kind) == Some("AdmissionReview")
            && text(&self.api_version) == Some("admission.k8s.io/v1")
            && !text(&self.uid).unwrap_or_default().is_empty()
            && !text(&self.namespace).unwrap_or_default().is_empty()
            && self.operation.is_some()
            && self.resource.is_some()
            // An eviction is answered 400 without its pod's name; a name that comes after the
            // Eviction must be read, or the fast path would refuse what the full read accepts.
            && (text(&self.sub_resource) != Some("eviction") || self.name.is_some())
    }
}

/// Sets a field read once. A second occurrence is refused, as serde's derive does: the fast path
/// stops at the pod, so a field repeated after it would be read differently by the two paths (the
/// API server never repeats one).
fn once<T, E: de::Error>(
    slot: &mut Option<T>,
    value: Option<T>,
    field: &'static str,
) -> Result<(), E> {
    if slot.is_some() && value.is_some() {
        return Err(E::duplicate_field(field));
    }
    if value.is_some() {
        *slot = value;
    }
    Ok(())
}

/// Message of the error that ends reading early; never shown (the `stopped` flag is checked).
const STOP: &str = "stopped before the pod: no budget covers the namespace";

struct EnvelopeSeed<'s, 'a> {
    fields: &'s mut Fields<'a>,
    needs_pod: &'s dyn Fn(&str) -> bool,
}

impl<'de, 's> DeserializeSeed<'de> for EnvelopeSeed<'s, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 's> Visitor<'de> for EnvelopeSeed<'s, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an AdmissionReview object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Str<'de>>()? {
            match &*key.0 {
                "apiVersion" => once(
                    &mut self.fields.api_version,
                    map.next_value()?,
                    "apiVersion",
                )?,
                "kind" => once(&mut self.fields.kind, map.next_value()?, "kind")?,
                "request" => map.next_value_seed(RequestSeed {
                    fields: &mut *self.fields,
                    needs_pod: self.needs_pod,
                })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct RequestSeed<'s, 'a> {
    fields: &'s mut Fields<'a>,
    needs_pod: &'s dyn Fn(&str) -> bool,
}

impl<'de, 's> DeserializeSeed<'de> for RequestSeed<'s, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, 's> Visitor<'de> for RequestSeed<'s, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an AdmissionRequest object")
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let f = self.fields;
        f.request = true;
        while let Some(key) = map.next_key::<Str<'de>>()? {
            match &*key.0 {
                "uid" => once(&mut f.uid, map.next_value()?, "uid")?,
                "resource" => once(&mut f.resource, map.next_value()?, "resource")?,
                "subResource" => once(&mut f.sub_resource, map.next_value()?, "subResource")?,
                "name" => once(&mut f.name, map.next_value()?, "name")?,
                "namespace" => once(&mut f.namespace, map.next_value()?, "namespace")?,
                "operation" => once(&mut f.operation, map.next_value()?, "operation")?,
                "userInfo" => {
                    f.user = map
                        .next_value::<Option<UserInfo<'de>>>()?
                        .and_then(|u| u.username)
                }
                "object" | "oldObject" => {
                    // The pod (about 90 % of the body) matters only when a budget may cover it.
                    if f.can_stop() && !(self.needs_pod)(text(&f.namespace).unwrap_or_default()) {
                        f.stopped = true;
                        return Err(de::Error::custom(STOP));
                    }
                    // `null` (what the API server sends for an absent object) reads as None.
                    let raw = map.next_value::<Option<&'de RawValue>>()?;
                    if &*key.0 == "object" {
                        f.object = raw;
                    } else {
                        f.old_object = raw;
                    }
                }
                "dryRun" => once(&mut f.dry_run, map.next_value()?, "dryRun")?,
                "options" => once(&mut f.options, map.next_value()?, "options")?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
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
    /// A DELETE, UPDATE or resize whose pod was not read: when the parser reached `object` or
    /// `oldObject`, no budget covered the namespace (and the guard was ready), so the rest of the
    /// body was not read either. The answer is "allowed" whatever the pod holds.
    Unread(Operation),
}

impl Subject<'_> {
    pub fn operation(&self) -> Option<Operation> {
        match self {
            Self::Pass(_) => None,
            Self::Delete { .. } => Some(Operation::Delete),
            Self::Evict => Some(Operation::Evict),
            Self::Update { .. } => Some(Operation::Update),
            Self::Resize { .. } => Some(Operation::Resize),
            Self::Unread(op) => Some(*op),
        }
    }
}

/// A parsed review; its strings borrow from the body.
#[derive(Debug)]
pub struct Review<'a> {
    pub uid: Cow<'a, str>,
    pub namespace: Cow<'a, str>,
    /// The pod's name; empty for the reviews of a deletecollection.
    pub name: Cow<'a, str>,
    pub user: Cow<'a, str>,
    /// The request must change nothing: the AdmissionRequest's `dryRun`, its `options.dryRun`
    /// (Create/Update/DeleteOptions), or an Eviction's `deleteOptions.dryRun`. Always false when
    /// the pod was not read ([`Subject::Unread`], or an eviction in a namespace without budgets):
    /// those come after the pod, and such a request is allowed without a write anyway.
    pub dry_run: bool,
    pub subject: Subject<'a>,
}

/// Reads the whole review.
pub fn parse(body: &[u8]) -> Result<Review<'_>, BadReview> {
    parse_with(body, &|_| true)
}

/// Reads the review; when it reaches `object` or `oldObject` with everything else that decides the
/// answer known and `needs_pod(namespace)` is false, it stops there: the review becomes
/// [`Subject::Unread`] (or [`Subject::Pass`]/[`Subject::Evict`], which need no pod) and the rest of
/// the body, pod included, is neither parsed nor checked. A request whose namespace may hold a
/// budget is always read to the end, so nothing is allowed that could not be read when a budget
/// could apply.
pub fn parse_with<'a>(
    body: &'a [u8],
    needs_pod: &dyn Fn(&str) -> bool,
) -> Result<Review<'a>, BadReview> {
    let mut f = Fields::default();
    let mut de = serde_json::Deserializer::from_slice(body);
    let read = EnvelopeSeed {
        fields: &mut f,
        needs_pod,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    match read {
        Ok(()) => {}
        Err(_) if f.stopped => {}
        Err(e) => return Err(BadReview::Json(e.to_string())),
    }
    let stopped = f.stopped;
    match text(&f.kind) {
        Some("AdmissionReview") => {}
        other => return Err(BadReview::Kind(other.unwrap_or_default().to_owned())),
    }
    match text(&f.api_version) {
        Some("admission.k8s.io/v1") => {}
        other => return Err(BadReview::ApiVersion(other.unwrap_or_default().to_owned())),
    }
    if !f.request {
        return Err(BadReview::NoRequest);
    }
    let uid = cow(f.uid);
    if uid.is_empty() {
        return Err(BadReview::NoUid);
    }
    let operation = cow(f.operation);
    let sub = cow(f.sub_resource);
    let resource = f.resource.unwrap_or_default();
    let is_pods = cow(resource.group).is_empty() && cow(resource.resource) == "pods";
    let name = cow(f.name);
    let missing = |field| BadReview::MissingField {
        operation: operation.to_string(),
        resource: if sub.is_empty() {
            "pods".into()
        } else {
            format!("pods/{sub}")
        },
        field,
    };
    let mut evict_dry_run = false;
    let subject = if !is_pods {
        Subject::Pass("NotAPod")
    } else {
        match (&*operation, &*sub) {
            ("DELETE", "") if stopped => Subject::Unread(Operation::Delete),
            ("DELETE", "") => Subject::Delete { old: f.old_object },
            ("CREATE", "eviction") => {
                if name.is_empty() {
                    return Err(missing("name"));
                }
                if let Some(raw) = f.object {
                    let eviction: Eviction<'_> = serde_json::from_str(raw.get())
                        .map_err(|e| BadReview::NotAnEviction(e.to_string()))?;
                    evict_dry_run = asks_dry_run(&eviction.delete_options);
                }
                Subject::Evict
            }
            ("UPDATE", "") if stopped => Subject::Unread(Operation::Update),
            ("UPDATE", "resize") if stopped => Subject::Unread(Operation::Resize),
            ("UPDATE", "") => Subject::Update {
                old: f.old_object.ok_or_else(|| missing("oldObject"))?,
                new: f.object.ok_or_else(|| missing("object"))?,
            },
            ("UPDATE", "resize") => Subject::Resize {
                old: f.old_object.ok_or_else(|| missing("oldObject"))?,
                new: f.object.ok_or_else(|| missing("object"))?,
            },
            _ => Subject::Pass("NotADisruption"),
        }
    };
    Ok(Review {
        uid,
        namespace: cow(f.namespace),
        name,
        user: cow(f.user),
        dry_run: f.dry_run.unwrap_or(false) || asks_dry_run(&f.options) || evict_dry_run,
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReviewOut<'a> {
    api_version: &'static str,
    kind: &'static str,
    response: ResponseOut<'a>,
}

#[derive(Serialize)]
struct ResponseOut<'a> {
    uid: &'a str,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<StatusOut<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
}

#[derive(Serialize)]
struct StatusOut<'a> {
    status: &'static str,
    code: u16,
    reason: &'static str,
    message: &'a str,
    details: DetailsOut<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DetailsOut<'a> {
    causes: [CauseOut<'a>; 1],
    retry_after_seconds: u32,
}

#[derive(Serialize)]
struct CauseOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
}

/// The AdmissionReview answering `uid`, as JSON bytes (written straight from typed fields: no
/// intermediate JSON tree on the hot path).
pub fn response(uid: &str, answer: &Answer) -> Vec<u8> {
    let out = ReviewOut {
        api_version: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        response: ResponseOut {
            uid,
            allowed: answer.refusal.is_none(),
            status: answer.refusal.as_ref().map(|r| StatusOut {
                status: "Failure",
                code: r.code,
                reason: r.reason,
                message: &r.message,
                details: DetailsOut {
                    causes: [CauseOut {
                        kind: steady_budget::decision::DENY_CAUSE,
                        message: &r.cause,
                    }],
                    retry_after_seconds: r.retry_after_seconds,
                },
            }),
            warnings: &answer.warnings,
        },
    };
    let mut buf = Vec::with_capacity(160);
    // Strings, numbers and booleans written into memory: serde_json cannot fail here.
    if let Err(e) = serde_json::to_writer(&mut buf, &out) {
        unreachable!("serialising an AdmissionReview into memory failed: {e}");
    }
    buf
}
