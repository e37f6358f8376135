//! TLS for both servers: rustls offering HTTP/2 and HTTP/1.1 by ALPN, with a certificate resolver
//! whose key pair is reloaded from its files when they change. Each new handshake gets the current
//! pair, so rotation (cert-manager, a Secret update) needs no restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds no PEM private key")]
    NoKey { path: PathBuf },
    #[error("the private key in {path} is not usable: {source}")]
    BadKey {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("cannot build the TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

impl TlsError {
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Read { .. } => "tls_read",
            Self::NoCertificate { .. } | Self::NoKey { .. } | Self::BadKey { .. } => "tls_pem",
            Self::Config(_) => "tls_config",
        }
    }
}

/// Serves the current key pair to every handshake; [`CertResolver::reload`] (files) or
/// [`CertResolver::set_pem`] (the self-signed Secret) swaps it. Without a key pair yet, handshakes
/// fail.
#[derive(Debug)]
pub struct CertResolver {
    /// Certificate and key files, when the key pair comes from files.
    files: Option<(PathBuf, PathBuf)>,
    current: RwLock<Option<(Arc<CertifiedKey>, Vec<u8>)>>,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn load(cert_path: &Path, key_path: &Path) -> Result<(Arc<CertifiedKey>, Vec<u8>), TlsError> {
    parse(read(cert_path)?, read(key_path)?, cert_path, key_path)
}

fn parse(
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    cert_path: &Path,
    key_path: &Path,
) -> Result<(Arc<CertifiedKey>, Vec<u8>), TlsError> {
    let certs: Vec<_> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert_path.to_owned(),
        });
    }
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .ok()
        .flatten()
        .ok_or_else(|| TlsError::NoKey {
            path: key_path.to_owned(),
        })?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key).map_err(|source| {
        TlsError::BadKey {
            path: key_path.to_owned(),
            source,
        }
    })?;
    let mut fingerprint = cert_pem;
    fingerprint.extend_from_slice(&key_pem);
    Ok((Arc::new(CertifiedKey::new(certs, signing)), fingerprint))
}

impl CertResolver {
    pub fn new(cert_path: &Path, key_path: &Path) -> Result<Arc<Self>, TlsError> {
        let current = load(cert_path, key_path)?;
        Ok(Arc::new(Self {
            files: Some((cert_path.to_owned(), key_path.to_owned())),
            current: RwLock::new(Some(current)),
        }))
    }

    /// A resolver with no key pair yet, filled by [`CertResolver::set_pem`].
    pub fn empty() -> Arc<Self> {
        Arc::new(Self {
            files: None,
            current: RwLock::new(None),
        })
    }

    pub fn is_loaded(&self) -> bool {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    fn unchanged(&self, cert: &[u8], key: &[u8]) -> bool {
        let cur = self.current.read().unwrap_or_else(PoisonError::into_inner);
        cur.as_ref().is_some_and(|cur| {
            cur.1.len() == cert.len() + key.len()
                && cur.1[..cert.len()] == cert[..]
                && cur.1[cert.len()..] == key[..]
        })
    }

    /// Re-reads the files; swaps the key pair when they changed and parse. Returns whether it
    /// swapped. A half-written or broken pair keeps the previous one in service.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let Some((cert_path, key_path)) = &self.files else {
            return Ok(false);
        };
        let cert = read(cert_path)?;
        let key = read(key_path)?;
        if self.unchanged(&cert, &key) {
            return Ok(false);
        }
        let next = load(cert_path, key_path)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(next);
        Ok(true)
    }

    /// Swaps in a PEM key pair held in memory (`source` names it in errors); returns whether it
    /// changed. A broken pair keeps the previous one in service.
    pub fn set_pem(&self, cert_pem: &[u8], key_pem: &[u8], source: &str) -> Result<bool, TlsError> {
        if self.unchanged(cert_pem, key_pem) {
            return Ok(false);
        }
        let next = parse(
            cert_pem.to_vec(),
            key_pem.to_vec(),
            Path::new(&format!("{source} tls.crt")),
            Path::new(&format!("{source} tls.key")),
        )?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(next);
        Ok(true)
    }

    /// Checks the files every `every` until the process ends.
    pub fn spawn_reloader(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match this.reload() {
                    Ok(true) => tracing::info!("reloaded the TLS certificate from its files"),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot reload the TLS certificate; keeping the current one")
                    }
                }
            }
        })
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|c| c.0.clone())
    }
}

pub fn acceptor(resolver: Arc<CertResolver>) -> Result<TlsAcceptor, TlsError> {
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
