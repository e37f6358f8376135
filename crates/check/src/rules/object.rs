//! Rules on what the API server itself refuses: removed API versions, names it does not accept,
//! workload specs it rejects. The manifest cannot be applied as written.

use steady_budget::Selector;

use super::{Rule, Severity};
use crate::model::{self, WorkloadKind};

/// Why `name` is not a valid `metadata.name` for `kind`, if it is not: a DNS-1123 subdomain for
/// most kinds, a DNS-1035 label for a Service (its name is a DNS label in the cluster). `steady
/// fix` refuses to name files after such a name, so it cannot write outside the directory.
pub fn name_problem(kind: &str, name: &str) -> Option<String> {
    let label = |l: &str, first_letter: bool| {
        let b = l.as_bytes();
        !b.is_empty()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && (if first_letter {
                b[0].is_ascii_lowercase()
            } else {
                b[0] != b'-'
            })
            && b[b.len() - 1] != b'-'
    };
    if kind == "Service" {
        if name.len() > 63 || !label(name, true) {
            return Some(format!(
                "metadata.name {name:?} is not a valid DNS-1035 label (at most 63 lowercase letters, digits and '-', starting with a letter and ending with a letter or digit)"
            ));
        }
        return None;
    }
    if name.len() > 253 || !name.split('.').all(|l| label(l, false)) {
        return Some(format!(
            "metadata.name {name:?} is not a valid DNS-1123 subdomain (at most 253 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit)"
        ));
    }
    None
}

/// Why `namespace` is not a valid namespace name (a DNS-1123 label), if it is not.
pub fn namespace_problem(namespace: &str) -> Option<String> {
    let b = namespace.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-';
    (!ok).then(|| {
        format!(
            "metadata.namespace {namespace:?} is not a valid DNS-1123 label (at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit)"
        )
    })
}

pub const API_REMOVED: Rule = Rule {
    id: "api-removed",
    severity: Severity::Error,
    summary: "The object uses an API version Kubernetes no longer serves",
    explanation: "Kubernetes removed `extensions/v1beta1`, `apps/v1beta1` and `apps/v1beta2` \
workloads in 1.16, `policy/v1beta1` PodDisruptionBudgets in 1.25 and `autoscaling/v2beta2` \
HorizontalPodAutoscalers in 1.26: applying such a manifest fails with \"no matches for kind\". \
steady reads the object with the replacement version (the fields are the same) and runs every \
other rule on it.\n\nFix: change `apiVersion` to the replacement named in the message. A \
Deployment, DaemonSet or ReplicaSet moving to `apps/v1` must also set `spec.selector`, which the \
old versions defaulted to the template labels.",
    fix: None,
    check: |ctx, out| {
        for (i, o) in ctx.index.objects.iter().enumerate() {
            if let Some(r) = model::removed_api(&o.api_version, o.kind) {
                out.push(ctx.hit(
                    i,
                    None,
                    format!(
                        "{} {} was removed in Kubernetes {}: use {}",
                        o.api_version, o.kind, r.removed_in, r.replacement
                    ),
                ));
            }
        }
    },
};

pub const NAME_INVALID: Rule = Rule {
    id: "name-invalid",
    severity: Severity::Error,
    summary: "The object's name or namespace is not one the API server accepts",
    explanation: "Object names are DNS-1123 subdomains (Service names DNS-1035 labels) and \
namespaces DNS-1123 labels: lowercase letters, digits, '-' (and '.' in subdomains). The API \
server rejects any other name, and a name such as `../x` or one with a newline is not a file name \
`steady fix` will write. Objects without a name (generateName) are not reported.\n\nFix: rename \
the object with lowercase letters, digits and '-'.",
    fix: None,
    check: |ctx, out| {
        for (i, o) in ctx.index.objects.iter().enumerate() {
            let mut why = Vec::new();
            if !o.name.is_empty()
                && let Some(p) = name_problem(o.kind, &o.name)
            {
                why.push(p);
            }
            if let Some(p) = namespace_problem(&o.namespace) {
                why.push(p);
            }
            if !why.is_empty() {
                out.push(ctx.hit(i, None, why.join("; ")));
            }
        }
    },
};

pub const WORKLOAD_INVALID: Rule = Rule {
    id: "workload-invalid",
    severity: Severity::Error,
    summary: "A workload's spec is invalid",
    explanation: "The API server rejects the workload: a negative `spec.replicas`, an empty \
`spec.selector` (it would select every pod of the namespace), or a selector requirement with an \
unknown operator, `In`/`NotIn` without values, `Exists`/`DoesNotExist` with values, or an empty \
key.\n\nFix: correct the fields named in the message.",
    fix: None,
    check: |ctx, out| {
        for &i in &ctx.index.workloads {
            let Some(w) = ctx.obj(i).workload() else {
                continue;
            };
            let mut why = Vec::new();
            if let Some(r) = w.replicas
                && r < 0
            {
                why.push(format!("spec.replicas is {r}: it must not be negative"));
            }
            let label_selector = matches!(
                w.kind,
                WorkloadKind::Deployment
                    | WorkloadKind::StatefulSet
                    | WorkloadKind::DaemonSet
                    | WorkloadKind::ReplicaSet
            );
            if let Some(sel) = &w.selector
                && label_selector
            {
                let expressions = sel.match_expressions.as_deref().unwrap_or_default();
                if sel.match_labels.is_empty() && expressions.is_empty() {
                    why.push(
                        "spec.selector is empty: it must select the pod template's labels"
                            .to_owned(),
                    );
                }
                if sel.match_labels.iter().any(|(k, _)| k.is_empty())
                    || expressions.iter().any(|e| e.key.is_empty())
                {
                    why.push("spec.selector has a requirement with an empty key".to_owned());
                }
                if let Err(e) = Selector::from_k8s(&sel.to_k8s()) {
                    why.push(format!("spec.selector: {e}"));
                }
            }
            if !why.is_empty() {
                out.push(ctx.hit(i, None, why.join("; ")));
            }
        }
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_api_server() {
        for ok in ["web", "web-1", "a.b-c.d", "0abc", &"a".repeat(253)] {
            assert_eq!(name_problem("Deployment", ok), None, "{ok}");
        }
        for bad in [
            "",
            "../../escaped",
            "/etc/passwd",
            "Web",
            "a\nkind: Secret",
            "-a",
            "a-",
            "a..b",
            "a_b",
            &"a".repeat(254),
        ] {
            assert!(name_problem("Deployment", bad).is_some(), "{bad:?}");
        }
        assert!(name_problem("Service", "0web").is_some());
        assert!(name_problem("Service", "a.b").is_some());
        assert_eq!(name_problem("Service", "web-0"), None);
        assert_eq!(namespace_problem("shop"), None);
        assert!(namespace_problem("Shop").is_some());
        assert!(namespace_problem("a.b").is_some());
    }
}
