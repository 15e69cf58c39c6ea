//! `forensics_subnet_id`, `forensics_ami`, `forensics_instance_type`: where `runaway isolate
//! --forensics` launches the responder's forensic instance.

use serde::Serialize;

/// Where the forensic instance of an isolation is launched, with volumes made from the
/// isolated instance's snapshots attached.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forensics {
    /// `forensics_subnet_id`: the subnet (in the isolated instances' account) it runs in.
    pub subnet_id: String,
    /// `forensics_ami`: the image of the responders' forensic tooling.
    pub ami: String,
    /// `forensics_instance_type`, default `t3.medium`.
    pub instance_type: String,
}

fn id(key: &str, prefix: &str, v: &str) -> Result<(), (String, String)> {
    let hex = v.strip_prefix(prefix).unwrap_or("");
    if (hex.len() == 8 || hex.len() == 17) && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err((
            key.to_owned(),
            format!("expected an id like \"{prefix}0123456789abcdef0\", found {v:?}"),
        ))
    }
}

/// Both of subnet and image, or neither (then the defaults').
pub(super) fn forensics(
    key: &dyn Fn(&str) -> String,
    subnet: Option<String>,
    ami: Option<String>,
    instance_type: Option<String>,
    base: Option<Forensics>,
) -> Result<Option<Forensics>, (String, String)> {
    if let Some(t) = &instance_type
        && (t.is_empty()
            || t.len() > 32
            || !t.contains('.')
            || !t
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'))
    {
        return Err((
            key("forensics_instance_type"),
            format!("expected an EC2 instance type like \"t3.medium\", found {t:?}"),
        ));
    }
    match (subnet, ami) {
        (None, None) => Ok(base.map(|b| Forensics {
            instance_type: instance_type.unwrap_or(b.instance_type.clone()),
            ..b
        })),
        (Some(subnet_id), Some(ami)) => {
            id(&key("forensics_subnet_id"), "subnet-", &subnet_id)?;
            id(&key("forensics_ami"), "ami-", &ami)?;
            Ok(Some(Forensics {
                subnet_id,
                ami,
                instance_type: instance_type
                    .or(base.map(|b| b.instance_type))
                    .unwrap_or_else(|| "t3.medium".into()),
            }))
        }
        (Some(_), None) => Err((
            key("forensics_ami"),
            "expected forensics_ami with forensics_subnet_id".into(),
        )),
        (None, Some(_)) => Err((
            key("forensics_subnet_id"),
            "expected forensics_subnet_id with forensics_ami".into(),
        )),
    }
}
