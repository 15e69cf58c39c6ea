//! Money, in the guard's words: the latest estimated charges and how fast they grew (from the
//! billing metric's irregular points), and the burn rate of what runs now (instances × their
//! on-demand price). Pure.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The newest point at or after `since`: the month's estimate as AWS last updated it.
pub fn latest(points: &[(DateTime<Utc>, f64)], since: DateTime<Utc>) -> Option<f64> {
    points
        .iter()
        .filter(|(t, _)| *t >= since)
        .max_by_key(|(t, _)| *t)
        .map(|(_, v)| *v)
}

/// How fast the estimated charges grew over the points at or after `since`, in USD per hour.
/// The estimate only grows within a month and starts again from zero at the next: a drop is a
/// new month, whose value is all growth. Fewer than two points (AWS updates the metric a few
/// times a day) cannot say, and is an error, never a zero.
pub fn spend_rate(points: &[(DateTime<Utc>, f64)], since: DateTime<Utc>) -> Result<f64, String> {
    let mut p: Vec<(DateTime<Utc>, f64)> = points
        .iter()
        .copied()
        .filter(|(t, v)| *t >= since && v.is_finite())
        .collect();
    p.sort_by_key(|(t, _)| *t);
    p.dedup_by_key(|(t, _)| *t);
    let (Some(first), Some(last)) = (p.first(), p.last()) else {
        return Err("no EstimatedCharges point in the window".into());
    };
    let hours = (last.0 - first.0).num_seconds() as f64 / 3600.0;
    if p.len() < 2 || hours <= 0.0 {
        return Err(format!(
            "only {} EstimatedCharges point(s) in the window: AWS updates the metric a few times a day, widen spend_window",
            p.len()
        ));
    }
    let grown: f64 = p
        .windows(2)
        .map(|w| {
            let (before, after) = (w[0].1, w[1].1);
            if after >= before {
                after - before
            } else {
                after
            }
        })
        .sum();
    Ok(grown / hours)
}

/// The window's start: `spend_window` before `now`.
pub fn window_start(now: DateTime<Utc>, window: std::time::Duration) -> DateTime<Utc> {
    Duration::from_std(window)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// What a running instance costs an hour is priced by: its type, region and platform.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PriceKey {
    pub instance_type: String,
    pub region: String,
    /// The Price List's `operatingSystem`: `Linux`, `Windows`, `RHEL`, `SUSE`, ...
    pub operating_system: String,
}

/// The Price List's operating system of an instance, from EC2's `PlatformDetails`.
pub fn operating_system(platform_details: Option<&str>) -> &'static str {
    let p = platform_details.unwrap_or("Linux/UNIX");
    if p.starts_with("Windows") {
        "Windows"
    } else if p.starts_with("Red Hat") {
        "RHEL"
    } else if p.starts_with("SUSE") {
        "SUSE"
    } else if p.starts_with("Ubuntu Pro") {
        "Ubuntu Pro"
    } else {
        "Linux"
    }
}

/// Families of accelerated computing (GPUs, Trainium, Inferentia, Gaudi, FPGAs, video
/// transcoding): the ones a leaked key launches to mine or train.
const ACCELERATED: [&str; 8] = ["p", "g", "gr", "trn", "inf", "dl", "f", "vt"];

/// Whether an instance type is of an accelerated family (`p5.48xlarge`, `g6.xlarge`,
/// `trn1.32xlarge`, `inf2.xlarge`, `dl1.24xlarge`, ...).
pub fn is_accelerated(instance_type: &str) -> bool {
    let family = instance_type.split('.').next().unwrap_or("");
    let letters: String = family
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    ACCELERATED.contains(&letters.as_str())
}

/// What one instance type costs of the burn rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeCost {
    pub instance_type: String,
    pub instances: u64,
    pub usd_per_hour: f64,
    pub accelerated: bool,
}

/// The burn rate of the running instances: the sum of their on-demand prices, and the types
/// by cost. `None` for the rate when a price is missing (the caller says which): never a zero.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Burn {
    pub usd_per_hour: Option<f64>,
    /// The types by cost, most expensive first.
    pub by_type: Vec<TypeCost>,
    /// Types whose price could not be found.
    pub unpriced: Vec<String>,
}

