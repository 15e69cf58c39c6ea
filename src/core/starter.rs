//! What `runaway init` suggests from what it found: limits with room above today's peak, the
//! exemptions already in place, the break-glass principals. Pure: the findings come in, the
//! suggestions go out; `text::starter` writes them as a commented `runaway.toml`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};

/// How much room a suggested limit leaves above the peak seen: twice it.
pub const HEADROOM: f64 = 2.0;

/// The window the spend rate is suggested over (and the check's default `spend_window`).
pub const SPEND_WINDOW_HOURS: i64 = 6;

/// How far back the estimated charges are read.
pub const HISTORY_DAYS: i64 = 14;

/// What was found in one account.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub id: String,
    pub name: String,
    /// The role it was reached through; `None`: the ambient credentials.
    pub role_arn: Option<String>,
    /// Why it could not be reached, or its regions not be listed.
    pub error: Option<String>,
    /// Its enabled regions.
    pub regions: Vec<String>,
    /// Running EC2 instances per region (regions with none left out).
    pub running: BTreeMap<String, u64>,
    /// Regions (or services) that could not be read, with why.
    pub unread: Vec<String>,
    /// Running instances already tagged exempt: (region, instance id).
    pub exempt_instances: Vec<(String, String)>,
    /// What runs beyond EC2, by `max_running` key (only keys with something running).
    pub counts: BTreeMap<&'static str, u64>,
    /// The services beyond EC2 with anything running.
    pub services: BTreeSet<&'static str>,
    /// The estimated charges (USD) over the last 14 days; `Err`: why they could not be read.
    pub charges: Result<Vec<(DateTime<Utc>, f64)>, String>,
    /// IAM users and roles whose names say they are break-glass.
    pub breakglass: Vec<String>,
}

impl Default for Found {
    fn default() -> Found {
        Found {
            id: String::new(),
            name: String::new(),
            role_arn: None,
            error: None,
            regions: Vec::new(),
            running: BTreeMap::new(),
            unread: Vec::new(),
            exempt_instances: Vec::new(),
            counts: BTreeMap::new(),
            services: BTreeSet::new(),
            charges: Err("not read".into()),
            breakglass: Vec::new(),
        }
    }
}

impl Found {
    pub fn running_total(&self) -> u64 {
        self.running.values().sum()
    }
}

/// The smallest 1, 2 or 5 × 10ⁿ at least `x` (at least 1): a limit a person reads at a glance.
pub fn round_up(x: f64) -> f64 {
    if !x.is_finite() || x <= 1.0 {
        return 1.0;
    }
    let mut step = 10f64.powi(x.log10().floor() as i32);
    loop {
        for m in [1.0, 2.0, 5.0] {
            if m * step >= x - 1e-9 {
                return m * step;
            }
        }
        step *= 10.0;
    }
}

/// The suggested limit of a count: twice today's, rounded up, and at least 2.
pub fn count_limit(now: u64) -> u64 {
    round_up((now as f64 * HEADROOM).max(2.0)) as u64
}

/// The highest spend rate (USD an hour) of any `SPEND_WINDOW_HOURS` window ending at a point,
/// over the points given; `None` when no window has two points.
pub fn peak_spend_rate(points: &[(DateTime<Utc>, f64)]) -> Option<f64> {
    points
        .iter()
        .filter_map(|(end, _)| {
            let within: Vec<_> = points.iter().copied().filter(|(t, _)| *t <= *end).collect();
            super::money::spend_rate(&within, *end - Duration::hours(SPEND_WINDOW_HOURS)).ok()
        })
        .fold(None, |peak: Option<f64>, r| {
            Some(peak.map_or(r, |p| p.max(r)))
        })
}

/// What the charges say, and the money limits they suggest.
#[derive(Debug, Clone, PartialEq)]
pub struct Money {
    /// The newest estimate of the month's charges.
    pub month_to_date: f64,
    /// The average growth over the whole history, USD an hour.
    pub average_rate: f64,
    /// The highest growth over a `SPEND_WINDOW_HOURS` window, USD an hour.
    pub peak_rate: f64,
    /// Twice the peak rate, rounded up (at least 1).
    pub max_spend_rate: f64,
    /// Twice a month (31 days) at the average rate, rounded up (at least 10), and never below
    /// twice what is already spent this month.
    pub max_estimated_charges: f64,
    /// The spend window that holds at least three of AWS's updates: 6 h, or three times the
    /// widest gap between points, in whole hours.
    pub spend_window_hours: i64,
}

