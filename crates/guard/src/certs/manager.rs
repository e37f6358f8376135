//! The Kubernetes side of the self-signed mode: reads, creates and updates the Secret, patches the
//! `caBundle` of the webhook configuration, and feeds the TLS resolver. Decisions come from
//! [`super::plan`].
//!
//! RBAC it needs: Secrets get/create/update in its namespace (get and update may be limited to the
//! Secret's name with resourceNames; create cannot be), ValidatingWebhookConfigurations get/patch
//! on its own configuration's name. It reads the Secret by polling (`--cert-check-interval`), so it
//! needs no list/watch.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::json;

use super::{CertError, Material, Plan, Validity};
use crate::admin::Readiness;
use crate::server::CertResolver;

/// The readiness entry that stays pending until a certificate is served.
pub const READINESS: &str = "tls certificate";

/// Attempts of one reconcile against concurrent writers of the Secret.
const ATTEMPTS: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub namespace: String,
    pub secret: String,
    pub webhook_configuration: String,
    pub service: String,
    pub validity: Validity,
}

/// What [`CertManager::publish`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// Every webhook already carried the bundle.
    Unchanged,
    /// Number of webhooks patched.
    Patched(usize),
    /// The configuration does not exist (yet).
    Missing,
}

#[derive(Clone)]
pub struct CertManager {
    secrets: Api<Secret>,
    webhooks: Api<ValidatingWebhookConfiguration>,
    config: Config,
    dns: Vec<String>,
}

