//! Termination signals, as both servers treat them: the first SIGTERM (or Ctrl-C) drains, a
//! second one means the operator does not want to wait.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// SIGTERM and SIGINT, installed once so no signal between two waits is lost.
#[derive(Debug)]
pub struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    /// Installs the handlers; from now on these signals no longer end the process by themselves.
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Resolves at the next SIGTERM or SIGINT.
    pub async fn next(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_signal_is_seen_once_in_order() {
        let mut s = Signals::install().unwrap();
        let pid = rustix::process::getpid();
        for _ in 0..2 {
            rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
            tokio::time::timeout(std::time::Duration::from_secs(5), s.next())
                .await
                .expect("the signal arrives");
        }
    }
}