pub fn money(points: &[(DateTime<Utc>, f64)]) -> Option<Money> {
    let first = points.iter().map(|(t, _)| *t).min()?;
    let last = points.iter().max_by_key(|(t, _)| *t)?;
    let average_rate = super::money::spend_rate(points, first).ok()?;
    let peak_rate = peak_spend_rate(points)
        .unwrap_or(average_rate)
        .max(average_rate);
    let month = average_rate * 24.0 * 31.0;
    let mut times: Vec<DateTime<Utc>> = points.iter().map(|(t, _)| *t).collect();
    times.sort();
    let widest = times
        .windows(2)
        .map(|w| (w[1] - w[0]).num_minutes())
        .max()
        .unwrap_or(0);
    let spend_window_hours = SPEND_WINDOW_HOURS.max((3 * widest + 59) / 60).min(24 * 30);
    Some(Money {
        month_to_date: last.1,
        average_rate,
        peak_rate,
        max_spend_rate: round_up(peak_rate * HEADROOM),
        max_estimated_charges: round_up((month * HEADROOM).max(last.1 * HEADROOM).max(10.0)),
        spend_window_hours,
    })
}

/// Whether an IAM user or role name says it is for emergencies.
pub fn is_breakglass(name: &str) -> bool {
    let n = name.to_ascii_lowercase().replace(['-', '_', ' '], "");
    n.contains("breakglass") || n.contains("emergencyaccess")
}

/// The principal name a caller ARN stands for: a user's name, or an assumed role's role.
pub fn principal_name(arn: &str) -> Option<String> {
    let resource = arn.splitn(6, ':').nth(5)?;
    let mut parts = resource.split('/');
    match parts.next()? {
        "user" => parts.next_back().map(str::to_owned),
        "assumed-role" | "role" => parts.next().map(str::to_owned),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn limits_are_rounded_up_to_one_two_or_five() {
        assert_eq!(round_up(0.3), 1.0);
        assert_eq!(round_up(1.5), 2.0);
        assert_eq!(round_up(2.0), 2.0);
        assert_eq!(round_up(3.1), 5.0);
        assert_eq!(round_up(7.0), 10.0);
        assert_eq!(round_up(12.0), 20.0);
        assert_eq!(round_up(480.0), 500.0);
        assert_eq!(round_up(501.0), 1000.0);
        assert_eq!(count_limit(0), 2);
        assert_eq!(count_limit(3), 10);
        assert_eq!(count_limit(40), 100);
    }

    #[test]
    fn the_peak_rate_is_the_steepest_window_and_months_restart() {
        let t = |h: i64| Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap() + Duration::hours(h);
        // $1 an hour for two days, then $10 an hour for 6 hours.
        let mut points: Vec<_> = (0..=48).step_by(6).map(|h| (t(h), h as f64)).collect();
        points.push((t(54), 48.0 + 60.0));
        let m = money(&points).unwrap();
        assert!((m.peak_rate - 10.0).abs() < 1e-9, "{m:?}");
        assert!((m.average_rate - 108.0 / 54.0).abs() < 1e-9);
        assert_eq!(m.max_spend_rate, 20.0);
        assert_eq!(m.month_to_date, 108.0);
        // 2 $/h × 24 × 31 × 2 = 2976 → 5000.
        assert_eq!(m.max_estimated_charges, 5000.0);
        assert_eq!(m.spend_window_hours, 18, "points 6 h apart: three of them");
        assert_eq!(money(&[]), None);
        assert_eq!(money(&[(t(0), 5.0)]), None, "one point says no rate");
    }

    #[test]
    fn breakglass_and_callers_are_recognised() {
        assert!(is_breakglass("BreakGlass-Admin"));
        assert!(is_breakglass("break_glass"));
        assert!(is_breakglass("emergency-access"));
        assert!(!is_breakglass("glassbreaker"));
        assert_eq!(
            principal_name("arn:aws:iam::111111111111:user/ops/alice").as_deref(),
            Some("alice")
        );
        assert_eq!(
            principal_name("arn:aws:sts::111111111111:assumed-role/Admin/alice@example.com")
                .as_deref(),
            Some("Admin")
        );
        assert_eq!(principal_name("arn:aws:iam::111111111111:root"), None);
    }
}
