//! TLS for client connections: the certificate resolver of steady-runtime (the webhook's), so the
//! pair is re-read when its files change and new handshakes get it without a restart.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use steady_runtime::tls::{CertResolver, acceptor as runtime_acceptor};
use tokio_rustls::TlsAcceptor;

use crate::Error;

/// How often the certificate and key files are checked for changes.
const RELOAD_EVERY: Duration = Duration::from_secs(2);

/// The acceptor and the task that reloads its certificate (abort it to stop reloading). Must be
/// called inside a tokio runtime.
pub fn acceptor(
    cert: &Path,
    key: &Path,
) -> Result<(TlsAcceptor, tokio::task::JoinHandle<()>), Error> {
    let resolver = CertResolver::new(cert, key)?;
    let reloader = resolver.spawn_reloader(RELOAD_EVERY);
    Ok((runtime_acceptor(Arc::clone(&resolver))?, reloader))
}