/// The burn rate of `running` (one price key per instance) at `prices`.
pub fn burn(running: &[PriceKey], prices: &BTreeMap<PriceKey, f64>) -> Burn {
    let mut by_type: BTreeMap<&str, (u64, f64)> = BTreeMap::new();
    let mut unpriced: Vec<String> = Vec::new();
    for key in running {
        match prices.get(key) {
            Some(p) => {
                let e = by_type.entry(&key.instance_type).or_default();
                e.0 += 1;
                e.1 += p;
            }
            None => {
                let what = format!(
                    "{} ({}, {})",
                    key.instance_type, key.region, key.operating_system
                );
                if !unpriced.contains(&what) {
                    unpriced.push(what);
                }
            }
        }
    }
    let mut types: Vec<TypeCost> = by_type
        .into_iter()
        .map(|(t, (n, usd))| TypeCost {
            instance_type: t.to_owned(),
            instances: n,
            usd_per_hour: usd,
            accelerated: is_accelerated(t),
        })
        .collect();
    types.sort_by(|a, b| b.usd_per_hour.total_cmp(&a.usd_per_hour));
    Burn {
        usd_per_hour: unpriced
            .is_empty()
            .then(|| types.iter().map(|t| t.usd_per_hour).sum()),
        by_type: types,
        unpriced,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap()
    }

    #[test]
    fn the_spend_rate_is_growth_per_hour_across_irregular_points() {
        let p = [(at(25, 0), 100.0), (at(25, 4), 140.0), (at(25, 6), 160.0)];
        assert_eq!(spend_rate(&p, at(24, 18)).unwrap(), 10.0);
        assert_eq!(latest(&p, at(24, 0)), Some(160.0));
        // Too few points is an error, never a zero.
        assert!(
            spend_rate(&p[..1], at(24, 0))
                .unwrap_err()
                .contains("only 1")
        );
        assert!(spend_rate(&p, at(26, 0)).is_err());
    }

    #[test]
    fn a_new_month_starts_from_zero() {
        // 900 at 22:00 on the 30th, then the 1st's estimate: 30 at 02:00.
        let p = [
            (Utc.with_ymd_and_hms(2026, 11, 30, 20, 0, 0).unwrap(), 880.0),
            (Utc.with_ymd_and_hms(2026, 11, 30, 22, 0, 0).unwrap(), 900.0),
            (Utc.with_ymd_and_hms(2026, 12, 1, 2, 0, 0).unwrap(), 30.0),
        ];
        // 20 + 30 over 6 hours.
        let r = spend_rate(&p, Utc.with_ymd_and_hms(2026, 11, 30, 19, 0, 0).unwrap()).unwrap();
        assert!((r - 50.0 / 6.0).abs() < 1e-9, "{r}");
    }

    #[test]
    fn the_burn_rate_prices_every_instance_or_says_which_it_cannot() {
        let key = |t: &str| PriceKey {
            instance_type: t.into(),
            region: "us-east-1".into(),
            operating_system: "Linux".into(),
        };
        let prices = BTreeMap::from([(key("p4d.24xlarge"), 32.77), (key("t3.micro"), 0.0104)]);
        let b = burn(
            &[key("p4d.24xlarge"), key("p4d.24xlarge"), key("t3.micro")],
            &prices,
        );
        assert!((b.usd_per_hour.unwrap() - 65.5504).abs() < 1e-9);
        assert_eq!(b.by_type[0].instance_type, "p4d.24xlarge");
        assert_eq!(b.by_type[0].instances, 2);
        assert!(b.by_type[0].accelerated && !b.by_type[1].accelerated);
        let missing = burn(&[key("x9.huge"), key("t3.micro")], &prices);
        assert_eq!(missing.usd_per_hour, None);
        assert_eq!(missing.unpriced, ["x9.huge (us-east-1, Linux)"]);
    }

    #[test]
    fn accelerated_families_and_operating_systems() {
        for t in [
            "p5.48xlarge",
            "g6.xlarge",
            "gr6.4xlarge",
            "trn1.32xlarge",
            "inf2.xlarge",
            "dl1.24xlarge",
            "f1.2xlarge",
        ] {
            assert!(is_accelerated(t), "{t}");
        }
        for t in [
            "t3.micro",
            "m7g.large",
            "c7gn.large",
            "r6i.large",
            "i4i.large",
        ] {
            assert!(!is_accelerated(t), "{t}");
        }
        assert_eq!(operating_system(None), "Linux");
        assert_eq!(
            operating_system(Some("Windows with SQL Server Standard")),
            "Windows"
        );
        assert_eq!(operating_system(Some("Red Hat Enterprise Linux")), "RHEL");
    }
}
