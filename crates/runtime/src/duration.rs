//! Durations as every flag of steady takes them, parsed by jiff's friendly format: `250ms`, `2s`,
//! `1h 30m`, `1.5s`; a bare number is seconds (the proxy's older spelling).

use std::time::Duration;

/// Parses a non-negative duration, for clap's `value_parser`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let secs: f64 = t
            .parse()
            .map_err(|_| format!("`{s}` is not a duration; write e.g. 250ms, 2s, 5m, 1h 30m"))?;
        return Duration::try_from_secs_f64(secs).map_err(|e| format!("`{s}`: {e}"));
    }
    let signed: jiff::SignedDuration = t
        .parse()
        .map_err(|_| format!("`{s}` is not a duration; write e.g. 250ms, 2s, 5m, 1h 30m"))?;
    Duration::try_from(signed).map_err(|_| format!("`{s}` is negative; a duration here is >= 0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn friendly_spellings_and_bare_seconds() {
        let ok = |s: &str, d: Duration| assert_eq!(parse_duration(s), Ok(d), "{s}");
        ok("250ms", Duration::from_millis(250));
        ok("2s", Duration::from_secs(2));
        ok("3", Duration::from_secs(3));
        ok("1.5", Duration::from_millis(1500));
        ok("5m", Duration::from_secs(300));
        ok("1h", Duration::from_secs(3600));
        ok("1h 30m", Duration::from_secs(5400));
        ok("1.5s", Duration::from_millis(1500));
        ok("0s", Duration::ZERO);
        ok(" 75s ", Duration::from_secs(75));
    }

    #[test]
    fn nonsense_and_negative_are_clear_errors() {
        for bad in ["", "s", "2 weeks", "abc", "1.2.3"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains("not a duration"), "{bad}: {e}");
        }
        let e = parse_duration("-5s").unwrap_err();
        assert!(e.contains("negative"), "{e}");
    }
}
