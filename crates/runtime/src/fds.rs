//! The file-descriptor budget the connection limits are derived from.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Descriptors kept out of the connection limit: listeners, the admin listener and its probes,
/// health checks, certificate files, the runtime's own.
pub const RESERVE: u64 = 256;

/// Raises the soft limit on open files to the hard one (the soft default, often 1024, is a
/// leftover of select(2)), and returns the soft limit now in force (`None`: unlimited).
pub fn raise_nofile() -> Option<u64> {
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    if current != maximum {
        let raised = Rlimit {
            current: maximum,
            maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => return maximum,
            Err(e) => tracing::debug!(error = %e, "cannot raise the open-files limit"),
        }
    }
    current
}

/// The default connection limit for a server that holds `fds_per_conn` descriptors per client
/// connection (the proxy: the client's and, while busy, one to the application).
pub fn default_max_connections(nofile: Option<u64>, fds_per_conn: u64) -> usize {
    let nofile = nofile.unwrap_or(1 << 20);
    let usable = nofile.saturating_sub(RESERVE).max(fds_per_conn);
    usize::try_from(usable / fds_per_conn.max(1)).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_leaves_the_reserve_and_counts_descriptors_per_connection() {
        assert_eq!(default_max_connections(Some(1024), 2), 384);
        assert_eq!(default_max_connections(Some(65536), 1), 65280);
        assert_eq!(default_max_connections(Some(100), 2), 1, "never zero");
        assert_eq!(default_max_connections(None, 2), ((1 << 20) - 256) / 2);
    }

    #[test]
    fn raising_never_lowers_the_limit() {
        let before = getrlimit(Resource::Nofile).current;
        let after = raise_nofile();
        match (before, after) {
            (Some(b), Some(a)) => assert!(a >= b),
            (None, a) => assert_eq!(a, None),
            (Some(_), None) => {}
        }
    }
}
