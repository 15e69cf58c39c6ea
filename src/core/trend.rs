//! Trends at a glance: the running count and the spend rate of one account over the last 24 h,
//! from the reports of the checks the journal keeps, as one-line sparklines (`▁▂▃▅▇`) — a slow
//! climb is seen before it crosses a limit. Pure.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The eight heights of a sparkline, lowest first.
pub const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// An hour without a check.
pub const GAP: char = '·';

/// How far back a trend looks, and in how many slots (one an hour).
pub const HOURS: usize = 24;

/// One account's last 24 h, an hour a slot, oldest first: the highest value the checks of that
/// hour saw, `None` where no check saw the account.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    pub running: Vec<Option<f64>>,
    /// Only where the account has a spend rate rule (the check computes the rate only then).
    pub spend_rate_usd_per_hour: Vec<Option<f64>>,
}

/// The trend of `account` from the checks' reports (`(checked_at, report)`, any order), over
/// the `HOURS` hours before `now`.
pub fn trend(
    checks: &[(DateTime<Utc>, serde_json::Value)],
    account: &str,
    now: DateTime<Utc>,
) -> Trend {
    let start = now - Duration::hours(HOURS as i64);
    let mut t = Trend {
        running: vec![None; HOURS],
        spend_rate_usd_per_hour: vec![None; HOURS],
    };
    for (at, report) in checks {
        if *at <= start || *at > now {
            continue;
        }
        let slot = (((*at - start).num_seconds() - 1) / 3600).clamp(0, HOURS as i64 - 1) as usize;
        let Some(a) = report["accounts"]
            .as_array()
            .and_then(|list| list.iter().find(|a| a["account_id"] == account))
        else {
            continue;
        };
        let keep = |series: &mut [Option<f64>], v: Option<f64>| {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                series[slot] = Some(series[slot].map_or(v, |old: f64| old.max(v)));
            }
        };
        keep(&mut t.running, a["running_instances"].as_f64());
        keep(
            &mut t.spend_rate_usd_per_hour,
            a["spend_rate_usd_per_hour"].as_f64(),
        );
    }
    if t.spend_rate_usd_per_hour.iter().all(Option::is_none) {
        t.spend_rate_usd_per_hour.clear();
    }
    t
}

/// The sparkline of a series: each value's height between 0 and the series' highest, `·`
/// where there is none.
pub fn sparkline(series: &[Option<f64>]) -> String {
    let top = series.iter().flatten().copied().fold(0.0_f64, f64::max);
    series
        .iter()
        .map(|v| match v {
            None => GAP,
            Some(_) if top <= 0.0 => BARS[0],
            Some(v) => {
                let i = ((v.max(0.0) / top) * (BARS.len() - 1) as f64).round() as usize;
                BARS[i.min(BARS.len() - 1)]
            }
        })
        .collect()
}

fn last(series: &[Option<f64>]) -> Option<f64> {
    series.iter().rev().flatten().next().copied()
}

fn peak(series: &[Option<f64>]) -> Option<f64> {
    series.iter().flatten().copied().reduce(f64::max)
}

/// The one-line summary: `24 h  running ▁▂▃▅▇ 12 (peak 14) · spend ▁▂▃ $3.20/h (peak $3.40/h)`;
/// `None` when no check of the last 24 h saw the account.
pub fn line(t: &Trend) -> Option<String> {
    let now = last(&t.running)?;
    let mut out = format!(
        "24 h  running {} {now:.0} (peak {:.0})",
        sparkline(&t.running),
        peak(&t.running).unwrap_or(now)
    );
    if let Some(rate) = last(&t.spend_rate_usd_per_hour) {
        out += &format!(
            " · spend {} ${rate:.2}/h (peak ${:.2}/h)",
            sparkline(&t.spend_rate_usd_per_hour),
            peak(&t.spend_rate_usd_per_hour).unwrap_or(rate)
        );
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn at(h: f64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 6, 0, 0, 0).unwrap() + Duration::seconds((h * 3600.0) as i64)
    }

    fn check(h: f64, running: u64, rate: Option<f64>) -> (DateTime<Utc>, serde_json::Value) {
        let mut a = json!({"account_id": "111111111111", "running_instances": running});
        if let Some(r) = rate {
            a["spend_rate_usd_per_hour"] = json!(r);
        }
        (
            at(h),
            json!({"accounts": [a, {"account_id": "222222222222", "running_instances": 99}]}),
        )
    }

    #[test]
    fn a_slow_climb_shows_and_hours_without_checks_are_gaps() {
        // Checks every 20 minutes over the last 24 h, climbing from 2 to 14 instances; none
        // between 10 and 12 h ago; a check 30 h ago is too old to count.
        let now = at(48.0);
        let mut checks = vec![check(18.0, 500, Some(100.0))];
        for i in 0..72 {
            let h = 24.0 + i as f64 / 3.0 + 0.1;
            if (36.0..38.0).contains(&h) {
                continue;
            }
            let n = 2 + (i / 6) as u64;
            checks.push(check(h, n, Some(n as f64 * 0.25)));
        }
        let t = trend(&checks, "111111111111", now);
        assert_eq!(t.running.len(), HOURS);
        assert_eq!(t.running[0], Some(2.0));
        assert_eq!(t.running[23], Some(13.0));
        assert_eq!((t.running[12], t.running[13]), (None, None));
        let s = sparkline(&t.running);
        assert_eq!(s.chars().count(), HOURS);
        assert!(s.starts_with('▂') && s.ends_with('█'), "{s}");
        assert_eq!(s.chars().nth(12), Some(GAP));
        assert_eq!(
            line(&t).unwrap(),
            format!(
                "24 h  running {s} 13 (peak 13) · spend {} $3.25/h (peak $3.25/h)",
                sparkline(&t.spend_rate_usd_per_hour)
            )
        );
    }

    #[test]
    fn flat_zero_and_missing_series_are_said_plainly() {
        let now = at(24.0);
        let t = trend(&[check(23.5, 0, None)], "111111111111", now);
        assert_eq!(
            sparkline(&t.running).chars().filter(|c| *c == '▁').count(),
            1
        );
        assert!(
            t.spend_rate_usd_per_hour.is_empty(),
            "no spend rule, no spend line"
        );
        assert_eq!(
            line(&t).unwrap(),
            format!("24 h  running {} 0 (peak 0)", sparkline(&t.running))
        );
        assert_eq!(line(&trend(&[], "111111111111", now)), None);
        assert_eq!(
            line(&trend(&[check(23.5, 3, None)], "333333333333", now)),
            None
        );
    }
}
