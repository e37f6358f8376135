//! Command-line options of `steady serve`. Every option also reads a `STEADY_*` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Where the webhook's certificate comes from: `self-signed` (the guard keeps a CA and a
    /// serving certificate in the Secret --cert-secret, rotates them and patches the caBundle of
    /// --webhook-configuration) or `files` (--tls-cert-file / --tls-key-file, re-read when they
    /// change; what cert-manager mode uses). Default: `files` when both files are given, else
    /// `self-signed`.
    #[arg(long, env = "STEADY_CERT_MODE", value_enum)]
    pub cert_mode: Option<CertMode>,

    /// PEM certificate chain served by the webhook (files mode); re-read when the file changes.
    #[arg(long, env = "STEADY_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,

    /// PEM private key of the certificate (files mode); re-read when the file changes.
    #[arg(long, env = "STEADY_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,

    /// The guard's own namespace, where the self-signed mode keeps its Secret (required in that
    /// mode; in a pod, set it from the downward API).
    #[arg(long, env = "POD_NAMESPACE")]
    pub namespace: Option<String>,

    /// Secret holding the CA and serving certificate in self-signed mode.
    #[arg(long, env = "STEADY_CERT_SECRET", default_value = "steady-guard-tls")]
    pub cert_secret: String,

    /// ValidatingWebhookConfiguration whose webhooks' caBundle the self-signed mode sets.
    #[arg(
        long,
        env = "STEADY_WEBHOOK_CONFIGURATION",
        default_value = "steady-guard"
    )]
    pub webhook_configuration: String,

    /// Service in front of the guard; the self-signed certificate is valid for NAME, NAME.NS,
    /// NAME.NS.svc and NAME.NS.svc.cluster.local.
    #[arg(long, env = "STEADY_SERVICE_NAME", default_value = "steady-guard")]
    pub service_name: String,

    /// Lifetime of a self-signed CA, in days (renewed when a third is left).
    #[arg(long, env = "STEADY_CA_VALIDITY_DAYS", default_value_t = 3650)]
    pub ca_validity_days: u32,

    /// Lifetime of a self-signed serving certificate, in days (renewed when a third is left).
    #[arg(long, env = "STEADY_SERVING_VALIDITY_DAYS", default_value_t = 365)]
    pub serving_validity_days: u32,

    /// How often the self-signed mode reads the Secret (to pick up another replica's rotation) and
    /// the webhook configuration.
    #[arg(long, env = "STEADY_CERT_CHECK_INTERVAL", default_value = "30s", value_parser = steady_runtime::parse_duration)]
    pub cert_check_interval: Duration,

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

    /// Time to answer one admission review; keep it below the webhook's timeoutSeconds.
    #[arg(long, env = "STEADY_REQUEST_DEADLINE", default_value = "8s", value_parser = steady_runtime::parse_duration)]
    pub request_deadline: Duration,

    /// Decisions (status writes) tried per request before refusing with 429.
    #[arg(long, env = "STEADY_MAX_ATTEMPTS", default_value_t = 10)]
    pub max_attempts: u32,

    /// Largest accepted AdmissionReview body, in bytes.
    #[arg(long, env = "STEADY_MAX_BODY_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Time allowed for a client to send a request head once it began (and, on a new connection,
    /// its TLS handshake and first head). Not an idle timeout: see --idle-timeout.
    #[arg(long, env = "STEADY_HEADER_READ_TIMEOUT", default_value = "5s", value_parser = steady_runtime::parse_duration)]
    pub header_read_timeout: Duration,

    /// How long a keep-alive connection with no request in flight is kept, then closed gracefully
    /// (HTTP/2 GOAWAY; HTTP/1 between requests). Keep it above the API server's own idle timeout
    /// (90 s), so the API server is the one that closes, never racing a reuse.
    #[arg(long, env = "STEADY_IDLE_TIMEOUT", default_value = "120s", value_parser = steady_runtime::parse_duration)]
    pub idle_timeout: Duration,

    /// Most client connections served at once; when full, the oldest idle one is closed to make
    /// room, and a new one is refused only when all are busy. Default: from the open-files limit.
    #[arg(long, env = "STEADY_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// Largest request head (request line or pseudo-headers, and all headers), in bytes; a larger
    /// one gets 431.
    #[arg(long, env = "STEADY_MAX_HEADER_BYTES", default_value_t = steady_runtime::serve::DEFAULT_MAX_HEADER_BYTES)]
    pub max_header_bytes: usize,

    /// How often the certificate and key files are checked for changes.
    #[arg(long, env = "STEADY_CERT_RELOAD_INTERVAL", default_value = "2s", value_parser = steady_runtime::parse_duration)]
    pub cert_reload_interval: Duration,

    /// How long a disruption recorded in a budget's status counts when the pod does not go away
    /// (then a NotDeleted Event).
    #[arg(long, env = "STEADY_EXPIRY", default_value = "120s", value_parser = steady_runtime::parse_duration)]
    pub expiry: Duration,

    /// Full recompute of every budget at least this often (for time-based changes).
    #[arg(long, env = "STEADY_RESYNC_INTERVAL", default_value = "10s", value_parser = steady_runtime::parse_duration)]
    pub resync_interval: Duration,

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CertMode {
    SelfSigned,
    Files,
}

