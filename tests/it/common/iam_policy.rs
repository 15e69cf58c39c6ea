//! IAM policy evaluation for the tests, as AWS documents it: an explicit Deny wins, else an
//! Allow, else the implicit deny. Statements with Action/NotAction, Resource/NotResource,
//! Principal (for resource policies) and the condition operators the module uses.
//!
//! moto's IAM cannot judge the module's policies: it matches every resource as `*` and treats
//! an unmet condition on an Allow as a Deny. The tests judge the policies as applied to moto
//! here instead, and say so.

use std::collections::BTreeMap;

use serde_json::Value;

/// One request as IAM sees it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `service:Action`.
    pub action: String,
    pub resource: String,
    /// For resource policies: `AWS:<arn>` or `Service:<name>`.
    pub principal: Option<String>,
    pub context: BTreeMap<String, Vec<String>>,
}

impl Request {
    pub fn new(action: &str, resource: &str) -> Request {
        Request {
            action: action.into(),
            resource: resource.into(),
            ..Request::default()
        }
    }

    pub fn with(mut self, key: &str, values: &[&str]) -> Request {
        self.context
            .insert(key.into(), values.iter().map(|v| (*v).to_owned()).collect());
        self
    }

    pub fn by(mut self, principal: &str) -> Request {
        self.principal = Some(principal.into());
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed(String),
    ImplicitDeny,
    /// The Sid of the Deny statement.
    ExplicitDeny(String),
}

impl Decision {
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::Allowed(_))
    }
}

/// The decision of a set of policies (an identity's, or one resource policy) on a request.
pub fn evaluate(policies: &[Value], request: &Request) -> Decision {
    let mut allowed = None;
    for policy in policies {
        for statement in list(&policy["Statement"]) {
            if !applies(statement, request) {
                continue;
            }
            let sid = statement["Sid"].as_str().unwrap_or("").to_owned();
            if statement["Effect"] == "Deny" {
                return Decision::ExplicitDeny(sid);
            }
            allowed.get_or_insert(sid);
        }
    }
    allowed.map_or(Decision::ImplicitDeny, Decision::Allowed)
}

fn list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn texts(v: &Value) -> Vec<String> {
    list(v)
        .into_iter()
        .map(|s| match s {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

fn applies(statement: &Value, r: &Request) -> bool {
    let action = |p: &String| wildcard(&p.to_ascii_lowercase(), &r.action.to_ascii_lowercase());
    let action_ok = if statement.get("NotAction").is_some() {
        !texts(&statement["NotAction"]).iter().any(action)
    } else {
        texts(&statement["Action"]).iter().any(action)
    };
    let resource = |p: &String| wildcard(p, &r.resource);
    let resource_ok = if statement.get("NotResource").is_some() {
        !texts(&statement["NotResource"]).iter().any(resource)
    } else if statement.get("Resource").is_some() {
        texts(&statement["Resource"]).iter().any(resource)
    } else {
        true
    };
    action_ok && resource_ok && principal_ok(statement, r) && conditions_ok(statement, r)
}

fn principal_ok(statement: &Value, r: &Request) -> bool {
    let Some(p) = statement.get("Principal") else {
        return true;
    };
    let Some(who) = &r.principal else {
        return false;
    };
    if p == "*" {
        return true;
    }
    let (kind, name) = who.split_once(':').unwrap();
    p.get(kind)
        .map(|v| texts(v).iter().any(|x| x == "*" || x == name))
        .unwrap_or(false)
}

fn conditions_ok(statement: &Value, r: &Request) -> bool {
    let Some(conditions) = statement["Condition"].as_object() else {
        return true;
    };
    conditions.iter().all(|(operator, keys)| {
        keys.as_object()
            .unwrap()
            .iter()
            .all(|(key, values)| condition(operator, r.context.get(key), &texts(values)))
    })
}

/// One condition operator over a key's values in the request (None: the key is absent).
fn condition(operator: &str, present: Option<&Vec<String>>, wanted: &[String]) -> bool {
    let (set, op) = match operator.split_once(':') {
        Some((set, op)) => (Some(set), op),
        None => (None, operator),
    };
    let (op, if_exists) = match op.strip_suffix("IfExists") {
        Some(op) => (op, true),
        None => (op, false),
    };
    if op == "Null" {
        let absent = present.is_none_or(|v| v.is_empty());
        return wanted.iter().any(|w| (w == "true") == absent);
    }
    let negated = op.contains("Not");
    let one = |value: &str| -> bool {
        let matched = wanted.iter().any(|w| match op {
            "StringEquals" | "StringNotEquals" | "ArnEquals" | "ArnNotEquals" | "Bool" => {
                w == value
            }
            "StringEqualsIgnoreCase" | "StringNotEqualsIgnoreCase" => w.eq_ignore_ascii_case(value),
            "StringLike" | "StringNotLike" | "ArnLike" | "ArnNotLike" => wildcard(w, value),
            other => panic!("condition operator {other} is not known to the test evaluator"),
        });
        matched != negated
    };
    match (set, present) {
        (Some("ForAllValues"), None) => true,
        (Some("ForAllValues"), Some(v)) => v.iter().all(|x| one(x)),
        (Some("ForAnyValue"), None) => false,
        (Some("ForAnyValue"), Some(v)) => v.iter().any(|x| one(x)),
        (Some(other), _) => panic!("condition set {other} is not known to the test evaluator"),
        (None, None) => if_exists || negated,
        (None, Some(v)) if negated => v.iter().all(|x| one(x)),
        (None, Some(v)) => v.iter().any(|x| one(x)),
    }
}

/// IAM's `*` (any run) and `?` (any one character) matching.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deny_wins_conditions_hold_and_absent_keys_behave_as_aws_documents() {
        let policy = json!({"Statement": [
            {"Sid": "Tags", "Effect": "Allow", "Action": "ec2:CreateTags",
             "Resource": "arn:aws:ec2:*:1:instance/*",
             "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]},
                           "Null": {"aws:TagKeys": "false"}}},
            {"Sid": "NoC", "Effect": "Deny", "Action": ["ec2:*"], "Resource": "*",
             "Condition": {"ForAnyValue:StringLike": {"aws:TagKeys": ["c*"]}}}
        ]});
        let p = [policy];
        let tag = |keys: &[&str]| {
            Request::new("ec2:CreateTags", "arn:aws:ec2:us-east-1:1:instance/i-1")
                .with("aws:TagKeys", keys)
        };
        assert!(evaluate(&p, &tag(&["a"])).allowed());
        assert_eq!(evaluate(&p, &tag(&["a", "z"])), Decision::ImplicitDeny);
        assert_eq!(
            evaluate(&p, &tag(&["a", "cat"])),
            Decision::ExplicitDeny("NoC".into())
        );
        // No key at all: ForAllValues alone would allow; the Null condition refuses.
        let none = Request::new("ec2:CreateTags", "arn:aws:ec2:us-east-1:1:instance/i-1");
        assert_eq!(evaluate(&p, &none), Decision::ImplicitDeny);
        assert!(!wildcard("arn:aws:iam::*:role/x", "arn:aws:iam::1:role/xy"));
        assert!(wildcard("arn:aws:iam::*:role/x?", "arn:aws:iam::1:role/xy"));
    }
}
