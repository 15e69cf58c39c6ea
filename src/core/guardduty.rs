//! GuardDuty findings, in the guard's words: the finding read from its documented JSON (the
//! `detail` of a `GuardDuty Finding` event), the `[[guardduty]]` rules that map finding types
//! and severities to a response, and what one incident per resource holds. Pure.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the guard does about a finding. It never terminates, whatever a rule says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// Tell people; act only when someone presses a button.
    Alert,
    /// Isolate the instance at the deadline (`runaway isolate`'s steps).
    Isolate,
    /// Stop the instance at the deadline.
    Stop,
    /// Lock out the principal at the deadline (`lockout_launchers`: an IAM user's key set
    /// Inactive and the deny-all policy attached; a role's older sessions revoked or the
    /// launch-deny policy attached). For an access key's finding, and for tampering.
    Lockout,
}

impl Response {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Alert => "alert",
            Self::Isolate => "isolate",
            Self::Stop => "stop",
            Self::Lockout => "lockout",
        }
    }
}

/// One `[[guardduty]]` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// `finding`: a glob on the finding type (`*` any run of characters, `?` one).
    pub finding: String,
    /// `min_severity`, default 0: findings below it match nothing.
    pub min_severity: f64,
    pub response: Response,
    /// `grace_period`, default the account's: 0 acts at once.
    pub grace_period: Option<std::time::Duration>,
}

/// The parts of a finding the guard reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub id: String,
    #[serde(rename = "type")]
    pub finding_type: String,
    pub severity: f64,
    pub title: String,
    pub account_id: String,
    pub region: String,
    /// `Instance`, `AccessKey`, `S3Bucket`, ...
    pub resource_type: String,
    pub instance_id: Option<String>,
    pub access_key_id: Option<String>,
    pub user_name: Option<String>,
    /// `IAMUser`, `AssumedRole`, `Root`, ... of the access key's principal.
    pub user_type: Option<String>,
    /// How many times GuardDuty has seen the activity (`service.count`).
    pub count: u64,
    pub updated_at: Option<String>,
}

impl Finding {
    /// What the finding is about, one incident each: `instance:<id>`, `access_key:<id>`, or
    /// the finding itself for any other resource.
    pub fn resource(&self) -> String {
        match (&self.instance_id, &self.access_key_id) {
            (Some(i), _) => format!("instance:{i}"),
            (None, Some(k)) => format!("access_key:{k}"),
            _ => format!("finding:{}", self.id),
        }
    }
}

/// Reads a finding from the `detail` of its event: the fields GuardDuty documents.
pub fn read(detail: &Value) -> Result<Finding, String> {
    let text = |path: &str| -> Option<String> {
        detail
            .pointer(path)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let need = |path: &str| {
        text(path).ok_or_else(|| {
            format!(
                "GuardDuty Finding: `detail{}` is missing",
                path.replace('/', ".")
            )
        })
    };
    let severity = match detail.get("severity") {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .filter(|s| (0.0..=10.0).contains(s))
    .ok_or("GuardDuty Finding: `detail.severity` is not a number from 0 to 10")?;
    let resource_type = need("/resource/resourceType")?;
    Ok(Finding {
        id: need("/id")?,
        finding_type: need("/type")?,
        severity,
        title: text("/title").unwrap_or_else(|| need("/type").unwrap_or_default()),
        account_id: need("/accountId")?,
        region: need("/region")?,
        instance_id: text("/resource/instanceDetails/instanceId"),
        access_key_id: text("/resource/accessKeyDetails/accessKeyId"),
        user_name: text("/resource/accessKeyDetails/userName"),
        user_type: text("/resource/accessKeyDetails/userType"),
        resource_type,
        count: detail
            .pointer("/service/count")
            .and_then(Value::as_u64)
            .unwrap_or(1),
        updated_at: text("/updatedAt"),
    })
}

/// Whether `text` matches the glob `pattern` (`*` any run, `?` one character).
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// What the rules make of a finding: the first rule whose glob matches its type and whose
/// minimum severity it reaches, or why none does.
pub fn matching<'r>(rules: &'r [Rule], finding: &Finding) -> Result<&'r Rule, String> {
    let by_type: Vec<&Rule> = rules
        .iter()
        .filter(|r| glob(&r.finding, &finding.finding_type))
        .collect();
    if by_type.is_empty() {
        return Err(format!(
            "no [[guardduty]] rule matches {}",
            finding.finding_type
        ));
    }
    by_type
        .iter()
        .find(|r| finding.severity >= r.min_severity)
        .copied()
        .ok_or_else(|| {
            let least = by_type
                .iter()
                .map(|r| r.min_severity)
                .fold(f64::INFINITY, f64::min);
            format!(
                "severity {} is below the rules' minimum ({least})",
                finding.severity
            )
        })
}

