//! Certificates of the webhook in `--cert-mode self-signed` (the default): the guard keeps its own
//! CA and serving certificate in a Secret, publishes the CA as the `caBundle` of its
//! ValidatingWebhookConfiguration, and rotates both before they expire. Every replica runs the same
//! loop and they agree through the Secret: it is created once (the loser of the create race reads
//! the winner's) and changed only with a `resourceVersion` precondition, so there is never a second
//! CA nobody publishes.
//!
//! The Secret (`--cert-secret`, default `steady-guard-tls`, type `kubernetes.io/tls`) holds:
//! `tls.crt` / `tls.key` (the serving certificate, SANs `NAME`, `NAME.NS`, `NAME.NS.svc`,
//! `NAME.NS.svc.cluster.local` for `--service-name NAME`), `ca.key` (the key of the signing CA) and
//! `ca.crt` (the signing CA first, then older CAs that have not expired yet: this is the bundle
//! published as `caBundle`).
//!
//! Validity: CA 10 years, serving certificate 1 year (never past its CA). Rotation, decided by
//! [`plan`]:
//! - a certificate is renewed once less than a third of its lifetime is left;
//! - a new CA is added in front of the bundle while the old one stays in it; the serving
//!   certificate keeps its old signer for [`CA_ADOPTION_DELAY`] so that every replica has published
//!   the two-CA bundle to the API server before any replica serves a certificate only the new CA
//!   vouches for; then it is re-issued by the new CA. Old CAs leave the bundle once expired.
//! - a serving certificate whose names no longer match the Service is re-issued at once.
//!
//! This module is pure (time is an argument); [`manager`] does the Kubernetes I/O.

pub mod manager;

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData,
};

pub use manager::CertManager;

/// Secret keys.
pub const TLS_CRT: &str = "tls.crt";
pub const TLS_KEY: &str = "tls.key";
pub const CA_CRT: &str = "ca.crt";
pub const CA_KEY: &str = "ca.key";

/// How long a new CA sits in the published bundle before serving certificates are issued by it.
pub const CA_ADOPTION_DELAY: SignedDuration = SignedDuration::from_mins(10);

/// `notBefore` is set this far in the past so that a peer whose clock lags accepts a fresh
/// certificate.
pub const BACKDATE: SignedDuration = SignedDuration::from_mins(5);

/// Lifetimes of newly issued certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub ca: SignedDuration,
    pub serving: SignedDuration,
}

impl Default for Validity {
    fn default() -> Self {
        Self {
            ca: SignedDuration::from_hours(24 * 3650),
            serving: SignedDuration::from_hours(24 * 365),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error(
        "Secret {secret} does not hold a usable certificate: {reason}. Delete it (kubectl delete secret -n {namespace} {name}) and the guard creates a new CA and certificate; or fix its {keys} keys",
        namespace = secret.split_once('/').map_or("", |(ns, _)| ns),
        name = secret.split_once('/').map_or(secret.as_str(), |(_, n)| n),
        keys = "tls.crt, tls.key, ca.crt, ca.key"
    )]
    Corrupt { secret: String, reason: String },
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("cannot {action} Secret {secret}: {source}")]
    Secret {
        action: &'static str,
        secret: String,
        source: kube::Error,
    },
    #[error("cannot {action} ValidatingWebhookConfiguration {name}: {source}")]
    Webhook {
        action: &'static str,
        name: String,
        source: kube::Error,
    },
    #[error(
        "Secret {secret} kept changing under us ({attempts} attempts); will try again on the next check"
    )]
    Contended { secret: String, attempts: u32 },
}

/// What this module needs to know about one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub pem: String,
    pub der: Vec<u8>,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    pub dns_names: Vec<String>,
    /// DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
}

impl CertInfo {
    fn lifetime(&self) -> SignedDuration {
        self.not_after.duration_since(self.not_before)
    }

    /// Less than a third of the lifetime left at `now`.
    pub fn due(&self, now: Timestamp) -> bool {
        let left = self.not_after.duration_since(now);
        left < self.lifetime() / 3
    }

    pub fn expired(&self, now: Timestamp) -> bool {
        now >= self.not_after
    }
}

