//! The connection limit of a server. When it is full, a new client is not refused while some
//! connection sits idle: the oldest idle connection is asked to close gracefully (GOAWAY, or an
//! idle HTTP/1 close) and the new one is served. Only when every connection is busy is the new
//! one closed at once. Without a limit, idle connections used up the file descriptors and the
//! admin listener's probes failed with them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::deadline::Activity;

#[derive(Debug)]
pub struct ConnLimit {
    max: usize,
    inner: Mutex<Inner>,
    shed: AtomicU64,
    refused: AtomicU64,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    /// By opening order, so the first idle one found is the oldest.
    conns: BTreeMap<u64, Arc<Activity>>,
    /// Connections asked to close that have not closed yet: their slots are already promised.
    closing: usize,
}

/// What [`ConnLimit::admit`] decided for a new connection.
#[derive(Debug)]
pub enum Admission {
    Admitted(Permit),
    /// Admitted; the oldest idle connection was asked to close to make room.
    AdmittedByShedding(Permit),
    /// Every connection is busy: close the new one.
    Full,
}

/// A connection's slot; dropping it frees the slot.
#[derive(Debug)]
pub struct Permit {
    limit: Arc<ConnLimit>,
    id: u64,
}

impl ConnLimit {
    /// `max` is at least 1.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(ConnLimit {
            max: max.max(1),
            inner: Mutex::new(Inner::default()),
            shed: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        })
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// Connections holding a slot, those asked to close included.
    pub fn open(&self) -> usize {
        self.lock().conns.len()
    }

    /// Connections closed to make room, since start.
    pub fn shed_total(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }

    /// New connections closed because every slot was busy, since start.
    pub fn refused_total(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn admit(self: &Arc<Self>, activity: &Arc<Activity>) -> Admission {
        let mut inner = self.lock();
        let mut shed = false;
        if inner.conns.len() - inner.closing >= self.max {
            let victim = inner
                .conns
                .values()
                .find(|a| !a.is_shed() && a.is_idle())
                .cloned();
            match victim {
                Some(v) if v.shed() => {
                    inner.closing += 1;
                    shed = true;
                    self.shed.fetch_add(1, Ordering::Relaxed);
                }
                _ => {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    return Admission::Full;
                }
            }
        }
        let id = inner.next_id;
        inner.next_id += 1;
        inner.conns.insert(id, activity.clone());
        let permit = Permit {
            limit: self.clone(),
            id,
        };
        if shed {
            Admission::AdmittedByShedding(permit)
        } else {
            Admission::Admitted(permit)
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut inner = self.limit.lock();
        if let Some(a) = inner.conns.remove(&self.id)
            && a.is_shed()
        {
            inner.closing = inner.closing.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(busy: bool) -> Arc<Activity> {
        let a = Arc::new(Activity::new(false));
        if busy {
            a.on_request();
        }
        a
    }

    #[test]
    fn when_full_the_oldest_idle_connection_makes_room() {
        let limit = ConnLimit::new(3);
        let (busy, idle_old, idle_new) = (conn(true), conn(false), conn(false));
        let _p: Vec<_> = [&busy, &idle_old, &idle_new]
            .iter()
            .map(|a| match limit.admit(a) {
                Admission::Admitted(p) => p,
                other => panic!("{other:?}"),
            })
            .collect();
        let newcomer = conn(false);
        let Admission::AdmittedByShedding(p) = limit.admit(&newcomer) else {
            panic!("expected shedding");
        };
        assert!(idle_old.is_shed() && !idle_new.is_shed() && !busy.is_shed());
        // The next one sheds the next idle connection, never the same one twice.
        let Admission::AdmittedByShedding(_q) = limit.admit(&conn(false)) else {
            panic!("expected shedding");
        };
        assert!(idle_new.is_shed());
        drop(p);
        assert_eq!(limit.shed_total(), 2);
    }

    #[test]
    fn when_every_connection_is_busy_the_newcomer_is_refused() {
        let limit = ConnLimit::new(2);
        let a = conn(true);
        let b = conn(true);
        let _pa = limit.admit(&a);
        let _pb = limit.admit(&b);
        assert!(matches!(limit.admit(&conn(false)), Admission::Full));
        assert_eq!(limit.refused_total(), 1);
        drop(_pa);
        assert!(matches!(limit.admit(&conn(false)), Admission::Admitted(_)));
    }

    #[test]
    fn a_shed_connection_frees_its_promised_slot_when_it_closes() {
        let limit = ConnLimit::new(1);
        let idle = conn(false);
        let p_idle = limit.admit(&idle);
        let busy = conn(true);
        let p_busy = limit.admit(&busy);
        assert!(matches!(p_busy, Admission::AdmittedByShedding(_)));
        drop(p_idle);
        assert_eq!(limit.open(), 1);
        // Full again with only a busy connection: refused.
        assert!(matches!(limit.admit(&conn(false)), Admission::Full));
    }
}
