//! Int-or-percent values (`minAvailable: 2`, `maxUnavailable: "25%"`) and their scaling,
//! exactly as Kubernetes' `intstr.GetScaledValueFromIntOrPercent` does it for budgets:
//! percentages round **up**.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A parsed, validated `minAvailable` / `maxUnavailable` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum IntOrPercent {
    /// An absolute number of pods, ≥ 0.
    Int(i32),
    /// A percentage of the expected pod count, 0..=100.
    Percent(u8),
}

/// Why an int-or-percent value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntOrPercentError {
    #[error("{value:?} is negative: use a number of pods ≥ 0 or a percentage such as \"25%\"")]
    Negative { value: String },
    #[error("{value:?} is above 100%: a percentage must be between \"0%\" and \"100%\"")]
    PercentTooLarge { value: String },
    #[error(
        "{value:?} is not a whole number of pods or a whole percentage: write e.g. 2 or \"25%\" (no fractions, no spaces)"
    )]
    Malformed { value: String },
}

impl IntOrPercent {
    /// Parses the string form (`"3"`, `"40%"`). Kubernetes only accepts percentages as strings, but
    /// a bare number in a string is read as an int as `intstr` does.
    pub fn parse(s: &str) -> Result<Self, IntOrPercentError> {
        let malformed = || IntOrPercentError::Malformed {
            value: s.to_owned(),
        };
        if let Some(digits) = s.strip_suffix('%') {
            if digits.starts_with('-') && digits.len() > 1 && all_digits(&digits[1..]) {
                return Err(IntOrPercentError::Negative {
                    value: s.to_owned(),
                });
            }
            if !all_digits(digits) {
                return Err(malformed());
            }
            // Too many digits to fit is also "above 100%".
            let n: u64 = digits.parse().unwrap_or(u64::MAX);
            if n > 100 {
                return Err(IntOrPercentError::PercentTooLarge {
                    value: s.to_owned(),
                });
            }
            return Ok(Self::Percent(n as u8));
        }
        if let Some(rest) = s.strip_prefix('-')
            && all_digits(rest)
        {
            return Err(IntOrPercentError::Negative {
                value: s.to_owned(),
            });
        }
        if !all_digits(s) {
            return Err(malformed());
        }
        s.parse::<i32>().map(Self::Int).map_err(|_| malformed())
    }

    /// Validates an integer form.
    pub fn from_int(n: i64) -> Result<Self, IntOrPercentError> {
        if n < 0 {
            return Err(IntOrPercentError::Negative {
                value: n.to_string(),
            });
        }
        i32::try_from(n)
            .map(Self::Int)
            .map_err(|_| IntOrPercentError::Malformed {
                value: n.to_string(),
            })
    }

    /// Converts the Kubernetes `IntOrString` wire form.
    pub fn from_int_or_string(
        v: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString,
    ) -> Result<Self, IntOrPercentError> {
        use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
        match v {
            IntOrString::Int(n) => Self::from_int(i64::from(*n)),
            IntOrString::String(s) => Self::parse(s),
        }
    }

    /// The value as a number of pods out of `total`. Percentages round up, so
    /// `maxUnavailable: 10%` of 5 pods is 1 and `minAvailable: 10%` of 5 pods is 1.
    pub fn scaled(self, total: i32) -> i32 {
        match self {
            Self::Int(n) => n,
            Self::Percent(p) => {
                let total = i64::from(total.max(0));
                let scaled = (i64::from(p) * total + 99) / 100;
                // p ≤ 100, so scaled ≤ total ≤ i32::MAX.
                scaled as i32
            }
        }
    }

    pub fn is_percent(self) -> bool {
        matches!(self, Self::Percent(_))
    }
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

impl fmt::Display for IntOrPercent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(n) => write!(f, "{n}"),
            Self::Percent(p) => write!(f, "{p}%"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ints_and_percentages() {
        assert_eq!(IntOrPercent::parse("3"), Ok(IntOrPercent::Int(3)));
        assert_eq!(IntOrPercent::parse("0"), Ok(IntOrPercent::Int(0)));
        assert_eq!(IntOrPercent::parse("40%"), Ok(IntOrPercent::Percent(40)));
        assert_eq!(IntOrPercent::parse("100%"), Ok(IntOrPercent::Percent(100)));
        assert_eq!(IntOrPercent::parse("0%"), Ok(IntOrPercent::Percent(0)));
    }

    #[test]
    fn refuses_bad_values_with_a_reason() {
        assert!(matches!(
            IntOrPercent::parse("150%"),
            Err(IntOrPercentError::PercentTooLarge { .. })
        ));
        assert!(matches!(
            IntOrPercent::parse("-1"),
            Err(IntOrPercentError::Negative { .. })
        ));
        assert!(matches!(
            IntOrPercent::parse("-5%"),
            Err(IntOrPercentError::Negative { .. })
        ));
        for bad in [
            "abc",
            "10.5%",
            "",
            "%",
            " 5",
            "5 %",
            "1e3",
            "99999999999",
            "+3",
        ] {
            assert!(
                matches!(
                    IntOrPercent::parse(bad),
                    Err(IntOrPercentError::Malformed { .. })
                ),
                "{bad:?} should be malformed"
            );
        }
        assert!(matches!(
            IntOrPercent::from_int(-1),
            Err(IntOrPercentError::Negative { .. })
        ));
        let msg = IntOrPercent::parse("150%").unwrap_err().to_string();
        assert!(msg.contains("150%") && msg.contains("100%"), "{msg}");
    }

    #[test]
    fn percentages_round_up_like_kubernetes() {
        // Values from the Kubernetes disruption controller's tests.
        assert_eq!(IntOrPercent::Percent(10).scaled(5), 1);
        assert_eq!(IntOrPercent::Percent(25).scaled(10), 3);
        assert_eq!(IntOrPercent::Percent(50).scaled(3), 2);
        assert_eq!(IntOrPercent::Percent(60).scaled(10), 6);
        assert_eq!(IntOrPercent::Percent(0).scaled(10), 0);
        assert_eq!(IntOrPercent::Percent(100).scaled(7), 7);
        assert_eq!(IntOrPercent::Percent(100).scaled(i32::MAX), i32::MAX);
        assert_eq!(IntOrPercent::Percent(40).scaled(0), 0);
        assert_eq!(IntOrPercent::Int(4).scaled(2), 4);
    }
}
