//! Polls the application's own health check so `/ready` never says ready before the application is.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode, Uri};
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::metrics::Metrics;

/// While the health check keeps failing, it is logged again this often: enough to find in the
/// log why a pod stays unready, too rare to flood it.
const REPEAT_FAILURE_LOG: Duration = Duration::from_secs(30);

/// Latest health-check verdict, shared with the admin listener.
#[derive(Debug, Clone, Default)]
pub struct Health {
    healthy: Arc<AtomicBool>,
}

impl Health {
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    fn set(&self, healthy: bool, metrics: &Metrics) {
        self.healthy.store(healthy, Ordering::Relaxed);
        metrics.upstream_healthy.set(i64::from(healthy));
    }
}

/// What one health check got.
#[derive(Debug)]
enum Outcome {
    Status(StatusCode),
    Error(String),
    Timeout(Duration),
}

impl Outcome {
    fn passed(&self) -> bool {
        matches!(self, Outcome::Status(s) if s.is_success() || s.is_redirection())
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Status(s) => write!(f, "status {s}"),
            Outcome::Error(e) => write!(f, "{e}"),
            Outcome::Timeout(d) => write!(f, "no answer within {d:?}"),
        }
    }
}

/// Which health-check results are worth a log line: the first failure, then one every
/// [`REPEAT_FAILURE_LOG`] while it keeps failing, and the recovery.
#[derive(Debug, Default)]
struct FailureLog {
    /// Since when the check fails, and how many times it did.
    failing: Option<(Instant, u64)>,
    last_logged: Option<Instant>,
    ever_passed: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum Report {
    Quiet,
    /// `first` is the first failure of a run; `starting` when the check never passed yet (the
    /// application is probably still starting).
    Failing {
        first: bool,
        starting: bool,
        failures: u64,
        since: Duration,
    },
    Recovered {
        failures: u64,
        after: Duration,
    },
}

impl FailureLog {
    fn on_check(&mut self, passed: bool, now: Instant) -> Report {
        if passed {
            self.ever_passed = true;
            self.last_logged = None;
            return match self.failing.take() {
                Some((since, failures)) => Report::Recovered {
                    failures,
                    after: now.saturating_duration_since(since),
                },
                None => Report::Quiet,
            };
        }
        let (since, failures) = self.failing.get_or_insert((now, 0));
        *failures += 1;
        let (since, failures) = (*since, *failures);
        let due = self
            .last_logged
            .is_none_or(|at| now.saturating_duration_since(at) >= REPEAT_FAILURE_LOG);
        if !due {
            return Report::Quiet;
        }
        self.last_logged = Some(now);
        Report::Failing {
            first: failures == 1,
            starting: !self.ever_passed,
            failures,
            since: now.saturating_duration_since(since),
        }
    }
}

fn log(report: &Report, path: &str, outcome: &Outcome) {
    let hint = match outcome {
        Outcome::Status(StatusCode::NOT_FOUND) => {
            "the application does not serve this path: set --health-path to its health check"
        }
        Outcome::Status(_) => "/ready stays 503 until the check answers 2xx or 3xx",
        _ => "/ready stays 503 until the application answers",
    };
    match *report {
        Report::Quiet => {}
        Report::Failing {
            first: true,
            starting: true,
            ..
        } => tracing::info!(
            health_path = %path,
            got = %outcome,
            "the application's health check does not pass yet; {hint}"
        ),
        Report::Failing {
            failures, since, ..
        } => tracing::warn!(
            health_path = %path,
            got = %outcome,
            failures,
            failing_for = ?since,
            "the application's health check fails; {hint}"
        ),
        Report::Recovered { failures, after } => tracing::info!(
            health_path = %path,
            failures,
            failed_for = ?after,
            "the application's health check passes"
        ),
    }
}

/// Checks `path` on `addr` every `interval` until the task is dropped. Each check is bounded by
/// `interval`, so `/ready` follows the application within one period even when it hangs.
pub async fn check_loop(
    health: Health,
    addr: SocketAddr,
    path: String,
    interval: Duration,
    metrics: Arc<Metrics>,
) {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(interval));
    // A fresh connection per check: it also proves the application still accepts connections.
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(connector);
    let uri: Option<Uri> = format!("http://{addr}{path}").parse().ok();
    let Some(uri) = uri else {
        tracing::error!(health_path = %path, "the health path is not a valid URI path (set --health-path to e.g. /healthz); the proxy stays unready");
        return;
    };
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failures = FailureLog::default();
    loop {
        ticker.tick().await;
        let outcome = match Request::get(uri.clone()).body(Empty::new()) {
            Ok(req) => match tokio::time::timeout(interval, client.request(req)).await {
                Ok(Ok(resp)) => Outcome::Status(resp.status()),
                Ok(Err(e)) => Outcome::Error(error_chain(&e)),
                Err(_) => Outcome::Timeout(interval),
            },
            Err(e) => Outcome::Error(e.to_string()),
        };
        let passed = outcome.passed();
        log(&failures.on_check(passed, Instant::now()), &path, &outcome);
        health.set(passed, &metrics);
    }
}

/// hyper-util's client error says "client error (Connect)"; the cause (connection refused) is
/// in its sources.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_logged_first_then_every_thirty_seconds_then_the_recovery() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut log = FailureLog::default();
        assert_eq!(
            log.on_check(false, at(0)),
            Report::Failing {
                first: true,
                starting: true,
                failures: 1,
                since: Duration::ZERO
            }
        );
        for s in 1..30 {
            assert_eq!(log.on_check(false, at(s)), Report::Quiet, "at {s} s");
        }
        assert_eq!(
            log.on_check(false, at(30)),
            Report::Failing {
                first: false,
                starting: true,
                failures: 31,
                since: Duration::from_secs(30)
            }
        );
        assert_eq!(log.on_check(false, at(31)), Report::Quiet);
        assert_eq!(
            log.on_check(true, at(32)),
            Report::Recovered {
                failures: 32,
                after: Duration::from_secs(32)
            }
        );
        assert_eq!(log.on_check(true, at(33)), Report::Quiet);
        // A new run of failures after it once passed is logged at once, as a warning.
        assert_eq!(
            log.on_check(false, at(34)),
            Report::Failing {
                first: true,
                starting: false,
                failures: 1,
                since: Duration::ZERO
            }
        );
    }

    /// Defect 9 of issue 15: an application without the health path left the proxy unready with
    /// nothing in the log. The log now names the path and what the check got.
    #[tokio::test]
    async fn a_failing_health_check_is_logged_with_its_path_and_status() {
        use std::io::Write;
        #[derive(Clone, Default)]
        struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Captured {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        // An application that answers 404 to everything.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(|_req| async {
                        let mut r = http::Response::new(http_body_util::Empty::<Bytes>::new());
                        *r.status_mut() = StatusCode::NOT_FOUND;
                        Ok::<_, std::convert::Infallible>(r)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        let health = Health::default();
        let checks = check_loop(
            health.clone(),
            addr,
            "/healthz".to_owned(),
            Duration::from_millis(50),
            Arc::new(Metrics::default()),
        );
        // Several checks, one line.
        let _ = tokio::time::timeout(Duration::from_millis(400), checks).await;
        assert!(!health.is_healthy());
        let text =
            String::from_utf8_lossy(&out.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("health check"))
            .collect();
        assert_eq!(lines.len(), 1, "{text}");
        assert!(
            lines[0].contains("/healthz")
                && lines[0].contains("404")
                && lines[0].contains("--health-path"),
            "{text}"
        );
    }
}
