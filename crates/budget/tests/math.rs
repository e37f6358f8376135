//! Properties of the budget arithmetic: percentages round up exactly as Kubernetes does, the
//! results are monotonic, and no input makes the engine panic.

use proptest::prelude::*;
use steady_budget::{IntOrPercent, Policy};

proptest! {
    #[test]
    fn percentages_round_up(p in 0u8..=100, total in 0i32..1_000_000) {
        let scaled = IntOrPercent::Percent(p).scaled(total);
        let exact = i64::from(p) * i64::from(total);
        // The smallest whole number of pods ≥ p% of total.
        prop_assert!(i64::from(scaled) * 100 >= exact);
        prop_assert!((i64::from(scaled) - 1) * 100 < exact || scaled == 0);
        prop_assert!(scaled <= total);
    }

    #[test]
    fn scaling_is_monotonic(p in 0u8..100, total in 0i32..100_000) {
        let v = IntOrPercent::Percent(p).scaled(total);
        prop_assert!(IntOrPercent::Percent(p + 1).scaled(total) >= v);
        prop_assert!(IntOrPercent::Percent(p).scaled(total + 1) >= v);
    }

    #[test]
    fn desired_is_monotonic_in_the_expected_count(v in 0i32..50, p in 0u8..=100, expected in 0i32..10_000) {
        for policy in [
            Policy::MinAvailable(IntOrPercent::Int(v)),
            Policy::MinAvailable(IntOrPercent::Percent(p)),
            Policy::MaxUnavailable(IntOrPercent::Int(v)),
            Policy::MaxUnavailable(IntOrPercent::Percent(p)),
        ] {
            let d = policy.desired(expected);
            prop_assert!(d >= 0);
            prop_assert!(policy.desired(expected + 1) >= d, "{policy} at {expected}");
        }
    }

    #[test]
    fn parsing_never_panics_and_round_trips(s in "\\PC{0,12}") {
        if let Ok(v) = IntOrPercent::parse(&s) {
            prop_assert_eq!(IntOrPercent::parse(&v.to_string()), Ok(v));
        }
    }

    #[test]
    fn scaling_any_total_never_panics(p in 0u8..=100, n in any::<i32>(), total in any::<i32>()) {
        let _ = IntOrPercent::Percent(p).scaled(total);
        let _ = IntOrPercent::Int(n.max(0)).scaled(total);
        let _ = Policy::MaxUnavailable(IntOrPercent::Int(n.max(0))).desired(total);
    }
}
