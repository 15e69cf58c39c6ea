//! Who launched a runaway: CloudTrail records of the launch calls, read strictly, and gathered
//! per principal. Pure: the records come from the event path's journal (the `detail` of an `AWS
//! API Call via CloudTrail` event is a CloudTrail record) or from a CloudWatch Logs group
//! (`app/launchers.rs` reads them), this module only reads and adds up.
//!
//! A record is never guessed at: one that does not parse is counted as malformed, one of another
//! account as foreign, a failed call (an `errorCode`) launched nothing, and the guard's own calls
//! (its `StartInstances` when restoring) are never a launcher.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::Value;

/// The calls that launch instances, as CloudTrail names them: what the guard looks for.
pub const LAUNCH_CALLS: [&str; 4] = [
    "RunInstances",
    "RequestSpotInstances",
    "RequestSpotFleet",
    "CreateFleet",
];

/// One launch call, from its CloudTrail record.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchRecord {
    pub event_name: String,
    pub time: DateTime<Utc>,
    pub region: String,
    /// `recipientAccountId`: the account the call was made in.
    pub account: String,
    pub principal: Principal,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub error_code: Option<String>,
    /// The instances the call started (`instanceId`s of its `responseElements`).
    pub instance_ids: Vec<String>,
}

/// `userIdentity`, as much of it as names someone.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// `IAMUser`, `AssumedRole`, `FederatedUser`, `Root`, `AWSService`, ...
    pub kind: String,
    pub arn: String,
    pub user_name: Option<String>,
    pub access_key_id: Option<String>,
    /// For a role session: the role (`sessionContext.sessionIssuer.arn`).
    pub issuer_arn: Option<String>,
}

/// One principal that launched instances, as the alert, the e-mail and `status` show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Launcher {
    pub principal_arn: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub user_name: Option<String>,
    /// The role of a role session.
    pub role_arn: Option<String>,
    pub access_key_id: Option<String>,
    pub source_ips: Vec<String>,
    pub user_agents: Vec<String>,
    /// How many instances it started.
    pub instances: usize,
    pub instance_ids: Vec<String>,
    /// Instances started per region.
    pub regions: BTreeMap<String, usize>,
    /// An exempt principal: reported, never acted on.
    pub exempt: bool,
}

/// What the records of one window say.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Attribution {
    pub launchers: Vec<Launcher>,
    /// Launch records used.
    pub records: usize,
    /// Records skipped: not a CloudTrail launch record this build reads.
    pub malformed: usize,
    /// Records of another account (an organisation trail delivers them all to one group).
    pub foreign: usize,
    /// Calls that failed: nothing was launched.
    pub failed: usize,
    /// The guard's own calls.
    pub guard: usize,
    /// Launch calls whose every instance the account's last ok check counted running: what
    /// that check saw and found ok, so no launch of this incident.
    #[serde(default)]
    pub counted: usize,
}

/// What is known of an incident's launchers, as journaled and shown.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Launchers {
    /// `known` (records found), `not_known_yet` (none yet: CloudTrail delivers within minutes),
    /// or `unknown` (none found after [`PATIENCE_MINUTES`]; never guessed).
    pub state: LaunchersState,
    /// Where the records came from: `events` (the event path's launch calls) or
    /// `cloudtrail_logs`; `none` when nothing was found.
    pub source: String,
    /// The window looked at: from the account's last ok check.
    pub since: DateTime<Utc>,
    pub looked_at: DateTime<Utc>,
    #[serde(flatten)]
    pub attribution: Attribution,
    /// Instances added since the last ok check that no record names; `None` when no ok check is
    /// known to count from.
    pub unattributed: Option<u64>,
    /// Why the records could not be read, if they could not.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LaunchersState {
    Known,
    NotKnownYet,
    Unknown,
}

/// How long after an incident opens the guard goes on waiting for CloudTrail records (AWS
/// delivers them within about 15 minutes): after that, a launch with no record is unknown.
pub const PATIENCE_MINUTES: i64 = 30;

/// The state of what `attribution` found, `minutes` after the incident opened.
pub fn state_of(attribution: &Attribution, minutes: i64) -> LaunchersState {
    if !attribution.launchers.is_empty() {
        LaunchersState::Known
    } else if minutes < PATIENCE_MINUTES {
        LaunchersState::NotKnownYet
    } else {
        LaunchersState::Unknown
    }
}

/// The guard's identity in an account, to tell its own calls apart: its ARN as STS gives it
/// (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION` for a role, whatever the session).
pub fn is_guard(identity: &str, p: &Principal) -> bool {
    match role_of_session(identity) {
        Some(role) => {
            p.arn == identity
                || role_of_session(&p.arn).is_some_and(|r| r == role)
                || p.issuer_arn.as_deref().is_some_and(|i| {
                    i.rsplit_once(":role/").is_some_and(|(head, name)| {
                        role.0 == head.rsplit(':').next().unwrap_or_default()
                            && role.1 == name.rsplit('/').next().unwrap_or_default()
                    })
                })
        }
        None => p.arn == identity,
    }
}

