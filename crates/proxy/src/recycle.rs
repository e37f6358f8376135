//! Connection recycling by request count and by age. Written by hand because hyper has neither a
//! max-requests nor a max-age setting: we count requests per connection and let the response that
//! crosses a limit carry `Connection: close` (HTTP/1) or trigger a graceful GOAWAY (HTTP/2).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// Limits shared by all connections.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// 0 means no limit.
    pub max_requests: u64,
    /// `None` means no limit.
    pub max_age: Option<Duration>,
}

/// Why a connection is being recycled; also the `reason` label of the metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Requests,
    Age,
}

impl Reason {
    pub fn label(self) -> &'static str {
        match self {
            Reason::Requests => "requests",
            Reason::Age => "age",
        }
    }
}

/// Per-connection bookkeeping, shared between the connection task and its requests.
#[derive(Debug)]
pub struct ConnState {
    opened: Instant,
    /// When this connection reaches its maximum age (with its own jitter).
    pub deadline: Option<Instant>,
    max_requests: u64,
    requests: AtomicU64,
    /// Milliseconds since `opened` of the latest request; lets shutdown spare connections a client
    /// is actively using.
    last_request_ms: AtomicU64,
    recycled: AtomicBool,
    /// Wakes an HTTP/2 connection task so it sends GOAWAY.
    pub recycle_now: Notify,
    /// The application's side of an HTTP/1 upgrade (WebSocket and the like) the last response
    /// switched to; the connection task splices the client's socket to it.
    pub tunnel: Mutex<Option<hyper::upgrade::Upgraded>>,
}

impl ConnState {
    pub fn new(limits: Limits) -> Self {
        let opened = Instant::now();
        ConnState {
            opened,
            deadline: limits.max_age.map(|age| opened + jittered(age)),
            max_requests: limits.max_requests,
            requests: AtomicU64::new(0),
            last_request_ms: AtomicU64::new(0),
            recycled: AtomicBool::new(false),
            recycle_now: Notify::new(),
            tunnel: Mutex::new(None),
        }
    }

    /// Counts one request; returns the reason when this request crosses a limit. Only the first
    /// crossing reports, so the metric counts connections, not requests.
    pub fn on_request(&self) -> Option<Reason> {
        let now = Instant::now();
        self.last_request_ms.store(
            now.duration_since(self.opened).as_millis() as u64,
            Ordering::Relaxed,
        );
        let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let reason = if self.max_requests > 0 && n >= self.max_requests {
            Some(Reason::Requests)
        } else if self.deadline.is_some_and(|d| now >= d) {
            Some(Reason::Age)
        } else {
            None
        };
        reason.filter(|_| self.mark_recycled())
    }

    /// True the first time only.
    pub fn mark_recycled(&self) -> bool {
        !self.recycled.swap(true, Ordering::Relaxed)
    }

    pub fn is_recycled(&self) -> bool {
        self.recycled.load(Ordering::Relaxed)
    }

    /// When the latest request arrived (or when the connection opened).
    pub fn last_used(&self) -> Instant {
        self.opened + Duration::from_millis(self.last_request_ms.load(Ordering::Relaxed))
    }
}

/// `age` scaled by a uniform factor in [0.9, 1.1], so connections opened together (a client
/// pool after a deploy) do not all close together.
pub fn jittered(age: Duration) -> Duration {
    age.mul_f64(rand::random_range(0.9..=1.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nth_request_crosses_the_limit_once() {
        let c = ConnState::new(Limits {
            max_requests: 3,
            max_age: None,
        });
        assert_eq!(c.on_request(), None);
        assert_eq!(c.on_request(), None);
        assert_eq!(c.on_request(), Some(Reason::Requests));
        assert_eq!(c.on_request(), None);
        assert!(c.is_recycled());
    }

    #[test]
    fn age_deadline_is_jittered_within_ten_percent() {
        let age = Duration::from_secs(10);
        let samples: Vec<Duration> = (0..200).map(|_| jittered(age)).collect();
        assert!(
            samples
                .iter()
                .all(|d| *d >= age.mul_f64(0.9) && *d <= age.mul_f64(1.1))
        );
        let min = samples.iter().min().copied().unwrap_or_default();
        let max = samples.iter().max().copied().unwrap_or_default();
        assert!(
            max - min > Duration::from_secs(1),
            "jitter spread {min:?}..{max:?}"
        );
    }

    #[test]
    fn an_expired_connection_recycles_on_its_next_request() {
        let c = ConnState::new(Limits {
            max_requests: 0,
            max_age: Some(Duration::ZERO),
        });
        assert_eq!(c.on_request(), Some(Reason::Age));
    }
}
