//! The newtypes of values that can be wrong: parsed once, so the rest of the code never sees an
//! unchecked string.

use std::fmt;

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(pub(super) String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_newtype!(
    /// A 12-digit AWS account id.
    AccountId
);
string_newtype!(
    /// An IAM role ARN, `arn:<partition>:iam::<account>:role/<path/name>`.
    RoleArn
);
string_newtype!(
    /// An AWS region name such as `eu-west-1`.
    RegionName
);
string_newtype!(
    /// An EC2 instance id such as `i-0123456789abcdef0`.
    InstanceId
);

impl AccountId {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!("expected a 12-digit AWS account id, found {s:?}"))
        }
    }
}

/// A CloudWatch Logs group holding CloudTrail records: a name (in the account itself, in
/// `home_region`), or an ARN `arn:aws:logs:REGION:ACCOUNT:log-group:NAME` (an organisation
/// trail's group in another account or region).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogGroup {
    pub name: String,
    pub account: Option<AccountId>,
    pub region: Option<RegionName>,
}

impl LogGroup {
    pub fn parse(s: &str) -> Result<Self, String> {
        let expected = || {
            format!(
                "expected a CloudWatch Logs group name (1 to 512 of letters, digits and _-./#) or its ARN like \"arn:aws:logs:us-east-1:111111111111:log-group:NAME\", found {s:?}"
            )
        };
        let name_ok = |n: &str| {
            (1..=512).contains(&n.len())
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-./#".contains(c))
        };
        if let Some(rest) = s.strip_prefix("arn:") {
            let parts: Vec<&str> = rest.splitn(6, ':').collect();
            let [_partition, "logs", region, account, kind, name] = parts[..] else {
                return Err(expected());
            };
            let name = name.strip_suffix(":*").unwrap_or(name);
            if kind != "log-group" || !name_ok(name) {
                return Err(expected());
            }
            return Ok(LogGroup {
                name: name.to_owned(),
                account: Some(AccountId::parse(account).map_err(|_| expected())?),
                region: Some(RegionName::parse(region).map_err(|_| expected())?),
            });
        }
        if !name_ok(s) {
            return Err(expected());
        }
        Ok(LogGroup {
            name: s.to_owned(),
            account: None,
            region: None,
        })
    }
}

impl RoleArn {
    pub fn parse(s: &str) -> Result<Self, String> {
        let expected = || {
            format!(
                "expected an IAM role ARN like \"arn:aws:iam::222222222222:role/NAME\", found {s:?}"
            )
        };
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        let [arn, partition, service, region, account, resource] = parts[..] else {
            return Err(expected());
        };
        let name = resource.strip_prefix("role/").unwrap_or("");
        let name_ok = !name.is_empty()
            && name.len() <= 512
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c));
        if arn != "arn"
            || !matches!(partition, "aws" | "aws-cn" | "aws-us-gov")
            || service != "iam"
            || !region.is_empty()
            || AccountId::parse(account).is_err()
            || !name_ok
        {
            return Err(expected());
        }
        Ok(Self(s.to_owned()))
    }

    /// The account the role lives in.
    pub fn account(&self) -> &str {
        self.0.split(':').nth(4).unwrap_or_default()
    }
}

impl RegionName {
    pub fn parse(s: &str) -> Result<Self, String> {
        // Shape of every region name so far: lowercase words separated by '-', ending in a
        // number (us-east-1, us-gov-west-1, eu-isoe-west-1, ap-southeast-7).
        let mut words = s.split('-').collect::<Vec<_>>();
        let ok = words.len() >= 3
            && words
                .pop()
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            && words
                .iter()
                .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "expected an AWS region name like \"eu-west-1\", found {s:?}"
            ))
        }
    }

    /// The partition the region belongs to (`aws`, `aws-cn`, `aws-us-gov`, ...).
    pub fn partition(&self) -> &'static str {
        partition_of(&self.0)
    }
}

/// The partition of a region name. Regions are only ever compared within one partition: the
/// credentials of one partition cannot reach another.
pub fn partition_of(region: &str) -> &'static str {
    const PREFIXES: [(&str, &str); 6] = [
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-isob-", "aws-iso-b"),
        ("us-isof-", "aws-iso-f"),
        ("us-iso-", "aws-iso"),
        ("eu-isoe-", "aws-iso-e"),
    ];
    PREFIXES
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or("aws", |(_, partition)| partition)
}

impl InstanceId {
    pub fn parse(s: &str) -> Result<Self, String> {
        let hex = s.strip_prefix("i-").unwrap_or("");
        if (hex.len() == 8 || hex.len() == 17) && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "expected an EC2 instance id like \"i-0123456789abcdef0\", found {s:?}"
            ))
        }
    }
}
