//! The guard watching its own inline-policy writes. With `allow_session_revocation` its role may
//! `PutUserPolicy`/`PutRolePolicy` on any user or role but itself, and IAM cannot limit what such
//! a policy says: whoever steals the guard's credentials could write `Allow *` onto a principal
//! they hold. So every such write by the guard's role, as CloudTrail records it, is held to the
//! journal: its policy must be `runawaytrain-revoke-<incident>` of an incident whose revocation
//! of that principal the guard journaled, with the very document it journaled. Anything else is
//! unexpected: the notify list is told and `/healthz` says so. Pure: the event path brings the
//! record, the bot looks up the journal.

use serde_json::Value;

use super::launchers::{Principal, is_guard, need_at, text_at};

/// The CloudTrail calls that write an inline policy, as the module's event pattern forwards them.
pub const POLICY_WRITES: [&str; 2] = ["PutUserPolicy", "PutRolePolicy"];

/// The prefix of every policy name the guard writes (`core::launchers::revoke_policy_name`).
pub const REVOKE_PREFIX: &str = "runawaytrain-revoke-";

/// One inline-policy write, from its CloudTrail record.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyWrite {
    /// `PutUserPolicy` or `PutRolePolicy`.
    pub event_name: String,
    pub principal: Principal,
    /// The user or role written to.
    pub target: String,
    pub policy_name: String,
    /// The document written, as JSON (`None` when the record does not carry a readable one).
    pub document: Option<Value>,
    pub source_ip: Option<String>,
}

impl PolicyWrite {
    /// The journal's kind of change for this write.
    pub fn change_kind(&self) -> crate::core::change::ChangeKind {
        if self.event_name == "PutUserPolicy" {
            crate::core::change::ChangeKind::PutUserPolicy
        } else {
            crate::core::change::ChangeKind::PutRolePolicy
        }
    }

    /// The incident its name claims, if it is named as the guard names its policies.
    pub fn claimed_incident(&self) -> Option<&str> {
        self.policy_name
            .strip_prefix(REVOKE_PREFIX)
            .filter(|i| i.starts_with("inc-"))
    }

    /// One line for people: who wrote what where.
    pub fn describe(&self) -> String {
        format!(
            "{} by {} of policy {:?} on {} {}{}",
            self.event_name,
            self.principal.arn,
            self.policy_name,
            if self.event_name == "PutUserPolicy" {
                "user"
            } else {
                "role"
            },
            self.target,
            self.source_ip
                .as_deref()
                .map(|ip| format!(" from {ip}"))
                .unwrap_or_default()
        )
    }
}

/// Reads the `detail` of an `AWS API Call via CloudTrail` event (a CloudTrail record) of a
/// policy write. The error names what is missing.
pub fn read(record: &Value) -> Result<PolicyWrite, String> {
    let text = |path: &str| text_at(record, path);
    let need = |path: &str| need_at(record, path);
    let event_name = need("/eventName")?;
    if !POLICY_WRITES.contains(&event_name.as_str()) {
        return Err(format!("{event_name} is not an inline-policy write"));
    }
    let target_key = if event_name == "PutUserPolicy" {
        "/requestParameters/userName"
    } else {
        "/requestParameters/roleName"
    };
    let document = match record.pointer("/requestParameters/policyDocument") {
        Some(Value::String(s)) => serde_json::from_str(s)
            .ok()
            .or_else(|| serde_json::from_str(&percent_decode(s)).ok()),
        Some(v @ Value::Object(_)) => Some(v.clone()),
        _ => None,
    };
    Ok(PolicyWrite {
        principal: Principal {
            kind: need("/userIdentity/type")?,
            arn: need("/userIdentity/arn")?,
            user_name: text("/userIdentity/userName"),
            access_key_id: text("/userIdentity/accessKeyId"),
            issuer_arn: text("/userIdentity/sessionContext/sessionIssuer/arn"),
        },
        target: need(target_key)?,
        policy_name: need("/requestParameters/policyName")?,
        document,
        source_ip: text("/sourceIPAddress"),
        event_name,
    })
}

/// What a write is, held to the journal.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Someone else's write: not the guard's business here.
    NotTheGuard,
    /// The guard's own revocation, as journaled under `incident`.
    Journaled { incident: String },
    /// The guard's role wrote what it did not journal: why.
    Unexpected(String),
}

/// Holds `write` to the journal. `guard`: the guard's identity in the account (its session
/// ARN); `journaled`: the documents the guard journaled for this target and policy name under
/// the incident the name claims (empty when it journaled none).
pub fn judge(write: &PolicyWrite, guard: &str, journaled: &[Value]) -> Verdict {
    if !is_guard(guard, &write.principal) {
        return Verdict::NotTheGuard;
    }
    let Some(incident) = write.claimed_incident() else {
        return Verdict::Unexpected(format!(
            "{}: not a name the guard gives its policies ({REVOKE_PREFIX}<incident>)",
            write.describe()
        ));
    };
    if journaled.is_empty() {
        return Verdict::Unexpected(format!(
            "{}: the journal has no such revocation under {incident}",
            write.describe()
        ));
    }
    match &write.document {
        Some(doc) if journaled.iter().any(|j| j == doc) => Verdict::Journaled {
            incident: incident.to_owned(),
        },
        Some(_) => Verdict::Unexpected(format!(
            "{}: the document differs from the one journaled under {incident}",
            write.describe()
        )),
        None => Verdict::Unexpected(format!(
            "{}: the record carries no readable document to compare with the journal",
            write.describe()
        )),
    }
}