/// `(account, role name)` of an assumed-role session ARN.
fn role_of_session(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:")?;
    let mut parts = rest.splitn(5, ':');
    let (_partition, service, _region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let role = resource.strip_prefix("assumed-role/")?.split('/').next()?;
    (service == "sts").then_some((account, role))
}

/// The non-empty text at `path` (a JSON pointer) of a CloudTrail record.
pub(crate) fn text_at(record: &Value, path: &str) -> Option<String> {
    record
        .pointer(path)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The text at `path`, or an error naming the field.
pub(crate) fn need_at(record: &Value, path: &str) -> Result<String, String> {
    text_at(record, path).ok_or_else(|| format!("no `{}`", &path[1..]))
}

/// A record's `eventTime`, or an error naming it.
pub(crate) fn event_time(record: &Value) -> Result<DateTime<Utc>, String> {
    let time = need_at(record, "/eventTime")?;
    Ok(DateTime::parse_from_rfc3339(&time)
        .map_err(|_| format!("`eventTime` is not an RFC 3339 time: {time:?}"))?
        .with_timezone(&Utc))
}

/// A record's `userIdentity`, its ARN as `arn` reads it (an AWS service acting on its own has
/// no ARN, only `invokedBy`); an error names what is missing, the type first.
pub(crate) fn principal_of(
    record: &Value,
    arn: impl FnOnce(Option<String>) -> Result<String, String>,
) -> Result<Principal, String> {
    let text = |path: &str| text_at(record, path);
    Ok(Principal {
        kind: need_at(record, "/userIdentity/type")?,
        arn: arn(text("/userIdentity/arn").or_else(|| text("/userIdentity/invokedBy")))?,
        user_name: text("/userIdentity/userName"),
        access_key_id: text("/userIdentity/accessKeyId"),
        issuer_arn: text("/userIdentity/sessionContext/sessionIssuer/arn"),
    })
}

/// Reads one CloudTrail record.
pub fn parse_record(record: &Value) -> Result<LaunchRecord, String> {
    let text = |path: &str| text_at(record, path);
    let need = |path: &str| need_at(record, path);
    let event_name = need("/eventName")?;
    let time = event_time(record)?;
    let principal = principal_of(record, |arn| arn.ok_or("no `userIdentity.arn`".into()))?;
    let mut instance_ids = Vec::new();
    if let Some(r) = record.get("responseElements") {
        collect_instance_ids(r, &mut instance_ids);
    }
    instance_ids.sort();
    instance_ids.dedup();
    Ok(LaunchRecord {
        event_name,
        time,
        region: need("/awsRegion")?,
        account: need("/recipientAccountId")?,
        principal,
        source_ip: text("/sourceIPAddress"),
        user_agent: text("/userAgent"),
        error_code: text("/errorCode"),
        instance_ids,
    })
}

/// Every `instanceId` / `instanceIds` value below `v`: where each launch call puts them differs
/// (`instancesSet.items`, a fleet's `fleetInstanceSet`, ...).
fn collect_instance_ids(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                match (k.as_str(), x) {
                    ("instanceId" | "instanceIds", Value::String(s)) if s.starts_with("i-") => {
                        out.push(s.clone())
                    }
                    _ => collect_instance_ids(x, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|x| collect_instance_ids(x, out)),
        _ => {}
    }
}

/// Whether `principal` is one of `exempt` (names or ARNs of users and roles).
fn is_exempt(exempt: &[String], p: &Principal) -> bool {
    let names = [
        Some(p.arn.as_str()),
        p.issuer_arn.as_deref(),
        p.user_name.as_deref(),
        p.issuer_arn.as_deref().and_then(|a| a.rsplit('/').next()),
    ];
    exempt
        .iter()
        .any(|e| names.iter().flatten().any(|n| n == e))
}

/// Gathers `records` (raw CloudTrail records) of `account` per principal. `guard`: the guard's
/// identity there; `exempt`: the account's exempt principals; `counted`: the instances the
/// account's last ok check counted running. The decision is per instance: an instance that
/// check counted was launched by no one of this incident, and a launch whose instances it
/// all counted is no launcher (a call that names no instance, a Spot request, is kept).
pub fn attribute(
    records: &[Value],
    account: &str,
    guard: &str,
    exempt: &[String],
    counted: &BTreeSet<String>,
) -> Attribution {
    let mut out = Attribution::default();
    let mut by: BTreeMap<(String, Option<String>), Launcher> = BTreeMap::new();
    let mut seen_ids = BTreeSet::new();
    for raw in records {
        let r = match parse_record(raw) {
            Ok(r) if LAUNCH_CALLS.contains(&r.event_name.as_str()) => r,
            _ => {
                out.malformed += 1;
                continue;
            }
        };
        if r.account != account {
            out.foreign += 1;
            continue;
        }
        if r.error_code.is_some() {
            out.failed += 1;
            continue;
        }
        if is_guard(guard, &r.principal) {
            out.guard += 1;
            continue;
        }
        let mut r = r;
        if !r.instance_ids.is_empty() {
            r.instance_ids.retain(|id| !counted.contains(id));
            if r.instance_ids.is_empty() {
                out.counted += 1;
                continue;
            }
        }
        out.records += 1;
        let key = (r.principal.arn.clone(), r.principal.access_key_id.clone());
        let l = by.entry(key).or_insert_with(|| Launcher {
            principal_arn: r.principal.arn.clone(),
            kind: r.principal.kind.clone(),
            user_name: r.principal.user_name.clone(),
            role_arn: r.principal.issuer_arn.clone(),
            access_key_id: r.principal.access_key_id.clone(),
            source_ips: Vec::new(),
            user_agents: Vec::new(),
            instances: 0,
            instance_ids: Vec::new(),
            regions: BTreeMap::new(),
            exempt: is_exempt(exempt, &r.principal),
        });
        for (list, value) in [
            (&mut l.source_ips, &r.source_ip),
            (&mut l.user_agents, &r.user_agent),
        ] {
            if let Some(v) = value
                && !list.contains(v)
            {
                list.push(v.clone());
            }
        }
        for id in &r.instance_ids {
            // One instance, one launcher, even if two records name it (a retried delivery).
            if seen_ids.insert(id.clone()) {
                l.instance_ids.push(id.clone());
                *l.regions.entry(r.region.clone()).or_default() += 1;
            }
        }
        l.instances = l.instance_ids.len();
    }
    out.launchers = by.into_values().collect();
    out.launchers.sort_by(|a, b| {
        b.instances
            .cmp(&a.instances)
            .then(a.principal_arn.cmp(&b.principal_arn))
    });
    out
}

mod acting;

pub use acting::{LauncherAct, plan_lockout, revoke_policy_name, revoke_sessions_policy};

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use serde_json::json;

    pub(super) fn record(identity: Value, event: &str, region: &str, ids: &[&str]) -> Value {
        json!({
            "eventVersion": "1.08",
            "userIdentity": identity,
            "eventTime": "2026-11-25T10:00:00Z",
            "eventSource": "ec2.amazonaws.com",
            "eventName": event,
            "awsRegion": region,
            "sourceIPAddress": "203.0.113.7",
            "userAgent": "aws-cli/2.15.0",
            "requestParameters": {},
            "responseElements": {"instancesSet": {"items": ids.iter().map(|i| json!({"instanceId": i})).collect::<Vec<_>>()}},
            "eventType": "AwsApiCall",
            "recipientAccountId": "111111111111",
        })
    }

    pub(super) fn user(name: &str, key: &str) -> Value {
        json!({"type": "IAMUser", "arn": format!("arn:aws:iam::111111111111:user/{name}"),
               "accountId": "111111111111", "accessKeyId": key, "userName": name})
    }

    pub(super) fn session(role: &str, name: &str) -> Value {
        json!({"type": "AssumedRole", "arn": format!("arn:aws:sts::111111111111:assumed-role/{role}/{name}"),
               "accessKeyId": "ASIAEXAMPLE", "sessionContext": {"sessionIssuer": {"type": "Role",
               "arn": format!("arn:aws:iam::111111111111:role/{role}"), "userName": role}}})
    }

    pub(super) const GUARD: &str =
        "arn:aws:sts::111111111111:assumed-role/runawaytrain-member/runawaytrain-check";

    #[test]
    fn launchers_are_gathered_per_principal_and_key() {
        let records = vec![
            record(
                user("mallory", "AKIAMALLORY"),
                "RunInstances",
                "eu-west-1",
                &["i-01", "i-02"],
            ),
            record(
                user("mallory", "AKIAMALLORY"),
                "RunInstances",
                "us-east-1",
                &["i-03"],
            ),
            record(
                user("alice", "AKIAALICE"),
                "RunInstances",
                "eu-west-1",
                &["i-04"],
            ),
            record(
                session("ci", "build-7"),
                "CreateFleet",
                "eu-west-1",
                &["i-05"],
            ),
        ];
        let a = attribute(
            &records,
            "111111111111",
            GUARD,
            &["alice".into()],
            &BTreeSet::new(),
        );
        assert_eq!(a.records, 4);
        let m = &a.launchers[0];
        assert_eq!(m.principal_arn, "arn:aws:iam::111111111111:user/mallory");
        assert_eq!(m.access_key_id.as_deref(), Some("AKIAMALLORY"));
        assert_eq!(m.instances, 3);
        assert_eq!(
            m.regions,
            BTreeMap::from([("eu-west-1".into(), 2), ("us-east-1".into(), 1)])
        );
        assert_eq!(m.source_ips, ["203.0.113.7"]);
        assert!(!m.exempt);
        let alice = a
            .launchers
            .iter()
            .find(|l| l.user_name.as_deref() == Some("alice"))
            .unwrap();
        assert!(alice.exempt);
        let ci = a
            .launchers
            .iter()
            .find(|l| l.kind == "AssumedRole")
            .unwrap();
        assert_eq!(
            ci.role_arn.as_deref(),
            Some("arn:aws:iam::111111111111:role/ci")
        );
    }

    /// A colleague's launch whose instances the last ok check counted is no launcher; a launch
    /// of instances it did not see (still pending then) is; of a launch it saw in part, only
    /// the instances it did not count are the incident's; a call that names no instance (a
    /// Spot request) cannot be decided per instance and is kept.
    #[test]
    fn a_launch_the_last_ok_check_counted_is_no_launcher_per_instance() {
        let records = vec![
            record(
                user("carol", "AKIACAROL"),
                "RunInstances",
                "eu-west-1",
                &["i-c1", "i-c2", "i-c3"],
            ),
            record(
                user("mallory", "AKIAMALLORY"),
                "RunInstances",
                "eu-west-1",
                &["i-m1"],
            ),
            record(
                user("dave", "AKIADAVE"),
                "RunInstances",
                "us-east-1",
                &["i-d1", "i-d2"],
            ),
            record(
                user("erin", "AKIAERIN"),
                "RequestSpotInstances",
                "us-east-1",
                &[],
            ),
        ];
        let counted: BTreeSet<String> = ["i-c1", "i-c2", "i-c3", "i-d1", "i-other"]
            .map(String::from)
            .into();
        let a = attribute(&records, "111111111111", GUARD, &[], &counted);
        assert_eq!((a.records, a.counted), (3, 1));
        let names: Vec<&str> = a
            .launchers
            .iter()
            .filter_map(|l| l.user_name.as_deref())
            .collect();
        assert!(!names.contains(&"carol"), "{names:?}");
        let dave = a
            .launchers
            .iter()
            .find(|l| l.user_name.as_deref() == Some("dave"))
            .unwrap();
        assert_eq!(dave.instance_ids, ["i-d2"]);
        assert!(names.contains(&"mallory") && names.contains(&"erin"));
        // Without what the check counted, every launch in the window is a launcher.
        let all = attribute(&records, "111111111111", GUARD, &[], &BTreeSet::new());
        assert_eq!((all.records, all.counted, all.launchers.len()), (4, 0, 4));
    }

    #[test]
    fn foreign_malformed_failed_and_the_guards_own_records_are_counted_not_used() {
        let mut foreign = record(
            user("bob", "AKIABOB"),
            "RunInstances",
            "eu-west-1",
            &["i-09"],
        );
        foreign["recipientAccountId"] = json!("999999999999");
        let mut failed = record(user("bob", "AKIABOB"), "RunInstances", "eu-west-1", &[]);
        failed["errorCode"] = json!("Client.UnauthorizedOperation");
        let mut no_time = record(
            user("bob", "AKIABOB"),
            "RunInstances",
            "eu-west-1",
            &["i-08"],
        );
        no_time.as_object_mut().unwrap().remove("eventTime");
        let records = vec![
            foreign,
            failed,
            no_time,
            json!("not a record"),
            record(
                user("bob", "AKIABOB"),
                "DescribeInstances",
                "eu-west-1",
                &[],
            ),
            // The guard starting instances again in a restore, in a session of any name.
            record(
                session("runawaytrain-member", "runaway-inc-1"),
                "RunInstances",
                "eu-west-1",
                &["i-07"],
            ),
        ];
        let a = attribute(&records, "111111111111", GUARD, &[], &BTreeSet::new());
        assert_eq!(a.launchers, []);
        assert_eq!((a.foreign, a.failed, a.malformed, a.guard), (1, 1, 3, 1));
    }

    #[test]
    fn the_guard_is_known_by_its_role_whatever_the_session_and_a_user_by_its_arn() {
        let p = |v: Value| {
            parse_record(&record(v, "RunInstances", "eu-west-1", &[]))
                .unwrap()
                .principal
        };
        assert!(is_guard(
            GUARD,
            &p(session("runawaytrain-member", "runaway-inc-9"))
        ));
        assert!(!is_guard(GUARD, &p(session("ci", "runawaytrain-check"))));
        let me = "arn:aws:iam::111111111111:user/guard";
        assert!(is_guard(me, &p(user("guard", "AKIA1"))));
        assert!(!is_guard(me, &p(user("mallory", "AKIA2"))));
    }
}
