//! What steady's two servers share: the webhook (`steady serve`) and the proxy (`steady proxy`).
//!
//! - [`admin`]: `/livez`, `/readyz` (and `/live`, `/ready`), `/metrics`;
//! - [`deadline`]: when a client connection must send its request head, how long it may sit idle,
//!   and how long after GOAWAY it is closed, for HTTP/1 and HTTP/2 alike;
//! - [`limit`]: the connection limit, shedding the oldest idle connection when full;
//! - [`serve`]: one HTTP/1 or HTTP/2 connection served under those deadlines;
//! - [`tls`]: a certificate resolver that reloads its files when they change;
//! - [`listen`]: listening sockets that never silently join another process's port;
//! - [`signal`]: the first SIGTERM drains, a second one exits;
//! - [`duration`]: the one duration grammar of every flag (`250ms`, `1h 30m`).
#![forbid(unsafe_code)]

pub mod admin;
pub mod deadline;
pub mod duration;
pub mod fds;
mod h2scan;
pub mod limit;
pub mod listen;
pub mod serve;
pub mod signal;
pub mod tls;
mod watch;

pub use deadline::{Activity, Deadlines, Expiry};
pub use duration::parse_duration;
pub use limit::{ConnLimit, Permit};
pub use watch::{Tracked, TrackedBody, Watched};