/// Where the certificate comes from, resolved from the options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertSource {
    Files { cert: PathBuf, key: PathBuf },
    SelfSigned(crate::certs::manager::Config),
}

#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    #[error(
        "--cert-mode files needs both --tls-cert-file and --tls-key-file (STEADY_TLS_CERT_FILE, STEADY_TLS_KEY_FILE)"
    )]
    FilesMissing,
    #[error(
        "--cert-mode self-signed needs --namespace (or POD_NAMESPACE, from the downward API in a pod): the namespace of the Secret {secret}"
    )]
    NamespaceMissing { secret: String },
    #[error(
        "--tls-cert-file and --tls-key-file go together; give both (files mode) or neither (self-signed mode)"
    )]
    HalfAPair,
    #[error(
        "{old} is no longer read: durations are flags of their own now; set {new} instead, as a duration such as {example}"
    )]
    RenamedVariable {
        old: &'static str,
        new: &'static str,
        example: &'static str,
    },
}

/// The variables of the integer-millisecond and integer-second options, replaced by durations
/// (`8s`, `2m`). Left set, they would be ignored without a word; `steady serve` refuses to start.
const RENAMED_VARIABLES: [(&str, &str, &str); 6] = [
    (
        "STEADY_REQUEST_DEADLINE_MS",
        "STEADY_REQUEST_DEADLINE",
        "8s",
    ),
    (
        "STEADY_HEADER_READ_TIMEOUT_MS",
        "STEADY_HEADER_READ_TIMEOUT",
        "5s",
    ),
    ("STEADY_CERT_RELOAD_MS", "STEADY_CERT_RELOAD_INTERVAL", "2s"),
    (
        "STEADY_CERT_CHECK_SECONDS",
        "STEADY_CERT_CHECK_INTERVAL",
        "30s",
    ),
    ("STEADY_EXPIRY_SECONDS", "STEADY_EXPIRY", "120s"),
    ("STEADY_RESYNC_SECONDS", "STEADY_RESYNC_INTERVAL", "10s"),
];

/// Refuses a variable of a renamed option, naming the new one.
pub fn check_renamed_variables(get: impl Fn(&str) -> Option<String>) -> Result<(), ArgsError> {
    for (old, new, example) in RENAMED_VARIABLES {
        if get(old).is_some() {
            return Err(ArgsError::RenamedVariable { old, new, example });
        }
    }
    Ok(())
}

impl Args {
    /// How the webhook treats client connections.
    pub fn http(&self) -> steady_runtime::serve::Http {
        steady_runtime::serve::Http {
            deadlines: steady_runtime::Deadlines {
                header: self.header_read_timeout.max(Duration::from_millis(1)),
                idle: self.idle_timeout,
                goaway_grace: steady_runtime::deadline::DEFAULT_GOAWAY_GRACE,
            },
            max_header_bytes: self.max_header_bytes,
        }
    }

    /// --max-connections, or what the open-files limit allows (one descriptor per connection).
    pub fn max_connections(&self, nofile: Option<u64>) -> usize {
        self.max_connections
            .unwrap_or_else(|| steady_runtime::fds::default_max_connections(nofile, 1))
    }

