//! Tamper and sabotage, from CloudTrail records the event path brings: someone other than the
//! guard stopping or terminating instances behind its back (with `watch_stops`), turning off the
//! guard's senses (CloudTrail, GuardDuty, its EventBridge rules, its queue), changing its role or
//! the policies it locks people out with, or moving the exemption tag. Each is an attack, not only
//! a cost: it opens a `tamper` incident naming the principal, the key, the source IP and what was
//! done, and offers the lockout of that principal. Pure: the bot reads the journal and the
//! guard's identity, this module reads the record and judges it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::guardduty::glob;
use super::launchers::{Principal, is_guard, need_at, text_at};

mod record;
pub(crate) use record::when_and_who;

/// The calls the module forwards for this, as CloudTrail names them: `(source, eventSource,
/// eventNames)`. The Terraform pattern is held to this by a test. IAM's `PutRolePolicy` is also
/// one of the guard's own policy writes (`core::policy_writes`), forwarded with them.
pub const TAMPER_CALLS: [(&str, &str, &[&str]); 6] = [
    (
        "aws.ec2",
        "ec2.amazonaws.com",
        &[
            "StopInstances",
            "TerminateInstances",
            "ModifyInstanceAttribute",
            "CreateTags",
            "DeleteTags",
        ],
    ),
    (
        "aws.cloudtrail",
        "cloudtrail.amazonaws.com",
        &[
            "StopLogging",
            "DeleteTrail",
            "UpdateTrail",
            "PutEventSelectors",
        ],
    ),
    (
        "aws.guardduty",
        "guardduty.amazonaws.com",
        &[
            "DeleteDetector",
            "UpdateDetector",
            "DisassociateFromMasterAccount",
            "DisassociateFromAdministratorAccount",
        ],
    ),
    (
        "aws.events",
        "events.amazonaws.com",
        &["DisableRule", "DeleteRule", "RemoveTargets", "PutRule"],
    ),
    (
        "aws.sqs",
        "sqs.amazonaws.com",
        &["SetQueueAttributes", "DeleteQueue", "PurgeQueue"],
    ),
    (
        "aws.iam",
        "iam.amazonaws.com",
        &[
            "DeleteRole",
            "UpdateAssumeRolePolicy",
            "PutRolePolicy",
            "DeleteRolePolicy",
            "AttachRolePolicy",
            "DetachRolePolicy",
            "PutRolePermissionsBoundary",
            "DeleteRolePermissionsBoundary",
            "DetachUserPolicy",
            "CreatePolicyVersion",
            "SetDefaultPolicyVersion",
            "DeletePolicyVersion",
            "DeletePolicy",
        ],
    ),
];

/// Whether an API call is one this module judges.
pub fn is_tamper_call(event_name: &str) -> bool {
    TAMPER_CALLS
        .iter()
        .any(|(_, _, names)| names.contains(&event_name))
}

/// What kind of tampering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Instances stopped, terminated, or their termination or stop protection turned off.
    Stops,
    /// The guard's senses or its own role and policies changed.
    Evasion,
    /// The exemption tag put on or taken off.
    ExemptTag,
    /// Amazon Bedrock called by a principal not in `bedrock_principals` (`core::bedrock`).
    Bedrock,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stops => "stops",
            Self::Evasion => "evasion",
            Self::ExemptTag => "exempt_tag",
            Self::Bedrock => "bedrock",
        }
    }

    /// The severity the alert shows, on GuardDuty's scale: defence evasion is high.
    pub fn severity(self) -> f64 {
        match self {
            Self::Evasion | Self::Bedrock => 8.0,
            Self::Stops | Self::ExemptTag => 5.0,
        }
    }
}

