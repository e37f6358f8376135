//! Listening sockets: the workers' SO_REUSEPORT group and the admin listener, both through
//! steady-runtime, which refuses to join a port another process already listens on.

use std::net::SocketAddr;

use steady_runtime::listen::{self, BindError};
use tokio::net::{TcpListener, TcpStream};

/// One SO_REUSEPORT listener, without the check that the port is free: for benchmarks that bind
/// one per thread themselves. The proxy binds through [`listen::bind_group`].
pub fn bind_std(addr: SocketAddr) -> Result<std::net::TcpListener, BindError> {
    listen::join_unchecked(addr, "listen")
}

/// The admin listener: a plain socket, so a second process on the port fails instead of joining.
pub fn bind_admin(addr: SocketAddr) -> Result<TcpListener, BindError> {
    let std = listen::bind(addr, "admin-listen")?;
    TcpListener::from_std(std).map_err(|source| BindError::Other {
        addr,
        flag: "admin-listen",
        source,
    })
}

/// Takes the connections already waiting in the accept queue without blocking, so closing the
/// listener does not reset connections the kernel had already completed for us.
pub fn take_backlog(listener: &TcpListener) -> Vec<(TcpStream, SocketAddr)> {
    let mut out = Vec::new();
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    while let std::task::Poll::Ready(Ok(conn)) = listener.poll_accept(&mut cx) {
        out.push(conn);
    }
    out
}