/// What a finding incident holds: the latest finding, what the guard will do about it, and
/// how many findings it has gathered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingIncident {
    pub finding: Finding,
    pub response: Response,
    /// The glob of the rule that matched.
    pub rule: String,
    /// Seconds from delivery to the response.
    pub grace_seconds: u64,
    /// Findings (events) received for this resource.
    pub findings: u64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Tampering seen in CloudTrail (`core::tamper`), when that is what the incident is about:
    /// `finding` then says it in GuardDuty's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tamper: Option<crate::core::tamper::Tamper>,
}

impl FindingIncident {
    /// A new incident for `finding`. A response that cannot apply to the resource (isolating or
    /// stopping anything but an instance) becomes an alert.
    pub fn new(
        finding: Finding,
        rule: &Rule,
        grace: std::time::Duration,
        at: DateTime<Utc>,
    ) -> Self {
        let response = match rule.response {
            Response::Isolate | Response::Stop if finding.instance_id.is_none() => Response::Alert,
            Response::Lockout
                if finding.access_key_id.is_none()
                    || finding.user_name.is_none()
                    || finding.user_type.as_deref() != Some("IAMUser") =>
            {
                Response::Alert
            }
            r => r,
        };
        FindingIncident {
            finding,
            response,
            rule: rule.finding.clone(),
            grace_seconds: grace.as_secs(),
            findings: 1,
            first_seen: at,
            last_seen: at,
            tamper: None,
        }
    }

    /// A new incident for tampering: alert or lock out the principal (never isolate or stop:
    /// the call names no instance of its own).
    pub fn of_tamper(
        tamper: crate::core::tamper::Tamper,
        account_id: &str,
        response: Response,
        rule: &str,
        grace: std::time::Duration,
        at: DateTime<Utc>,
    ) -> Self {
        FindingIncident {
            finding: tamper.as_finding(account_id),
            response: match response {
                Response::Lockout => Response::Lockout,
                _ => Response::Alert,
            },
            rule: rule.to_owned(),
            grace_seconds: grace.as_secs(),
            findings: 1,
            first_seen: at,
            last_seen: at,
            tamper: Some(tamper),
        }
    }