/// One tampering call, in the guard's words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tamper {
    pub category: Category,
    pub event_name: String,
    pub event_source: String,
    /// CloudTrail's `eventID`, when the record has one.
    pub event_id: Option<String>,
    pub time: DateTime<Utc>,
    pub region: String,
    pub principal_arn: String,
    /// `IAMUser`, `AssumedRole`, `Root`, ...
    pub principal_type: String,
    pub user_name: Option<String>,
    /// The role of a role session.
    pub role_arn: Option<String>,
    pub access_key_id: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    /// What was done, for people: "stopped i-0abc, i-0def".
    pub what: String,
    /// What the same principal did before in this incident, oldest first, the last
    /// [`EARLIER_KEPT`]: `time: what (call)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier: Vec<String>,
}

/// How many earlier calls an incident keeps.
pub const EARLIER_KEPT: usize = 9;

impl Tamper {
    /// Who it is, one incident each: a role session's role (its sessions are one principal to
    /// lock out), else the principal's ARN.
    pub fn who(&self) -> &str {
        match (self.principal_type.as_str(), &self.role_arn) {
            ("AssumedRole", Some(role)) => role,
            _ => &self.principal_arn,
        }
    }

    /// The journal's resource of its incident: one tamper incident and one Bedrock incident per
    /// principal, apart.
    pub fn resource(&self) -> String {
        match self.category {
            Category::Bedrock => format!("bedrock:{}", self.who()),
            _ => format!("principal:{}", self.who()),
        }
    }

    /// The same principal again: `later`, remembering this one.
    pub fn followed_by(self, mut later: Tamper) -> Tamper {
        let mut earlier = self.earlier;
        earlier.push(format!(
            "{}: {} ({})",
            self.time.format("%Y-%m-%d %H:%M:%S UTC"),
            self.what,
            self.event_name
        ));
        let skip = earlier.len().saturating_sub(EARLIER_KEPT);
        later.earlier = earlier.split_off(skip);
        later
    }

    /// The tampering in GuardDuty's words, for what shows any finding incident.
    pub fn as_finding(&self, account_id: &str) -> super::guardduty::Finding {
        super::guardduty::Finding {
            id: self
                .event_id
                .clone()
                .unwrap_or_else(|| format!("{}@{}", self.event_name, self.time.to_rfc3339())),
            finding_type: format!("Tamper:{}/{}", self.category.as_str(), self.event_name),
            severity: self.category.severity(),
            title: format!("{} {}", self.who_short(), self.what),
            account_id: account_id.to_owned(),
            region: self.region.clone(),
            resource_type: "Principal".into(),
            instance_id: None,
            access_key_id: self.access_key_id.clone(),
            user_name: self.user_name.clone(),
            user_type: Some(self.principal_type.clone()),
            count: 1,
            updated_at: Some(self.time.to_rfc3339()),
        }
    }

    /// The principal's last name: `mallory`, `deploy/ci-42`.
    pub fn who_short(&self) -> String {
        match self.principal_arn.split_once(":assumed-role/") {
            Some((_, rest)) => rest.to_owned(),
            None => self
                .principal_arn
                .rsplit(['/', ':'])
                .next()
                .unwrap_or(&self.principal_arn)
                .to_owned(),
        }
    }

    /// One line: who did what, with which key, from where.
    pub fn describe(&self) -> String {
        format!(
            "{} {} ({}){}{}",
            self.principal_arn,
            self.what,
            self.event_name,
            self.access_key_id
                .as_deref()
                .map(|k| format!(" with key {k}"))
                .unwrap_or_default(),
            self.source_ip
                .as_deref()
                .map(|ip| format!(" from {ip}"))
                .unwrap_or_default()
        )
    }
}

/// One `[[tamper]]` rule: what the guard does about the calls it matches.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// `call`: a glob on the CloudTrail event name (`StopLogging`, `Delete*`, `*`).
    pub call: String,
    /// `alert` (the default) or `lockout`.
    pub response: super::guardduty::Response,
    /// `grace_period`, default the account's: 0 acts at once.
    pub grace_period: Option<std::time::Duration>,
}

