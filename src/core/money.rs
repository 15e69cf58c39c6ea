//! Money, in the guard's words: the latest estimated charges and how fast they grew (from the
//! billing metric's irregular points), and the burn rate of what runs now (instances × their
//! on-demand price). Pure.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::core::services::What;

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

/// What a running instance costs an hour is priced by: its type, region and product (an EC2
/// instance's platform, an RDS database's engine, a SageMaker instance's component).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PriceKey {
    pub instance_type: String,
    pub region: String,
    /// Flattened: an EC2 key is `{instance_type, region, operating_system}` as before.
    #[serde(flatten)]
    pub product: Product,
}

/// The Price List product an instance hour is billed under.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Product {
    /// `AmazonEC2`; `operating_system`: the Price List's `operatingSystem` (`Linux`,
    /// `Windows`, `RHEL`, `SUSE`, ...).
    Ec2 { operating_system: String },
    /// `AmazonRDS`: `databaseEngine` (`PostgreSQL`, `Aurora MySQL`, ...) and
    /// `deploymentOption` (`Single-AZ`, `Multi-AZ`).
    Rds {
        database_engine: String,
        deployment_option: String,
    },
    /// `AmazonSageMaker`: `component` (`Notebook`, `Hosting`).
    SageMaker { component: String },
    /// `AmazonBedrock`: a model's on-demand tokens, `tokens` = `input` or `output`. The key's
    /// `instance_type` is the model id, and its price is USD per 1,000 tokens, not per hour.
    BedrockTokens { tokens: String },
    /// `AmazonBedrock`: a model unit-hour of provisioned throughput at `commitment` (`No
    /// Commitment`, `1 Month`, `6 Months`); the key's `instance_type` is the model id.
    BedrockProvisioned { commitment: String },
}

impl Product {
    pub fn ec2(operating_system: &str) -> Product {
        Product::Ec2 {
            operating_system: operating_system.to_owned(),
        }
    }

    /// The Price List's service code.
    pub fn service_code(&self) -> &'static str {
        match self {
            Product::Ec2 { .. } => "AmazonEC2",
            Product::Rds { .. } => "AmazonRDS",
            Product::SageMaker { .. } => "AmazonSageMaker",
            Product::BedrockTokens { .. } | Product::BedrockProvisioned { .. } => "AmazonBedrock",
        }
    }

    /// How a report names it: `Linux`, `RDS PostgreSQL Multi-AZ`, `SageMaker Notebook`.
    pub fn describe(&self) -> String {
        match self {
            Product::Ec2 { operating_system } => operating_system.clone(),
            Product::Rds {
                database_engine,
                deployment_option,
            } => format!("RDS {database_engine} {deployment_option}"),
            Product::SageMaker { component } => format!("SageMaker {component}"),
            Product::BedrockTokens { tokens } => format!("Bedrock {tokens} tokens"),
            Product::BedrockProvisioned { commitment } => {
                format!("Bedrock provisioned throughput, {commitment}")
            }
        }
    }
}

impl PriceKey {
    /// `t3.micro (us-east-1, Linux)`: how an error names a key without a price.
    pub fn describe(&self) -> String {
        format!(
            "{} ({}, {})",
            self.instance_type,
            self.region,
            self.product.describe()
        )
    }
}

