//! Rolling-update arithmetic: how many pods a rollout may add above its replicas (`maxSurge`) and
//! take below them (`maxUnavailable`), counted as the Kubernetes Deployment controller counts them
//! (`deploymentutil.ResolveFenceposts`). The simulator rolls workloads with it and the checker
//! compares it with budgets, so both see the same rollout.

use crate::intstr::IntOrPercent;

/// A workload's `rollingUpdate` values, defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RollingUpdate {
    pub max_surge: IntOrPercent,
    pub max_unavailable: IntOrPercent,
}

impl RollingUpdate {
    /// What a Deployment uses for either field when it is unset.
    pub const DEPLOYMENT_DEFAULT: IntOrPercent = IntOrPercent::Percent(25);
    /// What a StatefulSet uses for `maxUnavailable` when it is unset.
    pub const STATEFUL_SET_DEFAULT: IntOrPercent = IntOrPercent::Int(1);

    /// A Deployment's `strategy.rollingUpdate`; unset fields are 25%.
    pub fn deployment(
        max_surge: Option<IntOrPercent>,
        max_unavailable: Option<IntOrPercent>,
    ) -> Self {
        Self {
            max_surge: max_surge.unwrap_or(Self::DEPLOYMENT_DEFAULT),
            max_unavailable: max_unavailable.unwrap_or(Self::DEPLOYMENT_DEFAULT),
        }
    }

    /// A StatefulSet's `updateStrategy.rollingUpdate`: it replaces pods in place, so it never
    /// surges; `maxUnavailable` is 1 when unset.
    pub fn stateful_set(max_unavailable: Option<IntOrPercent>) -> Self {
        Self {
            max_surge: IntOrPercent::Int(0),
            max_unavailable: max_unavailable.unwrap_or(Self::STATEFUL_SET_DEFAULT),
        }
    }

    /// False when both values are 0 as written: the API server refuses such a Deployment, since
    /// its rollout could neither add nor remove a pod.
    pub fn can_progress(self) -> bool {
        !(is_zero(self.max_surge) && is_zero(self.max_unavailable))
    }

    /// Pods the rollout may run above `replicas`. Percentages round up.
    pub fn surge(self, replicas: i32) -> i32 {
        self.max_surge.scaled(replicas)
    }

    /// Pods the rollout may take below `replicas`. Percentages round down; when both values
    /// resolve to 0 (small percentages of few replicas) it is 1, so the rollout still moves.
    pub fn unavailable(self, replicas: i32) -> i32 {
        let unavailable = match self.max_unavailable {
            IntOrPercent::Int(n) => n,
            IntOrPercent::Percent(p) => {
                // p ≤ 100, so the result is at most replicas.
                (i64::from(replicas.max(0)) * i64::from(p) / 100) as i32
            }
        };
        if unavailable == 0 && self.surge(replicas) == 0 {
            1
        } else {
            unavailable
        }
    }
}

fn is_zero(v: IntOrPercent) -> bool {
    matches!(v, IntOrPercent::Int(0) | IntOrPercent::Percent(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use IntOrPercent::*;

    #[test]
    fn deployment_defaults_are_25_percent_each() {
        let r = RollingUpdate::deployment(None, None);
        assert_eq!(r.max_surge, Percent(25));
        assert_eq!(r.max_unavailable, Percent(25));
        // 25% of 10: surge rounds up to 3, unavailable down to 2.
        assert_eq!(r.surge(10), 3);
        assert_eq!(r.unavailable(10), 2);
        assert_eq!(r.surge(4), 1);
        assert_eq!(r.unavailable(4), 1);
        // 25% of 3: surge 1, unavailable 0 (the surge moves the rollout).
        assert_eq!(r.surge(3), 1);
        assert_eq!(r.unavailable(3), 0);
    }

    #[test]
    fn set_values_override_one_default_at_a_time() {
        let r = RollingUpdate::deployment(Some(Int(0)), None);
        assert_eq!(r.max_unavailable, Percent(25));
        assert_eq!(r.unavailable(8), 2);
        let r = RollingUpdate::deployment(None, Some(Int(3)));
        assert_eq!(r.max_surge, Percent(25));
        assert_eq!((r.surge(8), r.unavailable(8)), (2, 3));
    }

    #[test]
    fn percentages_round_surge_up_and_unavailable_down() {
        let r = RollingUpdate::deployment(Some(Percent(10)), Some(Percent(10)));
        assert_eq!((r.surge(5), r.unavailable(5)), (1, 0));
        assert_eq!((r.surge(19), r.unavailable(19)), (2, 1));
        assert_eq!((r.surge(20), r.unavailable(20)), (2, 2));
        let r = RollingUpdate::deployment(Some(Percent(100)), Some(Percent(100)));
        assert_eq!((r.surge(7), r.unavailable(7)), (7, 7));
        let r = RollingUpdate::deployment(Some(Percent(99)), Some(Percent(99)));
        assert_eq!(
            (r.surge(i32::MAX), r.unavailable(i32::MAX)),
            (2_126_008_811, 2_126_008_810)
        );
    }

    #[test]
    fn zero_surge_and_zero_unavailable_resolve_to_one_unavailable() {
        // Written as 0%/10%, resolving to 0/0 on 5 replicas: the rollout takes one pod at a time.
        let r = RollingUpdate::deployment(Some(Percent(0)), Some(Percent(10)));
        assert!(r.can_progress());
        assert_eq!((r.surge(5), r.unavailable(5)), (0, 1));
        // No replicas at all: 25% of 0 is 0 both ways.
        let r = RollingUpdate::deployment(None, None);
        assert_eq!((r.surge(0), r.unavailable(0)), (0, 1));
        // A surge keeps unavailable at what it resolves to.
        let r = RollingUpdate::deployment(Some(Int(1)), Some(Int(0)));
        assert_eq!((r.surge(5), r.unavailable(5)), (1, 0));
    }

    #[test]
    fn zero_as_written_cannot_progress() {
        for (s, u) in [(Int(0), Int(0)), (Percent(0), Int(0)), (Int(0), Percent(0))] {
            assert!(
                !RollingUpdate::deployment(Some(s), Some(u)).can_progress(),
                "{s}/{u}"
            );
        }
        assert!(RollingUpdate::deployment(Some(Int(0)), Some(Int(1))).can_progress());
        assert!(RollingUpdate::deployment(Some(Percent(1)), Some(Int(0))).can_progress());
    }

    #[test]
    fn stateful_sets_never_surge_and_default_to_one() {
        let r = RollingUpdate::stateful_set(None);
        assert_eq!(r.max_unavailable, Int(1));
        assert_eq!((r.surge(5), r.unavailable(5)), (0, 1));
        let r = RollingUpdate::stateful_set(Some(Percent(50)));
        assert_eq!((r.surge(5), r.unavailable(5)), (0, 2));
        // 10% of 5 rounds down to 0, which would stall: one at a time instead.
        let r = RollingUpdate::stateful_set(Some(Percent(10)));
        assert_eq!(r.unavailable(5), 1);
    }
}