/// The first rule whose glob matches `event_name`, if any (none: alert).
pub fn rule_for<'r>(rules: &'r [Rule], event_name: &str) -> Option<&'r Rule> {
    rules.iter().find(|r| glob(&r.call, event_name))
}

/// What the guard knows of itself and of the account, to judge a call.
#[derive(Debug, Clone, Copy)]
pub struct Watch<'a> {
    /// The guard's identity in the account (its session ARN): its own calls are never tamper.
    pub guard: &'a str,
    /// `watch_stops`: stops, terminations and protection turned off are judged at all.
    pub watch_stops: bool,
    /// `expected_principals`: automation that stops or terminates instances legitimately.
    pub expected_principals: &'a [String],
    /// `tag_admins`: who may put on or take off the exemption tag.
    pub tag_admins: &'a [String],
    pub exempt_tag: &'a str,
    /// The guard's EventBridge rules (`[events] guard_rules`).
    pub rules: &'a [String],
    /// The name of the guard's queue (`[events] queue_url`'s last part); its dead-letter queue
    /// is named after it.
    pub queue: Option<&'a str>,
    /// The policies the guard attaches (lockout and launch-deny).
    pub policies: &'a [&'a str],
}

/// What a call is, judged.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Tamper(Box<Tamper>),
    /// Not tampering (the guard's own call, an expected principal, another trail's rule...):
    /// why.
    Not(String),
}

