//! Command-line options of `steady serve`. Every option also reads a `STEADY_*` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// PEM certificate chain served by the webhook; re-read when the file changes.
    #[arg(long, env = "STEADY_TLS_CERT_FILE")]
    pub tls_cert_file: PathBuf,

    /// PEM private key of the certificate; re-read when the file changes.
    #[arg(long, env = "STEADY_TLS_KEY_FILE")]
    pub tls_key_file: PathBuf,

    /// Address of the HTTPS webhook listener (path /validate/pods).
    #[arg(long, env = "STEADY_LISTEN", default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,

    /// Address of the plain-HTTP admin listener (/livez, /readyz, /metrics).
    #[arg(long, env = "STEADY_ADMIN_LISTEN", default_value = "0.0.0.0:9090")]
    pub admin_listen: SocketAddr,

    /// Also treat PodDisruptionBudgets as budgets for pod DELETE and disruptive UPDATE / resize,
    /// taking units in the PDB status as the eviction API does.
    #[arg(long, env = "STEADY_GUARD_PDB_DELETES")]
    pub guard_pdb_deletes: bool,

    /// Time to answer one admission review, in milliseconds; keep it below the webhook's
    /// timeoutSeconds.
    #[arg(long, env = "STEADY_REQUEST_DEADLINE_MS", default_value_t = 8000)]
    pub request_deadline_ms: u64,

    /// Decisions (status writes) tried per request before refusing with 429.
    #[arg(long, env = "STEADY_MAX_ATTEMPTS", default_value_t = 10)]
    pub max_attempts: u32,

    /// Largest accepted AdmissionReview body, in bytes.
    #[arg(long, env = "STEADY_MAX_BODY_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Time allowed for a client to send its request headers, in milliseconds.
    #[arg(long, env = "STEADY_HEADER_READ_TIMEOUT_MS", default_value_t = 5000)]
    pub header_read_timeout_ms: u64,

    /// How often the certificate and key files are checked for changes, in milliseconds.
    #[arg(long, env = "STEADY_CERT_RELOAD_MS", default_value_t = 2000)]
    pub cert_reload_ms: u64,

    /// How long a disruption recorded in a budget's status counts when the pod does not go away,
    /// in seconds (then a NotDeleted Event).
    #[arg(long, env = "STEADY_EXPIRY_SECONDS", default_value_t = 120)]
    pub expiry_seconds: u64,

    /// Full recompute of every budget at least this often, in seconds (for time-based changes).
    #[arg(long, env = "STEADY_RESYNC_SECONDS", default_value_t = 10)]
    pub resync_seconds: u64,

    /// Namespace of the Lease that elects the status writer (usually steady's own namespace).
    #[arg(long, env = "STEADY_LEASE_NAMESPACE", default_value = "steady-system")]
    pub lease_namespace: String,

    /// Name of the Lease.
    #[arg(long, env = "STEADY_LEASE_NAME", default_value = "steady-guard")]
    pub lease_name: String,

    /// This replica's identity in the Lease and in Events (the pod name in a cluster).
    #[arg(long, env = "STEADY_IDENTITY")]
    pub identity: Option<String>,
}

impl Args {
    pub fn request_deadline(&self) -> Duration {
        Duration::from_millis(self.request_deadline_ms)
    }
}
