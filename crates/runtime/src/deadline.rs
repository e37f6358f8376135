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

/// The GOAWAY grace of a connection shed to make room.
const SHED_GRACE: Duration = Duration::from_secs(1);

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
        }
    }

    /// An HTTP/2 header block began (HEADERS without END_HEADERS) or ended.
    pub(crate) fn on_header_block(&self, open: bool) {
        let mut s = self.lock();
        if open {
            if s.head_since.is_none() {
                s.head_since = Some(Instant::now());
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
            drop(s);
            // HTTP/2 streams end in their own tasks, outside the connection task's poll.
            if self.is_http2() {
                self.sooner.notify_one();
            }
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

    /// Resolves when one of the connection's deadlines passes (or it is shed); poll it again for
    /// the next one. Poll it in the connection's task right after the connection itself (a
    /// `biased` select): what the connection's reads and its service did during that poll is then
    /// seen without a wake-up per request. Changes from other tasks (shedding, HTTP/2 streams
    /// ending) wake it.
    pub fn expired<'a>(&'a self, d: &'a Deadlines) -> Expired<'a> {
        Expired {
            activity: self,
            d,
            sleep: tokio::time::sleep_until(Instant::now() + FAR),
            armed: None,
            sooner: self.sooner.notified(),
        }
    }
}

/// Farther than any deadline: an unarmed timer.
const FAR: Duration = Duration::from_secs(86_400 * 365);

pin_project_lite::pin_project! {
    /// The future of [`Activity::expired`]. Its timer is moved only to an earlier deadline; when
    /// it fires early (the deadline moved later), the deadline is worked out again. A busy
    /// keep-alive connection so touches the timer about once per header deadline, not per request.
    pub struct Expired<'a> {
        activity: &'a Activity,
        d: &'a Deadlines,
        #[pin]
        sleep: tokio::time::Sleep,
        armed: Option<Instant>,
        #[pin]
        sooner: tokio::sync::futures::Notified<'a>,
    }
}

impl std::future::Future for Expired<'_> {
    type Output = Expiry;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Expiry> {
        use std::task::Poll;
        let mut this = self.project();
        loop {
            if this.sooner.as_mut().poll(cx).is_ready() {
                this.sooner.set(this.activity.sooner.notified());
                continue;
            }
            if this
                .activity
                .shed
                .compare_exchange(SHED_ASKED, SHED_TOLD, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                return Poll::Ready(Expiry::Shed);
            }
            let mut d = **this.d;
            if this.activity.shed.load(Ordering::Relaxed) == SHED_TOLD {
                // Its slot is promised to a newcomer already: do not wait long for the client.
                d.goaway_grace = d.goaway_grace.min(SHED_GRACE);
            }
            let Some((at, why)) = due(&this.activity.snapshot(), &d) else {
                return Poll::Pending;
            };
            if at <= Instant::now() {
                return Poll::Ready(why);
            }
            if this.armed.is_none_or(|armed| at < armed) {
                this.sleep.as_mut().reset(at);
                *this.armed = Some(at);
            }
            if this.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            // Fired for a deadline that has since moved later.
            *this.armed = None;
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

    /// Polls once, as the connection task does after each poll of its connection.
    async fn poll_once(f: std::pin::Pin<&mut Expired<'_>>) -> Option<Expiry> {
        use std::future::Future;
        let mut f = f;
        match std::future::poll_fn(|cx| std::task::Poll::Ready(f.as_mut().poll(cx))).await {
            std::task::Poll::Ready(why) => Some(why),
            std::task::Poll::Pending => None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_that_begins_moves_the_watch_to_its_own_deadline() {
        let a = Activity::new(false);
        a.on_request();
        a.on_request_end();
        let start = tokio::time::Instant::now();
        let w = a.expired(&D);
        tokio::pin!(w);
        assert_eq!(
            poll_once(w.as_mut()).await,
            None,
            "armed at the idle deadline"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        // The connection read the first bytes of a head during its poll; the watch is polled next.
        a.on_read();
        assert_eq!(poll_once(w.as_mut()).await, None);
        let why = w.await;
        assert_eq!(why, Expiry::Header);
        let took = start.elapsed();
        assert!(
            took >= Duration::from_secs(11) && took < Duration::from_secs(12),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_moved_later_fires_once_early_then_waits_for_the_new_one() {
        let a = Activity::new(false);
        let start = tokio::time::Instant::now();
        a.on_read();
        let w = a.expired(&D);
        tokio::pin!(w);
        assert_eq!(
            poll_once(w.as_mut()).await,
            None,
            "armed at the header deadline"
        );
        // The head completes and its response ends: the idle deadline, later, takes over.
        a.on_request();
        tokio::time::sleep(Duration::from_secs(2)).await;
        a.on_request_end();
        assert_eq!(w.await, Expiry::Idle);
        let took = start.elapsed();
        assert!(
            took >= Duration::from_secs(122) && took < Duration::from_secs(123),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_http2_stream_ending_in_another_task_arms_the_idle_deadline() {
        let a = std::sync::Arc::new(Activity::new(true));
        a.on_request();
        let start = tokio::time::Instant::now();
        let w = {
            let a = a.clone();
            tokio::spawn(async move { a.expired(&D).await })
        };
        tokio::time::sleep(Duration::from_secs(5)).await;
        a.on_request_end();
        assert_eq!(w.await.unwrap(), Expiry::Idle);
        let took = start.elapsed();
        assert!(
            took >= Duration::from_secs(125) && took < Duration::from_secs(126),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_shed_connection_gets_a_short_grace_after_goaway() {
        let a = Activity::new(true);
        a.on_request();
        a.on_request_end();
        assert!(a.shed());
        assert_eq!(a.expired(&D).await, Expiry::Shed);
        let start = tokio::time::Instant::now();
        a.goaway();
        assert_eq!(a.expired(&D).await, Expiry::Grace);
        assert_eq!(start.elapsed(), SHED_GRACE);
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