/// Whether `p` is listed in `list`: by ARN, by its role's ARN, by user or role name, each entry
/// a glob (`*`, `?`).
pub fn listed(list: &[String], p: &Principal) -> bool {
    let role_name = p
        .issuer_arn
        .as_deref()
        .and_then(|r| r.rsplit('/').next())
        .map(str::to_owned);
    let names: Vec<&str> = [
        Some(p.arn.as_str()),
        p.issuer_arn.as_deref(),
        p.user_name.as_deref(),
        role_name.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    list.iter()
        .any(|entry| names.iter().any(|n| glob(entry, n)))
}

/// Judges one CloudTrail record (the `detail` of an `AWS API Call via CloudTrail` event) of a
/// call in [`TAMPER_CALLS`]. The error names what the record lacks.
pub fn judge(record: &Value, watch: &Watch<'_>) -> Result<Verdict, String> {
    let text = |path: &str| text_at(record, path);
    let need = |path: &str| need_at(record, path);
    let event_name = need("/eventName")?;
    let Some((_, event_source, _)) = TAMPER_CALLS
        .iter()
        .find(|(_, _, names)| names.contains(&event_name.as_str()))
    else {
        return Err(format!(
            "{event_name} is not a call this guard judges as tampering"
        ));
    };
    if text("/eventSource").is_some_and(|s| s != *event_source) {
        return Err(format!(
            "{event_name} recorded by {} rather than {event_source}",
            text("/eventSource").unwrap_or_default()
        ));
    }
    let (time, principal) = when_and_who(record)?;
    if is_guard(watch.guard, &principal) {
        return Ok(Verdict::Not("the guard's own call".into()));
    }
    if principal.kind == "AWSService"
        || principal
            .issuer_arn
            .as_deref()
            .is_some_and(|r| r.contains(":role/aws-service-role/"))
    {
        return Ok(Verdict::Not(
            "an AWS service acting for the account (a service-linked role)".into(),
        ));
    }
    let params = record.get("requestParameters").unwrap_or(&Value::Null);
    let (category, what) = match what_was_done(&event_name, params, watch, &principal)? {
        Ok(found) => found,
        Err(why) => return Ok(Verdict::Not(why)),
    };
    Ok(Verdict::Tamper(Box::new(Tamper::of_record(
        record,
        category,
        event_name,
        event_source,
        time,
        principal,
        what,
    ))))
}

type Judged = Result<(Category, String), String>;

/// What the call did, and whether it is tampering: `Ok(Ok(..))` it is, `Ok(Err(why))` it is
/// not, `Err` the record lacks what it needs.
fn what_was_done(
    event_name: &str,
    params: &Value,
    watch: &Watch<'_>,
    principal: &Principal,
) -> Result<Judged, String> {
    let text = |path: &str| text_at(params, path);
    let need = |path: &str| {
        text(path).ok_or_else(|| format!("no `requestParameters{}`", path.replace('/', ".")))
    };
    let stops = |verb: &str| -> Result<Judged, String> {
        let ids = items(params, "/instancesSet/items", "instanceId");
        if ids.is_empty() {
            return Err("no `requestParameters.instancesSet.items[].instanceId`".into());
        }
        Ok(stop_verdict(
            watch,
            principal,
            format!("{verb} {}", ids.join(", ")),
        ))
    };
    Ok(match event_name {
        "StopInstances" => stops("stopped")?,
        "TerminateInstances" => stops("terminated")?,
        "ModifyInstanceAttribute" => {
            let id = need("/instanceId")?;
            let off =
                |attr: &str| params.pointer(&format!("/{attr}/value")) == Some(&Value::Bool(false));
            if off("disableApiTermination") {
                stop_verdict(
                    watch,
                    principal,
                    format!("turned termination protection off on {id}"),
                )
            } else if off("disableApiStop") {
                stop_verdict(
                    watch,
                    principal,
                    format!("turned stop protection off on {id}"),
                )
            } else {
                Err("an instance attribute other than its termination or stop protection".into())
            }
        }
        "CreateTags" | "DeleteTags" => {
            let keys = items(params, "/tagSet/items", "key");
            if !keys.iter().any(|k| k == watch.exempt_tag) {
                Err(format!(
                    "tags other than the exemption tag {}",
                    watch.exempt_tag
                ))
            } else if listed(watch.tag_admins, principal) {
                Err("a tag admin (tag_admins)".into())
            } else {
                let on = items(params, "/resourcesSet/items", "resourceId").join(", ");
                let verb = if event_name == "CreateTags" {
                    "put the exemption tag"
                } else {
                    "took the exemption tag"
                };
                let prep = if event_name == "CreateTags" {
                    "on"
                } else {
                    "off"
                };
                Ok((
                    Category::ExemptTag,
                    format!("{verb} {} {prep} {on}", watch.exempt_tag),
                ))
            }
        }
        "StopLogging" => Ok((
            Category::Evasion,
            format!("stopped CloudTrail logging of trail {}", need("/name")?),
        )),
        "DeleteTrail" => Ok((
            Category::Evasion,
            format!("deleted CloudTrail trail {}", need("/name")?),
        )),
        "UpdateTrail" => Ok((
            Category::Evasion,
            format!("changed CloudTrail trail {}", need("/name")?),
        )),
        "PutEventSelectors" => Ok((
            Category::Evasion,
            format!(
                "changed what CloudTrail trail {} records (its event selectors)",
                need("/trailName")?
            ),
        )),
        "DeleteDetector" => Ok((
            Category::Evasion,
            format!("deleted GuardDuty detector {}", need("/detectorId")?),
        )),
        "UpdateDetector" => {
            if params.get("enable") == Some(&Value::Bool(false)) {
                Ok((
                    Category::Evasion,
                    format!("disabled GuardDuty detector {}", need("/detectorId")?),
                ))
            } else {
                Err("a GuardDuty detector update that leaves it enabled".into())
            }
        }
        "DisassociateFromMasterAccount" | "DisassociateFromAdministratorAccount" => Ok((
            Category::Evasion,
            format!(
                "left the GuardDuty administrator account (detector {})",
                text("/detectorId").unwrap_or_else(|| "?".into())
            ),
        )),
        "DisableRule" | "DeleteRule" | "RemoveTargets" | "PutRule" => {
            let rule = need(if event_name == "RemoveTargets" {
                "/rule"
            } else {
                "/name"
            })?;
            if !watch.rules.contains(&rule) {
                Err(format!("EventBridge rule {rule} is not one of the guard's"))
            } else {
                let verb = match event_name {
                    "DisableRule" => "disabled",
                    "DeleteRule" => "deleted",
                    "RemoveTargets" => "removed the targets of",
                    _ => "rewrote",
                };
                Ok((
                    Category::Evasion,
                    format!("{verb} the guard's EventBridge rule {rule}"),
                ))
            }
        }
        "SetQueueAttributes" | "DeleteQueue" | "PurgeQueue" => {
            let url = need("/queueUrl")?;
            let name = url.rsplit('/').next().unwrap_or_default();
            match watch.queue {
                Some(q)
                    if name == q
                        || name
                            .strip_prefix(q)
                            .is_some_and(|rest| rest.starts_with('-')) =>
                {
                    let verb = match event_name {
                        "SetQueueAttributes" => "changed the attributes of",
                        "DeleteQueue" => "deleted",
                        _ => "purged",
                    };
                    Ok((
                        Category::Evasion,
                        format!("{verb} the guard's queue {name}"),
                    ))
                }
                _ => Err(format!("queue {name} is not the guard's")),
            }
        }
        "DetachUserPolicy" | "DetachRolePolicy"
            if text("/policyArn").is_some_and(|p| watch.policies.contains(&p.as_str())) =>
        {
            let from = text("/userName")
                .or_else(|| text("/roleName"))
                .unwrap_or_default();
            Ok((
                Category::Evasion,
                format!(
                    "detached the guard's policy {} from {from}",
                    need("/policyArn")?
                ),
            ))
        }
        "DetachUserPolicy" => Err(format!(
            "policy {} is not one the guard attaches",
            text("/policyArn").unwrap_or_default()
        )),
        "CreatePolicyVersion"
        | "SetDefaultPolicyVersion"
        | "DeletePolicyVersion"
        | "DeletePolicy" => {
            let arn = need("/policyArn")?;
            if watch.policies.contains(&arn.as_str()) {
                let verb = match event_name {
                    "DeletePolicy" => "deleted",
                    "DeletePolicyVersion" => "deleted a version of",
                    _ => "rewrote",
                };
                Ok((
                    Category::Evasion,
                    format!("{verb} the guard's policy {arn}"),
                ))
            } else {
                Err(format!("policy {arn} is not one the guard attaches"))
            }
        }
        // The rest are IAM calls on a role: tampering when the role is the guard's.
        _ => {
            let role = need("/roleName")?;
            match guard_role(watch.guard) {
                Some(own) if own == role => Ok((
                    Category::Evasion,
                    format!("{} on the guard's role {role}", event_name),
                )),
                _ => Err(format!("role {role} is not the guard's")),
            }
        }
    })
}

/// A stop, termination or protection turned off: tampering with `watch_stops`, unless an
/// expected principal did it.
fn stop_verdict(watch: &Watch<'_>, principal: &Principal, what: String) -> Judged {
    if !watch.watch_stops {
        Err("stops are not watched in this account (watch_stops)".into())
    } else if listed(watch.expected_principals, principal) {
        Err("an expected principal (expected_principals)".into())
    } else {
        Ok((Category::Stops, what))
    }
}

/// The `field` of each object in the array at `path` (CloudTrail's `{"items": [...]}` lists).
fn items(params: &Value, path: &str, field: &str) -> Vec<String> {
    params
        .pointer(path)
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|i| i.get(field).and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The role name of the guard's session ARN (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`).
pub fn guard_role(identity: &str) -> Option<&str> {
    identity
        .split_once(":assumed-role/")
        .and_then(|(_, rest)| rest.split('/').next())
}

#[cfg(test)]
mod tests;