    pub fn cert_source(&self) -> Result<CertSource, ArgsError> {
        let files = match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(c), Some(k)) => Some((c.clone(), k.clone())),
            (None, None) => None,
            _ => return Err(ArgsError::HalfAPair),
        };
        let mode = self.cert_mode.unwrap_or(if files.is_some() {
            CertMode::Files
        } else {
            CertMode::SelfSigned
        });
        match mode {
            CertMode::Files => {
                let (cert, key) = files.ok_or(ArgsError::FilesMissing)?;
                Ok(CertSource::Files { cert, key })
            }
            CertMode::SelfSigned => {
                let namespace = self
                    .namespace
                    .clone()
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| ArgsError::NamespaceMissing {
                        secret: self.cert_secret.clone(),
                    })?;
                let day = jiff::SignedDuration::from_hours(24);
                Ok(CertSource::SelfSigned(crate::certs::manager::Config {
                    namespace,
                    secret: self.cert_secret.clone(),
                    webhook_configuration: self.webhook_configuration.clone(),
                    service: self.service_name.clone(),
                    validity: crate::certs::Validity {
                        ca: day * i32::try_from(self.ca_validity_days.max(1)).unwrap_or(i32::MAX),
                        serving: day
                            * i32::try_from(self.serving_validity_days.max(1)).unwrap_or(i32::MAX),
                    },
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(argv: &[&str]) -> Args {
        Cli::try_parse_from(std::iter::once("serve").chain(argv.iter().copied()))
            .unwrap()
            .args
    }

    #[test]
    fn files_given_means_files_mode() {
        let a = parse(&["--tls-cert-file", "c.pem", "--tls-key-file", "k.pem"]);
        assert_eq!(
            a.cert_source().unwrap(),
            CertSource::Files {
                cert: "c.pem".into(),
                key: "k.pem".into()
            }
        );
    }

    #[test]
    fn self_signed_names_and_defaults() {
        let a = parse(&["--cert-mode", "self-signed", "--namespace", "steady-system"]);
        let CertSource::SelfSigned(c) = a.cert_source().unwrap() else {
            panic!("self-signed expected");
        };
        assert_eq!(c.namespace, "steady-system");
        assert_eq!(c.secret, "steady-guard-tls");
        assert_eq!(c.webhook_configuration, "steady-guard");
        assert_eq!(c.service, "steady-guard");
        assert_eq!(c.validity, crate::certs::Validity::default());
    }

    #[test]
    fn self_signed_without_namespace_is_a_clear_error() {
        let mut a = parse(&["--cert-mode", "self-signed"]);
        a.namespace = None; // POD_NAMESPACE may be set where the tests run
        let e = a.cert_source().unwrap_err().to_string();
        assert!(
            e.contains("--namespace") && e.contains("POD_NAMESPACE"),
            "{e}"
        );
    }

    #[test]
    fn durations_take_jiff_spellings_and_default_as_before() {
        let a = parse(&[]);
        assert_eq!(a.request_deadline, Duration::from_secs(8));
        assert_eq!(a.header_read_timeout, Duration::from_secs(5));
        assert_eq!(a.cert_reload_interval, Duration::from_secs(2));
        assert_eq!(a.cert_check_interval, Duration::from_secs(30));
        assert_eq!(a.expiry, Duration::from_secs(120));
        assert_eq!(a.resync_interval, Duration::from_secs(10));
        let a = parse(&[
            "--request-deadline",
            "2500ms",
            "--expiry",
            "1m 30s",
            "--resync-interval",
            "3",
        ]);
        assert_eq!(a.request_deadline, Duration::from_millis(2500));
        assert_eq!(a.expiry, Duration::from_secs(90));
        assert_eq!(a.resync_interval, Duration::from_secs(3));
        let e = Cli::try_parse_from(["serve", "--expiry=-5s"])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("negative"), "{e}");
    }

    #[test]
    fn a_variable_of_a_renamed_option_is_refused_with_the_new_name() {
        let e =
            check_renamed_variables(|k| (k == "STEADY_EXPIRY_SECONDS").then(|| "60".to_owned()))
                .unwrap_err()
                .to_string();
        assert!(
            e.contains("STEADY_EXPIRY_SECONDS")
                && e.contains("set STEADY_EXPIRY")
                && e.contains("120s"),
            "{e}"
        );
        assert!(check_renamed_variables(|_| None).is_ok());
    }

    #[test]
    fn files_mode_without_files_and_half_a_pair_are_errors() {
        let a = parse(&["--cert-mode", "files"]);
        assert!(matches!(a.cert_source(), Err(ArgsError::FilesMissing)));
        let a = parse(&["--tls-cert-file", "c.pem"]);
        assert!(matches!(a.cert_source(), Err(ArgsError::HalfAPair)));
    }
}