    /// The journal's kind of the incident: `bedrock`, `tamper` or `finding`.
    pub fn kind(&self) -> &'static str {
        match &self.tamper {
            Some(t) if t.category == crate::core::tamper::Category::Bedrock => "bedrock",
            Some(_) => "tamper",
            None => "finding",
        }
    }

    /// Who opened it, as the journal's `actor`: `cloudtrail` or `guardduty`.
    pub fn actor(&self) -> &'static str {
        if self.tamper.is_some() {
            "cloudtrail"
        } else {
            "guardduty"
        }
    }

    /// The same resource seen again: the latest finding kept, counted; the response never
    /// weakened by a later, milder finding.
    pub fn seen_again(&mut self, later: FindingIncident) {
        let response = match (self.response, later.response) {
            (Response::Alert, r) => r,
            (r, _) => r,
        };
        if let (Some(earlier), Some(later)) = (self.tamper.take(), later.tamper.clone()) {
            self.tamper = Some(earlier.followed_by(later));
        }
        self.finding = later.finding;
        self.response = response;
        self.findings += 1;
        self.last_seen = later.last_seen;
    }

    /// Whether the deadline acts (an alert only waits for a press).
    pub fn acts(&self) -> bool {
        self.response != Response::Alert
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// GuardDuty's sample finding for `Backdoor:EC2/C&CActivity.B!DNS`, trimmed to what is read.
    pub fn backdoor(severity: f64) -> Value {
        json!({
            "schemaVersion": "2.0",
            "accountId": "123456789012",
            "region": "us-east-1",
            "id": "16afba5c5c43e07c9e3e5e2e544e95df",
            "type": "Backdoor:EC2/C&CActivity.B!DNS",
            "severity": severity,
            "title": "Command and Control server domain name queried by EC2 instance i-99999999.",
            "resource": {"resourceType": "Instance", "instanceDetails": {"instanceId": "i-99999999"}},
            "service": {"count": 3},
            "updatedAt": "2026-11-25T10:00:00.000Z"
        })
    }

    fn rule(glob: &str, min: f64, response: Response) -> Rule {
        Rule {
            finding: glob.into(),
            min_severity: min,
            response,
            grace_period: None,
        }
    }

    #[test]
    fn reads_the_documented_finding() {
        let f = read(&backdoor(8.0)).unwrap();
        assert_eq!(f.finding_type, "Backdoor:EC2/C&CActivity.B!DNS");
        assert_eq!((f.severity, f.count), (8.0, 3));
        assert_eq!(f.resource(), "instance:i-99999999");
        let mut key = backdoor(5.0);
        key["resource"] = json!({"resourceType": "AccessKey", "accessKeyDetails": {"accessKeyId": "AKIAEXAMPLE", "userName": "mallory", "userType": "IAMUser"}});
        assert_eq!(read(&key).unwrap().resource(), "access_key:AKIAEXAMPLE");
        let mut bad = backdoor(11.0);
        assert!(read(&bad).unwrap_err().contains("severity"));
        bad["severity"] = json!(5);
        bad.as_object_mut().unwrap().remove("resource");
        assert!(read(&bad).unwrap_err().contains("resource.resourceType"));
    }

    #[test]
    fn globs() {
        assert!(glob("Backdoor:EC2/*", "Backdoor:EC2/C&CActivity.B!DNS"));
        assert!(glob("*", ""));
        assert!(glob(
            "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration*",
            "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"
        ));
        assert!(glob(
            "CryptoCurrency:EC2/BitcoinTool.?!DNS",
            "CryptoCurrency:EC2/BitcoinTool.B!DNS"
        ));
        assert!(!glob(
            "Backdoor:EC2/*",
            "Recon:EC2/PortProbeUnprotectedPort"
        ));
        assert!(!glob("Backdoor", "Backdoor:EC2/X"));
        assert!(glob("*:EC2/*DNS", "Trojan:EC2/DNSDataExfiltration!DNS"));
    }

    #[test]
    fn the_first_rule_reached_decides_and_below_the_minimum_nothing_does() {
        let rules = [
            rule("Backdoor:EC2/*", 7.0, Response::Isolate),
            rule("*", 4.0, Response::Alert),
        ];
        let high = read(&backdoor(8.0)).unwrap();
        assert_eq!(matching(&rules, &high).unwrap().response, Response::Isolate);
        let medium = read(&backdoor(5.0)).unwrap();
        assert_eq!(matching(&rules, &medium).unwrap().response, Response::Alert);
        let low = read(&backdoor(2.0)).unwrap();
        assert!(matching(&rules, &low).unwrap_err().contains("below"));
        assert!(
            matching(
                &rules[..1],
                &Finding {
                    finding_type: "Recon:EC2/Portscan".into(),
                    ..high.clone()
                }
            )
            .unwrap_err()
            .contains("no [[guardduty]] rule")
        );
    }

    #[test]
    fn a_key_finding_is_never_isolated_and_a_milder_repeat_never_weakens() {
        let mut key = read(&backdoor(8.0)).unwrap();
        key.instance_id = None;
        key.access_key_id = Some("AKIA1".into());
        let at = Utc::now();
        let i = FindingIncident::new(
            key,
            &rule("*", 0.0, Response::Isolate),
            Default::default(),
            at,
        );
        assert_eq!(i.response, Response::Alert);
        assert!(!i.acts());
        let f = read(&backdoor(8.0)).unwrap();
        let mut first = FindingIncident::new(
            f.clone(),
            &rule("*", 0.0, Response::Isolate),
            Default::default(),
            at,
        );
        first.seen_again(FindingIncident::new(
            f,
            &rule("*", 0.0, Response::Alert),
            Default::default(),
            at,
        ));
        assert_eq!((first.response, first.findings), (Response::Isolate, 2));
    }
}