/// The Price List's `databaseEngine` of an RDS engine name (`aurora-postgresql` →
/// `Aurora PostgreSQL`, `sqlserver-se` → `SQL Server`); an engine it does not know is kept as
/// it is, so that its price is missing and said, never guessed.
pub fn database_engine(engine: &str) -> String {
    let e = engine.to_ascii_lowercase();
    let name = if e == "aurora" || e == "aurora-mysql" {
        "Aurora MySQL"
    } else if e == "aurora-postgresql" {
        "Aurora PostgreSQL"
    } else if e == "mysql" {
        "MySQL"
    } else if e == "postgres" {
        "PostgreSQL"
    } else if e == "mariadb" {
        "MariaDB"
    } else if e.starts_with("oracle") || e.starts_with("custom-oracle") {
        "Oracle"
    } else if e.starts_with("sqlserver") || e.starts_with("custom-sqlserver") {
        "SQL Server"
    } else if e.starts_with("db2") {
        "Db2"
    } else {
        return engine.to_owned();
    };
    name.to_owned()
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

/// The instance hours a service resource is billed for while it runs, one key each: a
/// database instance, each member of an Aurora cluster, a notebook, each instance of an
/// endpoint. Jobs, tasks, functions and queues are billed otherwise and have none here.
pub fn service_hours(what: &What, region: &str) -> Vec<PriceKey> {
    let key = |instance_type: &str, product: Product| PriceKey {
        instance_type: instance_type.to_owned(),
        region: region.to_owned(),
        product,
    };
    let rds = |engine: &str, multi_az: bool| Product::Rds {
        database_engine: database_engine(engine),
        deployment_option: if multi_az { "Multi-AZ" } else { "Single-AZ" }.into(),
    };
    let sagemaker = |component: &str| Product::SageMaker {
        component: component.into(),
    };
    match what {
        What::DbInstance {
            class,
            engine,
            multi_az,
            ..
        } => vec![key(class, rds(engine, *multi_az))],
        What::DbCluster {
            engine, members, ..
        } => members.iter().map(|c| key(c, rds(engine, false))).collect(),
        What::Notebook { instance_type, .. } => vec![key(instance_type, sagemaker("Notebook"))],
        What::Endpoint { variants, .. } => variants
            .iter()
            .flat_map(|(t, n)| {
                std::iter::repeat_n(key(t, sagemaker("Hosting")), (*n).max(0) as usize)
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Families of accelerated computing (GPUs, Trainium, Inferentia, Gaudi, FPGAs, video
/// transcoding): the ones a leaked key launches to mine or train.
const ACCELERATED: [&str; 8] = ["p", "g", "gr", "trn", "inf", "dl", "f", "vt"];

/// Whether an instance type is of an accelerated family (`p5.48xlarge`, `g6.xlarge`,
/// `trn1.32xlarge`, `inf2.xlarge`, `dl1.24xlarge`, ...).
pub fn is_accelerated(instance_type: &str) -> bool {
    let t = instance_type
        .strip_prefix("ml.")
        .or_else(|| instance_type.strip_prefix("db."))
        .unwrap_or(instance_type);
    let family = t.split('.').next().unwrap_or("");
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
    /// Keys whose price could not be found, once each.
    pub unpriced: Vec<PriceKey>,
}

/// The burn rate of `running` (one price key per instance) at `prices`.
pub fn burn(running: &[PriceKey], prices: &BTreeMap<PriceKey, f64>) -> Burn {
    let mut by_type: BTreeMap<&str, (u64, f64)> = BTreeMap::new();
    let mut unpriced: Vec<PriceKey> = Vec::new();
    for key in running {
        match prices.get(key) {
            Some(p) => {
                let e = by_type.entry(&key.instance_type).or_default();
                e.0 += 1;
                e.1 += p;
            }
            None => {
                if !unpriced.contains(key) {
                    unpriced.push(key.clone());
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
            product: Product::ec2("Linux"),
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
        assert_eq!(missing.unpriced, [key("x9.huge")]);
        assert_eq!(missing.unpriced[0].describe(), "x9.huge (us-east-1, Linux)");
    }

    #[test]
    fn an_ec2_key_keeps_its_shape_and_others_name_their_product() {
        // The journal keeps prices under the key's JSON: an EC2 key is written as before.
        let ec2 = PriceKey {
            instance_type: "t3.micro".into(),
            region: "us-east-1".into(),
            product: Product::ec2("Linux"),
        };
        assert_eq!(
            serde_json::to_string(&ec2).unwrap(),
            r#"{"instance_type":"t3.micro","region":"us-east-1","operating_system":"Linux"}"#
        );
        let rds = PriceKey {
            instance_type: "db.r6g.large".into(),
            region: "eu-west-1".into(),
            product: Product::Rds {
                database_engine: database_engine("aurora-postgresql"),
                deployment_option: "Single-AZ".into(),
            },
        };
        let back: PriceKey = serde_json::from_str(&serde_json::to_string(&rds).unwrap()).unwrap();
        assert_eq!(back, rds);
        assert_eq!(
            rds.describe(),
            "db.r6g.large (eu-west-1, RDS Aurora PostgreSQL Single-AZ)"
        );
        assert_eq!(rds.product.service_code(), "AmazonRDS");
        assert_eq!(database_engine("sqlserver-se"), "SQL Server");
        assert_eq!(database_engine("postgres"), "PostgreSQL");
        assert_eq!(database_engine("neptune"), "neptune");
        assert!(is_accelerated("ml.p4d.24xlarge") && !is_accelerated("ml.t3.medium"));
    }

    #[test]
    fn databases_notebooks_and_endpoints_are_billed_by_their_instances() {
        let cluster = What::DbCluster {
            id: "c".into(),
            engine: "aurora-mysql".into(),
            members: vec!["db.r6g.large".into(), "db.r6g.xlarge".into()],
        };
        let keys = service_hours(&cluster, "us-east-1");
        assert_eq!(keys.len(), 2);
        assert_eq!(
            keys[1].describe(),
            "db.r6g.xlarge (us-east-1, RDS Aurora MySQL Single-AZ)"
        );
        let db = What::DbInstance {
            id: "d".into(),
            class: "db.m5.large".into(),
            engine: "postgres".into(),
            multi_az: true,
        };
        assert_eq!(
            service_hours(&db, "eu-west-1")[0].describe(),
            "db.m5.large (eu-west-1, RDS PostgreSQL Multi-AZ)"
        );
        let endpoint = What::Endpoint {
            name: "e".into(),
            variants: vec![("ml.g5.xlarge".into(), 3), ("ml.m5.large".into(), 1)],
        };
        let keys = service_hours(&endpoint, "us-east-1");
        assert_eq!(keys.len(), 4);
        assert_eq!(keys[0].product.describe(), "SageMaker Hosting");
        let function = What::Function {
            name: "f".into(),
            reserved: None,
        };
        assert!(service_hours(&function, "us-east-1").is_empty());
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