fn conflict_or_exists(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

impl CertManager {
    pub fn new(client: kube::Client, config: Config) -> Self {
        Self {
            secrets: Api::namespaced(client.clone(), &config.namespace),
            webhooks: Api::all(client),
            dns: super::dns_names(&config.service, &config.namespace),
            config,
        }
    }

    pub fn dns_names(&self) -> &[String] {
        &self.dns
    }

    fn secret_ref(&self) -> String {
        format!("{}/{}", self.config.namespace, self.config.secret)
    }

    fn secret_err(&self, action: &'static str) -> impl FnOnce(kube::Error) -> CertError + '_ {
        move |source| CertError::Secret {
            action,
            secret: self.secret_ref(),
            source,
        }
    }

    fn secret_object(&self, m: &Material, resource_version: Option<String>) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some(self.config.secret.clone()),
                namespace: Some(self.config.namespace.clone()),
                resource_version,
                labels: Some(
                    [
                        ("app.kubernetes.io/name".to_owned(), "steady".to_owned()),
                        (
                            "app.kubernetes.io/managed-by".to_owned(),
                            "steady-guard".to_owned(),
                        ),
                    ]
                    .into(),
                ),
                ..Default::default()
            },
            type_: Some("kubernetes.io/tls".into()),
            data: Some(
                m.to_secret_data()
                    .into_iter()
                    .map(|(k, v)| (k, ByteString(v)))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    /// Makes the Secret hold a usable, current certificate and returns it: creates it when missing
    /// (or when it is an empty placeholder), rotates what [`super::plan`] says is due. Writes carry
    /// a `resourceVersion` precondition, so among replicas racing only one write wins and the
    /// others read the winner's.
    pub async fn reconcile(&self, now: Timestamp) -> Result<Material, CertError> {
        let v = self.config.validity;
        for _ in 0..ATTEMPTS {
            let current = self
                .secrets
                .get_opt(&self.config.secret)
                .await
                .map_err(self.secret_err("read"))?;
            let Some(current) = current else {
                let m = super::generate(now, v, &self.dns)?;
                match self
                    .secrets
                    .create(&PostParams::default(), &self.secret_object(&m, None))
                    .await
                {
                    Ok(_) => {
                        tracing::info!(secret = %self.secret_ref(), "created the webhook CA and serving certificate");
                        return Ok(m);
                    }
                    // Another replica created it first: use theirs.
                    Err(e) if conflict_or_exists(&e) => continue,
                    Err(e) => return Err(self.secret_err("create")(e)),
                }
            };
            let data: std::collections::BTreeMap<String, Vec<u8>> = current
                .data
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect();
            let rv = current.metadata.resource_version.clone();
            let (next, steps) = if super::is_placeholder(&data) {
                (super::generate(now, v, &self.dns)?, None)
            } else {
                let m = super::from_secret_data(&self.secret_ref(), &data)?;
                let (next, steps) = super::settle(&m, now, v, &self.dns)?;
                if steps.is_empty() {
                    return Ok(m);
                }
                (next, Some(steps))
            };
            let mut obj = self.secret_object(&next, rv);
            // Keep what others put on the Secret (labels, annotations, owner references), and its
            // type, which the API server does not let change (an installer's placeholder may be
            // Opaque).
            obj.metadata = ObjectMeta {
                resource_version: obj.metadata.resource_version,
                ..current.metadata.clone()
            };
            obj.type_ = current.type_.clone().or(obj.type_);
            match self
                .secrets
                .replace(&self.config.secret, &PostParams::default(), &obj)
                .await
            {
                Ok(_) => {
                    match steps {
                        Some(steps) => {
                            let change = steps
                                .iter()
                                .map(Plan::to_string)
                                .collect::<Vec<_>>()
                                .join("; ");
                            tracing::info!(secret = %self.secret_ref(), %change, "rotated the webhook certificate")
                        }
                        None => {
                            tracing::info!(secret = %self.secret_ref(), "filled the empty Secret with a new CA and serving certificate")
                        }
                    }
                    return Ok(next);
                }
                Err(e) if conflict_or_exists(&e) => continue,
                Err(e) => return Err(self.secret_err("update")(e)),
            }
        }
        Err(CertError::Contended {
            secret: self.secret_ref(),
            attempts: ATTEMPTS,
        })
    }

    /// Sets `caBundle` on every webhook of the configuration that does not carry `bundle` yet (a
    /// strategic merge patch keyed by webhook name, with the configuration's resourceVersion as a
    /// precondition).
    pub async fn publish(&self, bundle: &[u8]) -> Result<Published, CertError> {
        let name = &self.config.webhook_configuration;
        let err = |action| {
            move |source| CertError::Webhook {
                action,
                name: name.clone(),
                source,
            }
        };
        let Some(whc) = self.webhooks.get_opt(name).await.map_err(err("read"))? else {
            return Ok(Published::Missing);
        };
        let stale: Vec<_> = whc
            .webhooks
            .iter()
            .flatten()
            .filter(|w| {
                w.client_config
                    .ca_bundle
                    .as_ref()
                    .is_none_or(|b| b.0 != bundle)
            })
            .map(|w| {
                json!({"name": w.name, "clientConfig": {"caBundle": ByteString(bundle.to_vec())}})
            })
            .collect();
        if stale.is_empty() {
            return Ok(Published::Unchanged);
        }
        let n = stale.len();
        let patch = json!({
            "metadata": {"resourceVersion": whc.metadata.resource_version},
            "webhooks": stale,
        });
        self.webhooks
            .patch(name, &PatchParams::default(), &Patch::Strategic(&patch))
            .await
            .map_err(err("patch"))?;
        Ok(Published::Patched(n))
    }

    /// One round: reconcile the Secret, serve its certificate, publish its bundle.
    async fn round(
        &self,
        resolver: &CertResolver,
        ready: &Readiness,
    ) -> Result<Published, CertError> {
        let m = self.reconcile(Timestamp::now()).await?;
        match resolver.set_pem(
            m.serving.pem.as_bytes(),
            m.serving_key_pem.as_bytes(),
            &format!("Secret {}", self.secret_ref()),
        ) {
            Ok(true) => {
                tracing::info!(secret = %self.secret_ref(), not_after = %m.serving.not_after, "serving the certificate from the Secret")
            }
            Ok(false) => {}
            Err(e) => {
                return Err(CertError::Corrupt {
                    secret: self.secret_ref(),
                    reason: e.to_string(),
                });
            }
        }
        ready.synced(READINESS);
        self.publish(&m.ca_bundle()).await
    }

    /// Keeps the certificate current until `stop` turns true: checks every `every`, sooner (from
    /// one second, doubling) while something is missing or failing.
    pub async fn run(
        self,
        resolver: Arc<CertResolver>,
        ready: Readiness,
        every: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        ready.register(READINESS);
        let mut retry = Duration::from_secs(1);
        let mut last_problem = String::new();
        loop {
            let wait = match self.round(&resolver, &ready).await {
                Ok(p) => {
                    if let Published::Patched(n) = p {
                        tracing::info!(configuration = %self.config.webhook_configuration, webhooks = n, "published the CA bundle");
                    }
                    if p == Published::Missing {
                        let problem = "missing".to_owned();
                        if problem != last_problem {
                            tracing::warn!(configuration = %self.config.webhook_configuration, "the ValidatingWebhookConfiguration does not exist; its caBundle will be set once it does");
                        }
                        last_problem = problem;
                        retry
                    } else {
                        last_problem.clear();
                        retry = Duration::from_secs(1);
                        every
                    }
                }
                Err(e) => {
                    let problem = e.to_string();
                    if problem != last_problem {
                        tracing::error!(error = %e, "webhook certificate");
                    }
                    last_problem = problem;
                    retry
                }
            };
            if wait == retry {
                retry = (retry * 2).min(every.max(Duration::from_secs(1)));
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = crate::stopped(&mut stop) => return,
            }
        }
    }
}