/// The content of the Secret, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Material {
    /// Signing CA first, then older ones still published.
    pub cas: Vec<CertInfo>,
    pub ca_key_pem: String,
    pub serving: CertInfo,
    pub serving_key_pem: String,
    /// Index in `cas` of the serving certificate's issuer, if any of them.
    pub serving_issuer: Option<usize>,
}

impl Material {
    /// The `caBundle` to publish: every CA of the Secret, signing one first.
    pub fn ca_bundle(&self) -> Vec<u8> {
        self.cas
            .iter()
            .map(|c| c.pem.as_str())
            .collect::<String>()
            .into_bytes()
    }

    pub fn to_secret_data(&self) -> BTreeMap<String, Vec<u8>> {
        BTreeMap::from([
            (TLS_CRT.to_owned(), self.serving.pem.clone().into_bytes()),
            (
                TLS_KEY.to_owned(),
                self.serving_key_pem.clone().into_bytes(),
            ),
            (CA_CRT.to_owned(), self.ca_bundle()),
            (CA_KEY.to_owned(), self.ca_key_pem.clone().into_bytes()),
        ])
    }
}

/// DNS names the serving certificate must carry for the Service `service` in `namespace`.
pub fn dns_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        service.to_owned(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}

fn to_time(t: Timestamp) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(t.as_second())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

fn parse_pem_certs(pem: &[u8]) -> Result<Vec<CertInfo>, String> {
    let mut out = Vec::new();
    for block in x509_parser::pem::Pem::iter_from_buffer(pem) {
        let block = block.map_err(|e| format!("not PEM ({e})"))?;
        if block.label != "CERTIFICATE" {
            continue;
        }
        let cert = block
            .parse_x509()
            .map_err(|e| format!("not an X.509 certificate ({e})"))?;
        let validity = cert.validity();
        let dns_names = match cert.subject_alternative_name() {
            Ok(Some(san)) => san
                .value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some((*d).to_owned()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let der = block.contents.clone();
        out.push(CertInfo {
            pem: pem_string(&der),
            not_before: Timestamp::from_second(validity.not_before.timestamp())
                .unwrap_or(Timestamp::UNIX_EPOCH),
            not_after: Timestamp::from_second(validity.not_after.timestamp())
                .unwrap_or(Timestamp::UNIX_EPOCH),
            dns_names,
            spki: cert.public_key().raw.to_vec(),
            der,
        });
    }
    Ok(out)
}

fn pem_string(der: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::with_capacity(der.len() * 4 / 3 + 4);
    for chunk in der.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

fn key_spki(pem: &str) -> Result<Vec<u8>, String> {
    KeyPair::from_pem(pem)
        .map(|k| k.subject_public_key_info())
        .map_err(|e| format!("not a usable PEM private key ({e})"))
}

fn verifies(cert: &CertInfo, issuer: &CertInfo) -> bool {
    let Ok((_, c)) = x509_parser::parse_x509_certificate(&cert.der) else {
        return false;
    };
    let Ok((_, i)) = x509_parser::parse_x509_certificate(&issuer.der) else {
        return false;
    };
    c.verify_signature(Some(i.public_key())).is_ok()
}

/// Whether the Secret's data is empty: a Secret made by an installer as a placeholder, to fill.
pub fn is_placeholder(data: &BTreeMap<String, Vec<u8>>) -> bool {
    [TLS_CRT, TLS_KEY, CA_CRT, CA_KEY]
        .iter()
        .all(|k| data.get(*k).is_none_or(|v| v.is_empty()))
}

/// Reads and checks the Secret's data. `secret` is `namespace/name`, for the error.
pub fn from_secret_data(
    secret: &str,
    data: &BTreeMap<String, Vec<u8>>,
) -> Result<Material, CertError> {
    let corrupt = |reason: String| CertError::Corrupt {
        secret: secret.to_owned(),
        reason,
    };
    let get = |key: &str| -> Result<&[u8], CertError> {
        data.get(key)
            .map(Vec::as_slice)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| corrupt(format!("key {key} is missing or empty")))
    };
    let text = |key: &str| -> Result<String, CertError> {
        String::from_utf8(get(key)?.to_vec()).map_err(|_| corrupt(format!("{key} is not text")))
    };
    let cas = parse_pem_certs(get(CA_CRT)?).map_err(|e| corrupt(format!("{CA_CRT}: {e}")))?;
    if cas.is_empty() {
        return Err(corrupt(format!("{CA_CRT} holds no certificate")));
    }
    let ca_key_pem = text(CA_KEY)?;
    if key_spki(&ca_key_pem).map_err(|e| corrupt(format!("{CA_KEY}: {e}")))? != cas[0].spki {
        return Err(corrupt(format!(
            "{CA_KEY} is not the key of the first certificate in {CA_CRT}"
        )));
    }
    let serving = parse_pem_certs(get(TLS_CRT)?)
        .map_err(|e| corrupt(format!("{TLS_CRT}: {e}")))?
        .into_iter()
        .next()
        .ok_or_else(|| corrupt(format!("{TLS_CRT} holds no certificate")))?;
    let serving_key_pem = text(TLS_KEY)?;
    if key_spki(&serving_key_pem).map_err(|e| corrupt(format!("{TLS_KEY}: {e}")))? != serving.spki {
        return Err(corrupt(format!(
            "{TLS_KEY} is not the key of the certificate in {TLS_CRT}"
        )));
    }
    let serving_issuer = cas.iter().position(|ca| verifies(&serving, ca));
    Ok(Material {
        cas,
        ca_key_pem,
        serving,
        serving_key_pem,
        serving_issuer,
    })
}

/// What to change in the Secret at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Keep,
    /// Put a new CA in front of the bundle (the serving certificate stays as it is).
    RenewCa,
    RenewServing(ServingReason),
    /// Drop expired CAs from the bundle.
    Prune,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServingReason {
    Expiring,
    NamesChanged,
    /// Issued by an older CA; the signing CA has been published long enough.
    OlderIssuer,
    /// Issued by no CA of the bundle (the API server could not trust it).
    UnknownIssuer,
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Keep => "keep",
            Self::RenewCa => "new CA (less than a third of its lifetime left)",
            Self::RenewServing(ServingReason::Expiring) => {
                "new serving certificate (less than a third of its lifetime left)"
            }
            Self::RenewServing(ServingReason::NamesChanged) => {
                "new serving certificate (the Service's DNS names changed)"
            }
            Self::RenewServing(ServingReason::OlderIssuer) => {
                "new serving certificate issued by the new CA"
            }
            Self::RenewServing(ServingReason::UnknownIssuer) => {
                "new serving certificate (the current one was issued by no CA of the bundle)"
            }
            Self::Prune => "drop expired CAs from the bundle",
        })
    }
}

