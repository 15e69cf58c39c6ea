//! A stand-in for IAM's authorisation in front of moto, which cannot judge the module's policies
//! (see `iam_policy`). Requests signed with a watched principal's keys are judged against that
//! principal's policies as applied to moto: the action from the request, the resources and
//! condition keys (`aws:TagKeys`, `iam:PolicyARN`, `aws:ResourceOrgID`) from its parameters. A
//! refused request gets AWS's AccessDenied answer and never reaches moto; an allowed AssumeRole
//! makes the session's keys a watched principal with the role's policies. Other keys (the test's
//! own) pass unjudged.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::iam_policy::{Decision, Request, evaluate};
use super::{forward, read_request};

#[derive(Clone)]
struct Principal {
    arn: String,
    account: String,
    policies: Vec<Value>,
}

/// What the proxy decided on one request of a watched principal.
#[derive(Debug, Clone)]
pub struct Judged {
    pub principal: String,
    pub action: String,
    pub resource: String,
    pub decision: Decision,
}

#[derive(Default)]
struct State {
    /// Access key id → the principal signing with it.
    keys: HashMap<String, Principal>,
    /// Role ARN → its policies, for the sessions assumed from it.
    roles: HashMap<String, Vec<Value>>,
    /// Account id → its organisation id.
    orgs: HashMap<String, String>,
    judged: Vec<Judged>,
}

pub struct AuthorizingProxy {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl AuthorizingProxy {
    pub fn start(moto: &str) -> AuthorizingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = moto.trim_start_matches("http://").to_owned();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { break };
                let (upstream, state) = (upstream.clone(), shared.clone());
                std::thread::spawn(move || {
                    let _ = one(conn, &upstream, &state);
                });
            }
        });
        AuthorizingProxy { url, state }
    }

    /// Requests signed with `access_key_id` are `role_arn`'s, judged by its policies.
    pub fn watch_session(&self, access_key_id: &str, role_arn: &str, policies: Vec<Value>) {
        let mut s = self.state.lock().unwrap();
        s.keys.insert(
            access_key_id.into(),
            Principal {
                arn: role_arn.into(),
                account: account_of(role_arn),
                policies: policies.clone(),
            },
        );
        s.roles.insert(role_arn.into(), policies);
    }

    /// Sessions assumed from `role_arn` are judged by these policies.
    pub fn role(&self, role_arn: &str, policies: Vec<Value>) {
        self.state
            .lock()
            .unwrap()
            .roles
            .insert(role_arn.into(), policies);
    }

    /// `aws:ResourceOrgID` of the account's resources.
    pub fn organization(&self, account: &str, org_id: &str) {
        self.state
            .lock()
            .unwrap()
            .orgs
            .insert(account.into(), org_id.into());
    }

    pub fn judged(&self) -> Vec<Judged> {
        self.state.lock().unwrap().judged.clone()
    }
}

fn account_of(arn: &str) -> String {
    arn.split(':').nth(4).unwrap_or_default().to_owned()
}

fn one(mut client: TcpStream, upstream: &str, state: &Mutex<State>) -> std::io::Result<()> {
    let Some((head, buf, head_end)) = read_request(&mut client)? else {
        return Ok(());
    };
    let body = &buf[head_end..];
    let principal = credential_scope(&head).and_then(|(key, region, service)| {
        let s = state.lock().unwrap();
        s.keys
            .get(&key)
            .cloned()
            .map(|p| (p, region, service, s.orgs.clone()))
    });
    let Some((principal, region, service, orgs)) = principal else {
        let answer = forward(upstream, &head, body)?;
        return client.write_all(&answer);
    };
    let (action, params) = action_and_params(&head, body, &service);
    let requests = requests(&service, &action, &params, &region, &principal, &orgs);
    let mut refused = None;
    for r in &requests {
        let decision = if r.action == "sts:GetCallerIdentity" {
            Decision::Allowed("always".into())
        } else {
            evaluate(&principal.policies, r)
        };
        state.lock().unwrap().judged.push(Judged {
            principal: principal.arn.clone(),
            action: r.action.clone(),
            resource: r.resource.clone(),
            decision: decision.clone(),
        });
        if !decision.allowed() && refused.is_none() {
            refused = Some(r.clone());
        }
    }
    if let Some(r) = refused {
        return deny(&mut client, &service, &principal.arn, &r);
    }
    let answer = forward(upstream, &head, body)?;
    if action == "AssumeRole" {
        let text = String::from_utf8_lossy(&answer);
        let role = params.get("RoleArn").cloned().unwrap_or_default();
        if let Some(key) = between(&text, "<AccessKeyId>", "</AccessKeyId>") {
            let mut s = state.lock().unwrap();
            if let Some(policies) = s.roles.get(&role).cloned() {
                s.keys.insert(
                    key,
                    Principal {
                        account: account_of(&role),
                        arn: role,
                        policies,
                    },
                );
            }
        }
    }
    client.write_all(&answer)
}

fn between(text: &str, start: &str, end: &str) -> Option<String> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(text[from..to].to_owned())
}

/// (access key id, region, signing name) of a SigV4 `Authorization` header.
fn credential_scope(head: &str) -> Option<(String, String, String)> {
    let auth = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))?;
    let credential = auth.split("Credential=").nth(1)?.split(',').next()?;
    let parts: Vec<&str> = credential.split('/').collect();
    Some((parts[0].into(), parts[2].into(), parts[3].into()))
}

