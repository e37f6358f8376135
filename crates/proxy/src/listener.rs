//! Listening sockets. SO_REUSEPORT lets a new instance bind the port while the old one drains, so a
//! restart on the same host (or a test) never has a moment with nobody listening.

use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};

use crate::Error;

pub fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    let std = bind_std(addr)?;
    TcpListener::from_std(std).map_err(|source| Error::Bind { addr, source })
}

/// A non-blocking listener not yet tied to a runtime, for a worker thread to adopt.
pub fn bind_std(addr: SocketAddr) -> Result<std::net::TcpListener, Error> {
    let bind_err = |source| Error::Bind { addr, source };
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(bind_err)?;
    socket.set_reuse_address(true).map_err(bind_err)?;
    socket.set_reuse_port(true).map_err(bind_err)?;
    socket.set_nonblocking(true).map_err(bind_err)?;
    socket.bind(&addr.into()).map_err(bind_err)?;
    socket.listen(1024).map_err(bind_err)?;
    Ok(socket.into())
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
