//! Listening sockets. The proxy's workers each bind the port with SO_REUSEPORT so the kernel
//! spreads connections among them; but SO_REUSEPORT also lets a socket join a listener of any
//! other process of the same user, which would silently take part of that process's traffic.
//! [`bind_group`] therefore first proves the port free with a socket that cannot join anyone.

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// Why a listener could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error(
        "address in use: {addr} is already taken by another process (change --{flag}, or stop that process)"
    )]
    InUse {
        addr: SocketAddr,
        flag: &'static str,
    },
    #[error("cannot listen on {addr} (--{flag}): {source}")]
    Other {
        addr: SocketAddr,
        flag: &'static str,
        source: io::Error,
    },
}

impl BindError {
    /// The option (without its dashes) that chose the address.
    pub fn flag(&self) -> &'static str {
        match self {
            Self::InUse { flag, .. } | Self::Other { flag, .. } => flag,
        }
    }
}

fn socket(addr: SocketAddr) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // Lets a restart bind while the previous process's connections sit in TIME_WAIT.
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

fn classify(addr: SocketAddr, flag: &'static str) -> impl Fn(io::Error) -> BindError {
    move |source| {
        if source.kind() == io::ErrorKind::AddrInUse {
            BindError::InUse { addr, flag }
        } else {
            BindError::Other { addr, flag, source }
        }
    }
}

/// A plain listener (no SO_REUSEPORT): it fails if the port is taken and nobody can join it.
pub fn bind(addr: SocketAddr, flag: &'static str) -> Result<TcpListener, BindError> {
    let err = classify(addr, flag);
    let s = socket(addr).map_err(&err)?;
    s.bind(&addr.into()).map_err(&err)?;
    s.listen(1024).map_err(&err)?;
    Ok(s.into())
}

/// `n` listeners on one port, joined by SO_REUSEPORT, after checking that no other process
/// listens there. With port 0 the first bind picks the port.
pub fn bind_group(
    addr: SocketAddr,
    n: usize,
    flag: &'static str,
) -> Result<Vec<TcpListener>, BindError> {
    let err = classify(addr, flag);
    if addr.port() != 0 {
        // Bound without SO_REUSEPORT and never listening: the bind fails when any socket listens
        // on the port (its owner's SO_REUSEPORT does not let this one in), and succeeds otherwise
        // without blocking our own group below.
        let probe = socket(addr).map_err(&err)?;
        probe.bind(&addr.into()).map_err(&err)?;
    }
    let mut out: Vec<TcpListener> = Vec::with_capacity(n.max(1));
    let mut at = addr;
    for _ in 0..n.max(1) {
        let l = join_unchecked(at, flag)?;
        at = l.local_addr().map_err(&err)?;
        out.push(l);
    }
    Ok(out)
}

/// One SO_REUSEPORT listener that joins whatever group listens on `addr`, ours or not. For
/// benchmarks that bind one per thread; servers use [`bind_group`].
pub fn join_unchecked(addr: SocketAddr, flag: &'static str) -> Result<TcpListener, BindError> {
    let err = classify(addr, flag);
    let s = socket(addr).map_err(&err)?;
    s.set_reuse_port(true).map_err(&err)?;
    s.bind(&addr.into()).map_err(&err)?;
    s.listen(1024).map_err(&err)?;
    Ok(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_never_joins_another_processs_reuseport_listener() {
        // Another process's listener, as the proxy's own workers bind theirs.
        let foreign = bind_group("127.0.0.1:0".parse().unwrap(), 1, "listen").unwrap();
        let addr = foreign[0].local_addr().unwrap();
        let e = bind_group(addr, 2, "listen").unwrap_err();
        assert!(matches!(e, BindError::InUse { .. }), "{e}");
        let msg = e.to_string();
        assert!(
            msg.contains("address in use") && msg.contains("--listen"),
            "{msg}"
        );
        let e = bind(addr, "admin-listen").unwrap_err().to_string();
        assert!(e.contains("--admin-listen"), "{e}");
    }

    #[test]
    fn a_free_port_gets_the_whole_group() {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = probe.local_addr().unwrap();
        drop(probe);
        let group = bind_group(addr, 3, "listen").unwrap();
        assert_eq!(group.len(), 3);
        assert!(group.iter().all(|l| l.local_addr().unwrap() == addr));
    }
}
