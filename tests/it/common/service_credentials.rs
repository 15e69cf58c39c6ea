//! IAM's service-specific credentials (Bedrock API keys are those of `bedrock.amazonaws.com`),
//! which the emulator does not serve (moto answers ListServiceSpecificCredentials with a bare
//! 500): ListServiceSpecificCredentials and UpdateServiceSpecificCredential answered here in
//! IAM's Query wire format (XML, `IsTruncated`/`Marker` pages, `NoSuchEntity`), from a store the
//! test fills. [`CredentialsProxy`] puts it in front of moto on IAM's endpoint
//! (`AWS_ENDPOINT_URL_IAM`) and passes every other request to moto untouched; the authorizing
//! proxy answers from a store too, once it has judged the call.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use super::{forward, read_request};

/// How many credentials a page holds: small, so that the guard's paging is exercised.
const PAGE: usize = 2;

#[derive(Debug, Clone)]
struct Credential {
    user: String,
    id: String,
    service: String,
    active: bool,
}

/// The credentials IAM holds, in the order created.
#[derive(Clone, Default)]
pub struct Store(Arc<Mutex<Vec<Credential>>>);

impl Store {
    /// A new Active credential of `user` for `service`; its id.
    pub fn create(&self, user: &str, service: &str) -> String {
        let mut all = self.0.lock().unwrap();
        let id = format!("ACCA{:016}", all.len() + 1);
        all.push(Credential {
            user: user.into(),
            id: id.clone(),
            service: service.into(),
            active: true,
        });
        id
    }

    /// `Active` or `Inactive`.
    pub fn status(&self, id: &str) -> &'static str {
        let all = self.0.lock().unwrap();
        let c = all.iter().find(|c| c.id == id).expect("a credential");
        if c.active { "Active" } else { "Inactive" }
    }

    /// Every credential's id and status, in order.
    pub fn statuses(&self) -> Vec<(String, &'static str)> {
        let ids: Vec<String> = self
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.id.clone())
            .collect();
        ids.into_iter()
            .map(|id| {
                let s = self.status(&id);
                (id, s)
            })
            .collect()
    }

    /// The whole HTTP answer to an IAM Query request of `action`, when it is one of these.
    pub fn answer(&self, action: &str, params: &BTreeMap<String, String>) -> Option<Vec<u8>> {
        let ns = "https://iam.amazonaws.com/doc/2010-05-08/";
        let meta = "<ResponseMetadata><RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId></ResponseMetadata>";
        let user = params.get("UserName").cloned().unwrap_or_default();
        let mut all = self.0.lock().unwrap();
        let xml = match action {
            "ListServiceSpecificCredentials" => {
                let service = params.get("ServiceName");
                let mine: Vec<&Credential> = all
                    .iter()
                    .filter(|c| c.user == user && service.is_none_or(|s| *s == c.service))
                    .collect();
                let start: usize = params
                    .get("Marker")
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(0);
                let page = &mine[start.min(mine.len())..(start + PAGE).min(mine.len())];
                let members: String = page
                    .iter()
                    .map(|c| {
                        format!(
                            "<member><UserName>{}</UserName><Status>{}</Status><ServiceUserName>{}-at-111111111111</ServiceUserName><CreateDate>2026-12-01T09:00:00Z</CreateDate><ServiceSpecificCredentialId>{}</ServiceSpecificCredentialId><ServiceName>{}</ServiceName></member>",
                            c.user,
                            if c.active { "Active" } else { "Inactive" },
                            c.user,
                            c.id,
                            c.service
                        )
                    })
                    .collect();
                let more = start + PAGE < mine.len();
                let marker = if more {
                    format!("<Marker>{}</Marker>", start + PAGE)
                } else {
                    String::new()
                };
                format!(
                    "<ListServiceSpecificCredentialsResponse xmlns=\"{ns}\"><ListServiceSpecificCredentialsResult><ServiceSpecificCredentials>{members}</ServiceSpecificCredentials><IsTruncated>{more}</IsTruncated>{marker}</ListServiceSpecificCredentialsResult>{meta}</ListServiceSpecificCredentialsResponse>"
                )
            }
            "UpdateServiceSpecificCredential" => {
                let id = params
                    .get("ServiceSpecificCredentialId")
                    .cloned()
                    .unwrap_or_default();
                let Some(c) = all.iter_mut().find(|c| c.id == id && c.user == user) else {
                    let body = format!(
                        "<ErrorResponse xmlns=\"{ns}\"><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>No such credential {id} of user {user}.</Message></Error><RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId></ErrorResponse>"
                    );
                    return Some(http(404, "Not Found", &body));
                };
                c.active = params.get("Status").map(String::as_str) == Some("Active");
                format!(
                    "<UpdateServiceSpecificCredentialResponse xmlns=\"{ns}\">{meta}</UpdateServiceSpecificCredentialResponse>"
                )
            }
            _ => return None,
        };
        Some(http(200, "OK", &xml))
    }
}

fn http(status: u16, reason: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A form-encoded Query request's parameters.
pub fn form(body: &[u8]) -> BTreeMap<String, String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// IAM's endpoint for the guard: service-specific credentials answered from `store`, every
/// other request passed to moto.
pub struct CredentialsProxy {
    pub url: String,
    pub store: Store,
}

impl CredentialsProxy {
    pub fn start(moto: &str) -> CredentialsProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = moto.trim_start_matches("http://").to_owned();
        let store = Store::default();
        let shared = store.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { break };
                let (upstream, store) = (upstream.clone(), shared.clone());
                std::thread::spawn(move || -> std::io::Result<()> {
                    let Some((head, buf, head_end)) = read_request(&mut conn)? else {
                        return Ok(());
                    };
                    let body = &buf[head_end..];
                    let params = form(body);
                    let action = params.get("Action").cloned().unwrap_or_default();
                    let answer = match store.answer(&action, &params) {
                        Some(a) => a,
                        None => forward(&upstream, &head, body)?,
                    };
                    conn.write_all(&answer)
                });
            }
        });
        CredentialsProxy { url, store }
    }
}
