//! A stand-in for IAM's authorisation in front of moto, which cannot judge the module's policies
//! (see `iam_policy`). Requests signed with a watched principal's keys are judged against that
//! principal's policies as applied to moto: the action from the request, the resources and
//! condition keys (`aws:TagKeys`, `iam:PolicyARN`, `aws:ResourceOrgID`) from its parameters. A
//! refused request gets AWS's AccessDenied answer and never reaches moto; an allowed AssumeRole
//! makes the session's keys a watched principal with the role's policies. Other keys (the test's
//! own) pass unjudged.

use std::collections::HashMap;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::Value;

mod isolation;
mod operations;

use super::iam_policy::{Decision, Request, evaluate};
use super::{forward, read_request};
use operations::{action_and_params, requests};

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
    /// IAM's service-specific credentials (Bedrock API keys), which moto does not serve:
    /// answered here once judged. Empty.
    credentials: super::service_credentials::Store,
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
    // A read IAM makes itself (a resource's tags, an association's instance, a profile's role):
    // the same signature, asked of moto directly.
    let look = |svc: &str, form: &str| -> String {
        let mut lines: Vec<String> = head
            .lines()
            .filter(|l| {
                let l = l.to_ascii_lowercase();
                !l.is_empty()
                    && !l.starts_with("content-length:")
                    && !l.starts_with("content-type:")
                    && !l.starts_with("x-amz-target:")
            })
            .map(|l| {
                l.replace(
                    &format!("/{service}/aws4_request"),
                    &format!("/{svc}/aws4_request"),
                )
            })
            .collect();
        lines.push("Content-Type: application/x-www-form-urlencoded".into());
        lines.push(format!("Content-Length: {}", form.len()));
        let answer = forward(upstream, &lines.join("\r\n"), form.as_bytes()).unwrap_or_default();
        String::from_utf8_lossy(&answer).into_owned()
    };
    let requests = requests(
        &service, &action, &params, &region, &principal, &orgs, &look,
    );
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
    let credentials = state.lock().unwrap().credentials.clone();
    if service == "iam"
        && let Some(answer) = credentials.answer(&action, &params)
    {
        return client.write_all(&answer);
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

pub(super) fn between(text: &str, start: &str, end: &str) -> Option<String> {
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
        "dynamodb" => (
            "application/x-amz-json-1.0",
            serde_json::json!({"__type": "com.amazonaws.dynamodb.v20120810#AccessDeniedException", "message": message}).to_string(),
        ),
        "sqs" | "logs" | "ecs" | "sagemaker" => (
            "application/x-amz-json-1.1",
            serde_json::json!({"__type": "AccessDeniedException", "message": message}).to_string(),
        ),
        // The REST-JSON protocols: the error's type in a header, as AWS sends it.
        "lambda" | "batch" | "eks" => {
            let body = serde_json::json!({"message": message}).to_string();
            return write!(
                client,
                "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nx-amzn-ErrorType: AccessDeniedException\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
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
