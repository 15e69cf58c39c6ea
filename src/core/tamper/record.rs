//! What the judges of CloudTrail records (`core::tamper`, `core::bedrock`) read alike: when,
//! who, and the call's where and from where.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Category, Tamper};
use crate::core::launchers::{Principal, event_time, principal_of, text_at};

/// What every judged CloudTrail record says of its call: when, and who (`userIdentity`; an AWS
/// service acting on its own has no ARN, only a name). The error names what the record lacks.
pub(crate) fn when_and_who(record: &Value) -> Result<(DateTime<Utc>, Principal), String> {
    let time = event_time(record)?;
    let principal = principal_of(record, |arn| Ok(arn.unwrap_or_else(|| "unknown".into())))?;
    Ok((time, principal))
}

impl Tamper {
    /// A judged call of `principal` at `time`, with where, from where and with what client as
    /// its record says.
    pub(crate) fn of_record(
        record: &Value,
        category: Category,
        event_name: String,
        event_source: &str,
        time: DateTime<Utc>,
        principal: Principal,
        what: String,
    ) -> Tamper {
        let text = |path: &str| text_at(record, path);
        Tamper {
            category,
            event_name,
            event_source: event_source.to_owned(),
            event_id: text("/eventID"),
            time,
            region: text("/awsRegion").unwrap_or_default(),
            principal_arn: principal.arn,
            principal_type: principal.kind,
            user_name: principal.user_name,
            role_arn: principal.issuer_arn,
            access_key_id: principal.access_key_id,
            source_ip: text("/sourceIPAddress"),
            user_agent: text("/userAgent"),
            what,
            earlier: Vec::new(),
        }
    }
}
