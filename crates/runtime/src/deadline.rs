//! Deadlines of one client connection, the same for HTTP/1 and HTTP/2 and for both servers.
//!
//! - **header**: a request head must be complete this long after it began (its first byte for
//!   HTTP/1, its HEADERS frame for HTTP/2), and a new connection must have sent its first head this
//!   long after it opened. Past it the connection is closed at once: a client stuck in the middle
//!   of a head cannot be told anything.
//! - **idle**: a connection that carried requests and has none in flight is closed this long after
//!   its last one ended, gracefully (HTTP/2 GOAWAY; HTTP/1 only between requests). Separate from
//!   the header deadline because a client's pool keeps connections idle for long on purpose: the
//!   webhook's client, the API server, keeps them 90 s.
//! - **goaway grace**: after GOAWAY, a connection with no stream left is closed this long later
//!   even if its client never acknowledges (hyper's graceful shutdown waits for a PING ack).
//!
//! [`Activity`] is fed by the connection's socket ([`crate::Watched`]) and service
//! ([`crate::Tracked`]); [`due`] is the pure rule that turns its state into the next deadline.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
// tokio's clock, so tests can run the deadlines on paused time.
use tokio::time::Instant;

/// How long after GOAWAY a connection with no stream left is closed: ample for a PING round trip
/// and the client's last frames, short enough that a client that never answers frees its socket.
pub const DEFAULT_GOAWAY_GRACE: Duration = Duration::from_secs(10);

/// The deadlines every connection of one server gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub header: Duration,
    pub idle: Duration,
    pub goaway_grace: Duration,
}

/// Why a connection's time is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// A request head (or the first one) is late: close now.
    Header,
    /// Idle too long: close gracefully (GOAWAY, or at once for an idle HTTP/1 connection).
    Idle,
    /// The connection limit chose this idle connection to make room: close gracefully.
    Shed,
    /// GOAWAY was sent and the grace is over: close now.
    Grace,
}

impl Expiry {
    /// Whether the connection is closed at once rather than told first.
    pub fn is_hard(self) -> bool {
        matches!(self, Expiry::Header | Expiry::Grace)
    }

    /// The `reason` label of the closed-connections metric and of logs.
    pub fn label(self) -> &'static str {
        match self {
            Expiry::Header => "header_timeout",
            Expiry::Idle => "idle_timeout",
            Expiry::Shed => "shed",
            Expiry::Grace => "goaway_grace",
        }
    }
}

/// What a connection is doing, as far as its deadlines care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    pub opened: Instant,
    /// Requests handed to the service so far.
    pub requests: u64,
    /// Requests whose response has not been fully sent yet (HTTP/2: open streams).
    pub in_flight: u32,
    /// When the last request in flight ended (or the connection opened).
    pub idle_since: Instant,
    /// When the request head being received began, while one is incomplete.
    pub head_since: Option<Instant>,
    /// When GOAWAY (or, for HTTP/1, the last response) told the client to go.
    pub goaway_at: Option<Instant>,
}

/// The next deadline of a connection in `state`, or `None` while it only waits for its requests.
pub fn due(state: &State, d: &Deadlines) -> Option<(Instant, Expiry)> {
    if let Some(since) = state.head_since {
        return Some((since + d.header, Expiry::Header));
    }
    if state.in_flight > 0 {
        return None;
    }
    if let Some(at) = state.goaway_at {
        return Some((at.max(state.idle_since) + d.goaway_grace, Expiry::Grace));
    }
    if state.requests == 0 {
        return Some((state.opened + d.header, Expiry::Header));
    }
    Some((state.idle_since + d.idle, Expiry::Idle))
}

const SHED_ASKED: u8 = 1;
const SHED_TOLD: u8 = 2;

/// The live [`State`] of one connection, shared by its socket, its service and its task.
#[derive(Debug)]
pub struct Activity {
    state: Mutex<State>,
    http2: AtomicBool,
    /// 0: not shed; [`SHED_ASKED`]; [`SHED_TOLD`] (the connection task has seen it).
    shed: AtomicU8,
    /// Woken when a deadline moves earlier (a head begins, GOAWAY, shedding).
    sooner: Notify,
}

impl Activity {
    pub fn new(http2: bool) -> Self {
        let now = Instant::now();
        Activity {
            state: Mutex::new(State {
                opened: now,
                requests: 0,
                in_flight: 0,
                idle_since: now,
                head_since: None,
                goaway_at: None,
            }),
            http2: AtomicBool::new(http2),
            shed: AtomicU8::new(0),
            sooner: Notify::new(),
        }
    }

    pub fn is_http2(&self) -> bool {
        self.http2.load(Ordering::Relaxed)
    }

