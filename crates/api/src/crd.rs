//! The CustomResourceDefinition, generated from the types so the two never drift.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use serde_json::Value;

use crate::PodUnavailableBudget;

#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    #[error("cannot render the CRD as YAML: {0}")]
    Yaml(#[from] serde_saphyr::SerializeError),
}

pub fn crd() -> CustomResourceDefinition {
    let mut crd = PodUnavailableBudget::crd();
    for version in &mut crd.spec.versions {
        if let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            let mut value = serde_json::to_value(&*schema).unwrap_or(Value::Null);
            drop_nullable(&mut value);
            if let Ok(stripped) = serde_json::from_value(value) {
                *schema = stripped;
            }
        }
    }
    crd
}

/// The derive marks every `Option` field `nullable`. The API server keeps an explicit `null` on a
/// nullable field, so `selector: null` would count as "set" for the exactly-one-of rules; without
/// `nullable` it prunes the null before validation, which is what a user writing `null` means.
fn drop_nullable(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.remove("nullable");
            if let Some(Value::Array(values)) = map.get_mut("enum") {
                values.retain(|e| !e.is_null());
            }
            map.values_mut().for_each(drop_nullable);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nullable),
        _ => {}
    }
}

/// The CRD as the YAML document committed in `deploy/crd.yaml`.
pub fn crd_yaml() -> Result<String, CrdError> {
    Ok(crate::yaml::to_string(&crd())?)
}
