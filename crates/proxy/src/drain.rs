//! The shutdown sequence as shared state: which phase the proxy is in, and how many client
//! connections are still open. Listeners, connections, readiness and the admin API all watch it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use tokio::sync::watch;

/// Phases in the order they happen; each only moves forward. The numbers are the `drain_state`
/// metric's values and the form kept in an atomic for per-request reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Phase {
    /// Normal service.
    Serving = 0,
    /// Shutdown has begun: /ready fails, but we keep accepting and serving while endpoints catch up.
    Delaying = 1,
    /// Listeners are closed; connections are being closed gracefully.
    Closing = 2,
    /// The drain deadline passed (or nothing was left): remaining connections are cut.
    Stopped = 3,
}

impl Phase {
    /// Numeric value exported as the `drain_state` metric.
    pub fn as_metric(self) -> i64 {
        i64::from(self as u8)
    }

    fn from_u8(n: u8) -> Phase {
        match n {
            0 => Phase::Serving,
            1 => Phase::Delaying,
            2 => Phase::Closing,
            _ => Phase::Stopped,
        }
    }
}

/// Why shutdown began; only for the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Signal,
    DrainRequest,
    Api,
}

#[derive(Debug)]
struct Inner {
    phase: watch::Sender<Phase>,
    /// The same phase as a plain atomic, so the per-request checks take no lock.
    phase_now: AtomicU8,
    conns: watch::Sender<usize>,
    finished: watch::Sender<bool>,
}

/// Shared drain state. Cloning is cheap; all clones see the same phase.
#[derive(Debug, Clone)]
pub struct Drain {
    inner: Arc<Inner>,
}

impl Default for Drain {
    fn default() -> Self {
        Self::new()
    }
}

impl Drain {
    pub fn new() -> Self {
        Drain {
            inner: Arc::new(Inner {
                phase: watch::Sender::new(Phase::Serving),
                phase_now: AtomicU8::new(Phase::Serving as u8),
                conns: watch::Sender::new(0),
                finished: watch::Sender::new(false),
            }),
        }
    }

    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.inner.phase_now.load(Ordering::Acquire))
    }

    pub fn subscribe(&self) -> watch::Receiver<Phase> {
        self.inner.phase.subscribe()
    }

    /// Starts shutdown; returns false when it had already begun (a second trigger changes nothing).
    pub fn begin(&self, trigger: Trigger) -> bool {
        let started = self.advance(Phase::Delaying);
        if started {
            tracing::info!(
                ?trigger,
                "shutdown begun: /ready now fails, still serving during the drain delay"
            );
        }
        started
    }

    /// Moves to `to` if that is forward; true when the phase changed.
    pub(crate) fn advance(&self, to: Phase) -> bool {
        self.inner.phase.send_if_modified(|p| {
            if *p < to {
                *p = to;
                // Before the watch wakes anyone, so whoever it wakes reads the new phase.
                self.inner.phase_now.store(to as u8, Ordering::Release);
                true
            } else {
                false
            }
        })
    }

    /// Waits until shutdown has begun.
    pub async fn begun(&self) {
        self.reached(Phase::Delaying).await;
    }

    /// Waits until the phase is `phase` or later.
    pub async fn reached(&self, phase: Phase) {
        let mut rx = self.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(|p| *p >= phase).await.is_ok();
    }

    /// Counts a client connection until the returned guard is dropped.
    pub fn track(&self) -> ConnGuard {
        self.inner.conns.send_modify(|n| *n += 1);
        ConnGuard {
            drain: self.clone(),
        }
    }

    pub fn connections(&self) -> usize {
        *self.inner.conns.borrow()
    }

    /// Waits until no client connection is left, or `limit` passes; true when none is left.
    pub async fn wait_no_connections(&self, limit: Duration) -> bool {
        let mut rx = self.inner.conns.subscribe();
        tokio::time::timeout(limit, rx.wait_for(|n| *n == 0))
            .await
            .is_ok()
    }

    pub(crate) fn mark_finished(&self) {
        self.inner.finished.send_replace(true);
    }

    /// Waits until the whole shutdown sequence has finished (what `POST /drain` blocks on).
    pub async fn finished(&self) {
        let mut rx = self.inner.finished.subscribe();
        let _ = rx.wait_for(|f| *f).await;
    }
}

/// Keeps a connection counted while it lives.
#[derive(Debug)]
pub struct ConnGuard {
    drain: Drain,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.drain
            .inner
            .conns
            .send_modify(|n| *n = n.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_only_move_forward() {
        let d = Drain::new();
        assert!(d.begin(Trigger::Api));
        assert!(!d.begin(Trigger::Signal));
        assert!(d.advance(Phase::Closing));
        assert!(!d.advance(Phase::Delaying));
        assert_eq!(d.phase(), Phase::Closing);
    }

    #[tokio::test]
    async fn reached_wakes_through_every_phase_change() {
        let d = Drain::new();
        let waiter = {
            let d = d.clone();
            tokio::spawn(async move { d.reached(Phase::Closing).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        // An intermediate phase wakes the waiter without finishing it; it must register again.
        d.begin(Trigger::Api);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiter.is_finished());
        d.advance(Phase::Closing);
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("woken by the second change")
            .expect("task");
    }

    #[tokio::test]
    async fn connection_count_follows_guards() {
        let d = Drain::new();
        let a = d.track();
        let b = d.track();
        assert_eq!(d.connections(), 2);
        drop(a);
        assert!(!d.wait_no_connections(Duration::from_millis(20)).await);
        drop(b);
        assert!(d.wait_no_connections(Duration::from_millis(20)).await);
    }
}
