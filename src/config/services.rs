//! `halt_services` and `max_running`: the compute beyond EC2 an account's incidents halt, and
//! the count rules of those services (`core::services`).

use std::collections::BTreeMap;

use super::validate::Invalid;
use crate::core::services::{COUNT_KEYS, Service, count_key_service};

/// `halt_services` as written (`None`: the default, EC2 only); `"all"` is every service this
/// build halts. An unknown name, is an error naming it.
pub(super) fn halt_services(key: &str, raw: Option<Vec<String>>) -> Result<Vec<Service>, Invalid> {
    let Some(list) = raw else {
        return Ok(vec![Service::Ec2]);
    };
    if list.is_empty() {
        return Err((
            key.to_owned(),
            "expected at least one service (default [\"ec2\"]), or \"all\"".into(),
        ));
    }
    let mut out = Vec::new();
    for (j, name) in list.iter().enumerate() {
        let found = if name == "all" {
            Service::ALL.to_vec()
        } else {
            match Service::parse(name) {
                Some(s) => vec![s],
                None => {
                    return Err((
                        format!("{key}[{j}]"),
                        format!(
                            "unknown service {name:?}: expected one of {}, or \"all\"",
                            names()
                        ),
                    ));
                }
            }
        };
        for s in found {
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `max_running` as written: each key one of the contract's, a non-negative count.
pub(super) fn max_running(
    key: &str,
    raw: Option<BTreeMap<String, i64>>,
) -> Result<BTreeMap<String, u64>, Invalid> {
    let mut out = BTreeMap::new();
    for (k, n) in raw.unwrap_or_default() {
        let here = format!("{key}.{k}");
        if count_key_service(&k).is_none() {
            return Err((
                here,
                format!(
                    "unknown count rule: expected one of {}",
                    COUNT_KEYS.join(", ")
                ),
            ));
        }
        if n < 0 {
            return Err((here, format!("expected a non-negative integer, found {n}")));
        }
        out.insert(k, n as u64);
    }
    Ok(out)
}

fn names() -> String {
    Service::ALL
        .iter()
        .map(|s| format!("{:?}", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}