/// The operation's name and its parameters (form fields, or a JSON body's top-level strings).
fn action_and_params(head: &str, body: &[u8], service: &str) -> (String, BTreeMap<String, String>) {
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    if let Some(target) = header("x-amz-target") {
        let action = target.rsplit('.').next().unwrap_or_default().to_owned();
        let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let params = json
            .as_object()
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        return (action, params);
    }
    let path = head.lines().next().unwrap_or_default();
    if let Some(op) = path.split("/operation/").nth(1) {
        return (
            op.split([' ', '?']).next().unwrap().to_owned(),
            BTreeMap::new(),
        );
    }
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let params: BTreeMap<String, String> = params.into_iter().collect();
    let action = params.get("Action").cloned().unwrap_or_else(|| {
        panic!("the authorizing proxy cannot tell the {service} action of {path}")
    });
    (action, params)
}

/// IAM's service prefix for a signing name.
fn prefix(service: &str) -> &str {
    match service {
        "monitoring" => "cloudwatch",
        other => other,
    }
}

/// The requests IAM authorises for one call: one per resource it names.
fn requests(
    service: &str,
    action: &str,
    params: &BTreeMap<String, String>,
    region: &str,
    p: &Principal,
    orgs: &HashMap<String, String>,
) -> Vec<Request> {
    let a = &p.account;
    let iam_action = format!("{}:{action}", prefix(service));
    let numbered = |name: &str| -> Vec<String> {
        params
            .iter()
            .filter(|(k, _)| {
                k.strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix('.'))
                    .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
            })
            .map(|(_, v)| v.clone())
            .collect()
    };
    let mut context: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let tag_keys: Vec<String> = params
        .iter()
        .filter(|(k, _)| k.starts_with("Tag.") && k.ends_with(".Key"))
        .map(|(_, v)| v.clone())
        .collect();
    if !tag_keys.is_empty() {
        context.insert("aws:TagKeys".into(), tag_keys);
    }
    if let Some(policy) = params.get("PolicyArn") {
        context.insert("iam:PolicyARN".into(), vec![policy.clone()]);
    }
    let resources: Vec<String> = match (service, action) {
        ("ec2", "CreateTags" | "DeleteTags") => numbered("ResourceId")
            .iter()
            .map(|id| {
                let kind = match id.split('-').next().unwrap() {
                    "i" => "instance",
                    "sg" => "security-group",
                    "vol" => "volume",
                    "snap" => return format!("arn:aws:ec2:{region}::snapshot/{id}"),
                    other => panic!("no ARN known for the EC2 resource {other}-"),
                };
                format!("arn:aws:ec2:{region}:{a}:{kind}/{id}")
            })
            .collect(),
        ("ec2", _) if !numbered("InstanceId").is_empty() && !action.starts_with("Describe") => {
            numbered("InstanceId")
                .iter()
                .map(|id| format!("arn:aws:ec2:{region}:{a}:instance/{id}"))
                .collect()
        }
        ("autoscaling", _) if !action.starts_with("Describe") => params
            .get("AutoScalingGroupName")
            .map(|g| {
                vec![format!(
                    "arn:aws:autoscaling:{region}:{a}:autoScalingGroup:00000000-0000-4000-8000-000000000000:autoScalingGroupName/{g}"
                )]
            })
            .unwrap_or_default(),
        ("iam", _) if params.contains_key("UserName") => {
            vec![format!("arn:aws:iam::{a}:user/{}", params["UserName"])]
        }
        ("iam", _) if params.contains_key("RoleName") => {
            vec![format!("arn:aws:iam::{a}:role/{}", params["RoleName"])]
        }
        ("sts", "AssumeRole") => {
            let role = params["RoleArn"].clone();
            if let Some(org) = orgs.get(&account_of(&role)) {
                context.insert("aws:ResourceOrgID".into(), vec![org.clone()]);
            }
            vec![role]
        }
        ("sns", "Publish") => params
            .get("TopicArn")
            .or(params.get("TargetArn"))
            .cloned()
            .into_iter()
            .collect(),
        ("sqs", _) => params
            .get("QueueUrl")
            .map(|u| {
                let mut path = u.rsplit('/');
                let (name, account) = (path.next().unwrap(), path.next().unwrap());
                vec![format!("arn:aws:sqs:{region}:{account}:{name}")]
            })
            .unwrap_or_default(),
        ("ssm", _) => params
            .get("Name")
            .map(|n| {
                vec![format!(
                    "arn:aws:ssm:{region}:{a}:parameter/{}",
                    n.trim_start_matches('/')
                )]
            })
            .unwrap_or_default(),
        ("logs", _) => params
            .get("logGroupName")
            .map(|g| vec![format!("arn:aws:logs:{region}:{a}:log-group:{g}")])
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let resources = if resources.is_empty() {
        vec!["*".to_owned()]
    } else {
        resources
    };
    resources
        .into_iter()
        .map(|resource| Request {
            action: iam_action.clone(),
            resource,
            principal: None,
            context: context.clone(),
        })
        .collect()
}

/// AWS's AccessDenied in the service's protocol.
fn deny(client: &mut TcpStream, service: &str, who: &str, r: &Request) -> std::io::Result<()> {
    let message = format!(
        "User: {who} is not authorized to perform: {} on resource: {}",
        r.action, r.resource
    );
    let (content_type, body) = match service {
        "ec2" => (
            "text/xml;charset=UTF-8",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation. {message}</Message></Error></Errors><RequestID>6b1b2d0c-0000-4000-8000-0000000000aa</RequestID></Response>"
            ),
        ),
        "sqs" | "logs" => (
            "application/x-amz-json-1.1",
            serde_json::json!({"__type": "AccessDeniedException", "message": message}).to_string(),
        ),
        _ => (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>{message}</Message></Error><RequestId>6b1b2d0c-0000-4000-8000-0000000000ab</RequestId></ErrorResponse>"
            ),
        ),
    };
    write!(
        client,
        "HTTP/1.1 403 Forbidden\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}