/// Decides what to change at `now`, one step at a time (the caller applies it, writes it, and asks
/// again).
pub fn plan(m: &Material, now: Timestamp, dns: &[String]) -> Plan {
    let ca = &m.cas[0];
    if ca.due(now) {
        return Plan::RenewCa;
    }
    let s = &m.serving;
    // Right after a CA rotation the new CA may not be in every API server's caBundle yet: a
    // serving certificate issued by an older CA that is due (but valid) waits for the adoption
    // delay instead of being re-issued by the new CA at once.
    let adopting = now < ca.not_before + BACKDATE + CA_ADOPTION_DELAY
        && m.serving_issuer.is_some_and(|i| i != 0);
    if s.expired(now) || (s.due(now) && !adopting) {
        return Plan::RenewServing(ServingReason::Expiring);
    }
    if dns.iter().any(|d| !s.dns_names.contains(d)) {
        return Plan::RenewServing(ServingReason::NamesChanged);
    }
    match m.serving_issuer {
        None => return Plan::RenewServing(ServingReason::UnknownIssuer),
        Some(0) => {}
        Some(_) => {
            if now >= ca.not_before + BACKDATE + CA_ADOPTION_DELAY {
                return Plan::RenewServing(ServingReason::OlderIssuer);
            }
        }
    }
    let issuer = m.serving_issuer.unwrap_or(0);
    if m.cas
        .iter()
        .enumerate()
        .any(|(i, c)| i != 0 && i != issuer && c.expired(now))
    {
        return Plan::Prune;
    }
    Plan::Keep
}

/// Most steps [`settle`] takes: a CA renewal, a serving renewal and a prune, with room to spare.
const MAX_STEPS: usize = 4;