    /// For a connection whose protocol is known only after its TLS handshake (ALPN); call before
    /// serving it.
    pub fn set_http2(&self, http2: bool) {
        self.http2.store(http2, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> State {
        *self.lock()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes arrived (HTTP/1): while nothing is in flight they begin a request head.
    pub(crate) fn on_read(&self) {
        let mut s = self.lock();
        if s.in_flight == 0 && s.head_since.is_none() {
            s.head_since = Some(Instant::now());
            drop(s);
            self.sooner.notify_one();
        }
    }

    /// An HTTP/2 header block began (HEADERS without END_HEADERS) or ended.
    pub(crate) fn on_header_block(&self, open: bool) {
        let mut s = self.lock();
        if open {
            if s.head_since.is_none() {
                s.head_since = Some(Instant::now());
                drop(s);
                self.sooner.notify_one();
            }
        } else {
            s.head_since = None;
        }
    }

    /// The service got a request.
    pub(crate) fn on_request(&self) {
        let mut s = self.lock();
        s.requests += 1;
        s.in_flight += 1;
        if !self.is_http2() {
            s.head_since = None;
        }
    }

    /// A request's response was fully sent, or abandoned.
    pub(crate) fn on_request_end(&self) {
        let mut s = self.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        if s.in_flight == 0 {
            s.idle_since = Instant::now();
        }
    }

    /// GOAWAY was sent: from now on the connection closes `goaway_grace` after its last stream.
    pub fn goaway(&self) {
        let mut s = self.lock();
        if s.goaway_at.is_none() {
            s.goaway_at = Some(Instant::now());
            drop(s);
            self.sooner.notify_one();
        }
    }

    /// True when nothing is in flight and no head is being received: closing it loses nothing.
    pub fn is_idle(&self) -> bool {
        let s = self.lock();
        s.in_flight == 0 && s.head_since.is_none()
    }

    /// Asks the connection to close gracefully to make room; false if it was asked already.
    pub fn shed(&self) -> bool {
        let first = self
            .shed
            .compare_exchange(0, SHED_ASKED, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok();
        if first {
            self.sooner.notify_one();
        }
        first
    }

    pub fn is_shed(&self) -> bool {
        self.shed.load(Ordering::Relaxed) != 0
    }

    /// Resolves when one of the connection's deadlines passes (or it is shed). Resolves again
    /// later for the next one, so a connection task polls it in a loop.
    pub async fn expired(&self, d: &Deadlines) -> Expiry {
        loop {
            if self
                .shed
                .compare_exchange(SHED_ASKED, SHED_TOLD, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                return Expiry::Shed;
            }
            let sooner = self.sooner.notified();
            tokio::pin!(sooner);
            // Registered before reading the state, so a change in between still wakes us.
            sooner.as_mut().enable();
            match due(&self.snapshot(), d) {
                Some((at, why)) if at <= Instant::now() => return why,
                Some((at, _)) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = sooner => {}
                    }
                }
                None => sooner.await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Deadlines = Deadlines {
        header: Duration::from_secs(10),
        idle: Duration::from_secs(120),
        goaway_grace: Duration::from_secs(5),
    };

    fn fresh() -> (Instant, State) {
        let t = Instant::now();
        let s = State {
            opened: t,
            requests: 0,
            in_flight: 0,
            idle_since: t,
            head_since: None,
            goaway_at: None,
        };
        (t, s)
    }

    #[test]
    fn a_new_connection_owes_its_first_head_within_the_header_deadline() {
        let (t, s) = fresh();
        assert_eq!(due(&s, &D), Some((t + D.header, Expiry::Header)));
    }

    #[test]
    fn an_idle_connection_that_served_requests_gets_the_idle_deadline() {
        let (t, mut s) = fresh();
        s.requests = 3;
        s.idle_since = t + Duration::from_secs(7);
        assert_eq!(
            due(&s, &D),
            Some((t + Duration::from_secs(127), Expiry::Idle))
        );
    }

    #[test]
    fn a_request_in_flight_has_no_deadline_but_a_late_head_still_does() {
        let (t, mut s) = fresh();
        s.requests = 1;
        s.in_flight = 1;
        assert_eq!(due(&s, &D), None);
        // HTTP/2: another stream's header block stalls the whole connection.
        s.head_since = Some(t + Duration::from_secs(1));
        assert_eq!(
            due(&s, &D),
            Some((t + Duration::from_secs(11), Expiry::Header))
        );
    }

    #[test]
    fn after_goaway_the_grace_runs_from_the_last_stream() {
        let (t, mut s) = fresh();
        s.requests = 1;
        s.in_flight = 1;
        s.goaway_at = Some(t);
        assert_eq!(due(&s, &D), None, "a stream still being answered");
        s.in_flight = 0;
        s.idle_since = t + Duration::from_secs(30);
        assert_eq!(
            due(&s, &D),
            Some((t + Duration::from_secs(35), Expiry::Grace))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_that_begins_wakes_the_watch_at_its_own_deadline() {
        let a = std::sync::Arc::new(Activity::new(false));
        a.on_request();
        a.on_request_end();
        let start = tokio::time::Instant::now();
        let w = {
            let a = a.clone();
            tokio::spawn(async move { a.expired(&D).await })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        a.on_read();
        let why = w.await.unwrap();
        assert_eq!(why, Expiry::Header);
        let took = start.elapsed();
        assert!(
            took >= Duration::from_secs(11) && took < Duration::from_secs(12),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn shedding_wakes_an_idle_connection_at_once() {
        let a = std::sync::Arc::new(Activity::new(true));
        let w = {
            let a = a.clone();
            tokio::spawn(async move { a.expired(&D).await })
        };
        tokio::task::yield_now().await;
        assert!(a.shed());
        assert!(!a.shed(), "asked once only");
        assert!(a.is_shed());
        assert_eq!(w.await.unwrap(), Expiry::Shed);
    }
}