/// An unexpected write by the guard's role as tampering (`why`: the verdict), to alert on and
/// lock out; `None` when the record has no readable time.
pub fn as_tamper(
    write: &PolicyWrite,
    record: &Value,
    why: &str,
) -> Option<crate::core::tamper::Tamper> {
    let time = chrono::DateTime::parse_from_rfc3339(&text_at(record, "/eventTime")?)
        .ok()?
        .with_timezone(&chrono::Utc);
    Some(crate::core::tamper::Tamper {
        category: crate::core::tamper::Category::Evasion,
        event_name: write.event_name.clone(),
        event_source: "iam.amazonaws.com".into(),
        event_id: text_at(record, "/eventID"),
        time,
        region: text_at(record, "/awsRegion").unwrap_or_default(),
        principal_arn: write.principal.arn.clone(),
        principal_type: write.principal.kind.clone(),
        user_name: write.principal.user_name.clone(),
        role_arn: write.principal.issuer_arn.clone(),
        access_key_id: write.principal.access_key_id.clone(),
        source_ip: write.source_ip.clone(),
        user_agent: text_at(record, "/userAgent"),
        what: format!(
            "wrote a policy with the guard's own role that its journal does not account for ({why})"
        ),
        earlier: Vec::new(),
    })
}

/// `%XX` sequences decoded (IAM's API takes the document URL-encoded; CloudTrail usually
/// records it decoded).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const GUARD: &str = "arn:aws:sts::111111111111:assumed-role/runawaytrain-guard/runaway-inc-20261206-010000-0001";

    fn put(event: &str, who: Value, name: &str, document: Value) -> Value {
        json!({
            "eventVersion": "1.09",
            "userIdentity": who,
            "eventTime": "2026-12-06T01:00:05Z",
            "eventSource": "iam.amazonaws.com",
            "eventName": event,
            "awsRegion": "us-east-1",
            "sourceIPAddress": "198.51.100.7",
            "requestParameters": {
                "roleName": "ci", "userName": "carol", "policyName": name,
                "policyDocument": document.to_string(),
            },
            "responseElements": null,
            "recipientAccountId": "111111111111",
        })
    }

    fn guard_session(session: &str) -> Value {
        json!({"type": "AssumedRole",
            "arn": format!("arn:aws:sts::111111111111:assumed-role/runawaytrain-guard/{session}"),
            "accessKeyId": "ASIAGUARD", "sessionContext": {"sessionIssuer": {"type": "Role",
            "arn": "arn:aws:iam::111111111111:role/runawaytrain-guard", "userName": "runawaytrain-guard"}}})
    }

    #[test]
    fn the_guards_journaled_revocation_is_expected_anything_else_is_not() {
        let revoke =
            crate::core::launchers::revoke_sessions_policy("2026-12-06T01:00:00Z".parse().unwrap());
        let name = "runawaytrain-revoke-inc-20261206-010000-0001";
        let own = read(&put(
            "PutRolePolicy",
            guard_session("runaway-x"),
            name,
            revoke.clone(),
        ))
        .unwrap();
        assert_eq!(own.target, "ci");
        assert_eq!(own.claimed_incident(), Some("inc-20261206-010000-0001"));
        assert_eq!(
            judge(&own, GUARD, std::slice::from_ref(&revoke)),
            Verdict::Journaled {
                incident: "inc-20261206-010000-0001".into()
            }
        );
        // Not journaled at all.
        assert!(
            matches!(judge(&own, GUARD, &[]), Verdict::Unexpected(m) if m.contains("no such revocation"))
        );
        // The journaled name, another document: the thief's Allow *.
        let allow = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
        let forged = read(&put(
            "PutUserPolicy",
            guard_session("stolen"),
            name,
            allow.clone(),
        ))
        .unwrap();
        assert_eq!(forged.target, "carol");
        let Verdict::Unexpected(why) = judge(&forged, GUARD, &[revoke]) else {
            panic!("a forged document is unexpected");
        };
        assert!(
            why.contains("differs") && why.contains("user carol") && why.contains("198.51.100.7"),
            "{why}"
        );
        // Another name altogether.
        let other = read(&put("PutRolePolicy", guard_session("s"), "admin", allow)).unwrap();
        assert!(
            matches!(judge(&other, GUARD, &[]), Verdict::Unexpected(m) if m.contains("not a name"))
        );
        // Someone else's write is not the guard's business.
        let someone = read(&put(
            "PutRolePolicy",
            json!({"type": "IAMUser", "arn": "arn:aws:iam::111111111111:user/ops", "userName": "ops"}),
            "admin",
            json!({}),
        ))
        .unwrap();
        assert_eq!(judge(&someone, GUARD, &[]), Verdict::NotTheGuard);
    }

    #[test]
    fn a_url_encoded_document_is_read_and_a_missing_field_is_named() {
        let mut record = put(
            "PutRolePolicy",
            guard_session("s"),
            "runawaytrain-revoke-inc-1",
            json!({}),
        );
        record["requestParameters"]["policyDocument"] =
            json!("%7B%22Version%22%3A%222012-10-17%22%7D");
        let w = read(&record).unwrap();
        assert_eq!(w.document, Some(json!({"Version": "2012-10-17"})));
        record["requestParameters"]
            .as_object_mut()
            .unwrap()
            .remove("policyName");
        assert_eq!(
            read(&record).unwrap_err(),
            "no `requestParameters/policyName`"
        );
    }
}