/// Applies [`plan`] until it says [`Plan::Keep`], so that one write of the Secret leaves nothing
/// due: a CA renewed while the serving certificate had already expired must not publish that
/// expired certificate until the next check. Returns the result and the steps taken (none: keep).
pub fn settle(
    m: &Material,
    now: Timestamp,
    validity: Validity,
    dns: &[String],
) -> Result<(Material, Vec<Plan>), CertError> {
    let mut next = m.clone();
    let mut steps = Vec::new();
    while steps.len() < MAX_STEPS {
        let step = plan(&next, now, dns);
        if step == Plan::Keep {
            break;
        }
        next = apply(&next, step, now, validity, dns)?;
        steps.push(step);
    }
    Ok((next, steps))
}

fn new_ca(now: Timestamp, validity: Validity) -> Result<(CertInfo, String), CertError> {
    let key = KeyPair::generate()?;
    let mut p = CertificateParams::default();
    // A distinct name per CA so that clients holding two CAs in their bundle pick the right one.
    p.distinguished_name.push(
        DnType::CommonName,
        format!("steady-guard-ca@{}", now.as_second()),
    );
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = to_time(now - BACKDATE);
    p.not_after = to_time(now + validity.ca);
    let cert = p.self_signed(&key)?;
    let info = parse_pem_certs(cert.pem().as_bytes())
        .ok()
        .and_then(|v| v.into_iter().next())
        .ok_or(rcgen::Error::CouldNotParseCertificate)?;
    Ok((info, key.serialize_pem()))
}

fn new_serving(
    ca: &CertInfo,
    ca_key_pem: &str,
    now: Timestamp,
    validity: Validity,
    dns: &[String],
) -> Result<(CertInfo, String), CertError> {
    let ca_key = KeyPair::from_pem(ca_key_pem)?;
    let issuer = Issuer::from_ca_cert_der(&ca.der.clone().into(), ca_key)?;
    let key = KeyPair::generate()?;
    let mut p = CertificateParams::new(dns.to_vec())?;
    if let Some(cn) = dns.get(2).or(dns.first()) {
        p.distinguished_name.push(DnType::CommonName, cn.clone());
    }
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.use_authority_key_identifier_extension = true;
    p.not_before = to_time(now - BACKDATE);
    p.not_after = to_time((now + validity.serving).min(ca.not_after));
    let cert = p.signed_by(&key, &issuer)?;
    let info = parse_pem_certs(cert.pem().as_bytes())
        .ok()
        .and_then(|v| v.into_iter().next())
        .ok_or(rcgen::Error::CouldNotParseCertificate)?;
    Ok((info, key.serialize_pem()))
}

/// A fresh CA and a serving certificate it issued.
pub fn generate(now: Timestamp, validity: Validity, dns: &[String]) -> Result<Material, CertError> {
    let (ca, ca_key_pem) = new_ca(now, validity)?;
    let (serving, serving_key_pem) = new_serving(&ca, &ca_key_pem, now, validity, dns)?;
    Ok(Material {
        cas: vec![ca],
        ca_key_pem,
        serving,
        serving_key_pem,
        serving_issuer: Some(0),
    })
}

/// The Secret content after `plan`.
pub fn apply(
    m: &Material,
    plan: Plan,
    now: Timestamp,
    validity: Validity,
    dns: &[String],
) -> Result<Material, CertError> {
    let mut next = m.clone();
    match plan {
        Plan::Keep => {}
        Plan::RenewCa => {
            let (ca, key) = new_ca(now, validity)?;
            next.cas.retain(|c| !c.expired(now));
            next.cas.insert(0, ca);
            next.ca_key_pem = key;
        }
        Plan::RenewServing(_) => {
            let (serving, key) = new_serving(&m.cas[0], &m.ca_key_pem, now, validity, dns)?;
            next.serving = serving;
            next.serving_key_pem = key;
            next.cas.retain(|c| !c.expired(now));
        }
        Plan::Prune => {
            next.cas = m
                .cas
                .iter()
                .enumerate()
                .filter(|(i, c)| *i == 0 || !c.expired(now))
                .map(|(_, c)| c.clone())
                .collect();
        }
    }
    next.serving_issuer = next.cas.iter().position(|ca| verifies(&next.serving, ca));
    Ok(next)
}
