//! The throttling proxy (`scripts/throttle_proxy.py`) in front of moto, which never throttles:
//! token buckets answering EC2's `RequestLimitExceeded` and IAM's `Throttling` as AWS does.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::http;

pub struct Throttle {
    pub url: String,
    child: Child,
}

/// One metered call, as the proxy logged it.
#[derive(Debug, Clone)]
pub struct Metered {
    pub t: f64,
    pub bucket: String,
    pub action: String,
    pub cost: f64,
    pub accepted: bool,
}

impl Throttle {
    /// `args`: the proxy's bucket options, e.g. `["--ec2-burst", "50", "--ec2-rate", "25"]`.
    pub fn start(moto: &str, args: &[&str]) -> Throttle {
        let python = super::moto_server().with_file_name("python");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/throttle_proxy.py");
        let mut child = Command::new(python)
            .arg(script)
            .args(["--upstream", moto])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the throttling proxy");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("the proxy said {line:?}"))
            .to_owned();
        Throttle { url, child }
    }

    /// Every metered call so far, in order.
    pub fn log(&self) -> Vec<Metered> {
        let body = http(&self.url, "GET", "/_throttle/log", "").unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|m| Metered {
                t: m["t"].as_f64().unwrap(),
                bucket: m["bucket"].as_str().unwrap().to_owned(),
                action: m["action"].as_str().unwrap().to_owned(),
                cost: m["cost"].as_f64().unwrap(),
                accepted: m["accepted"].as_bool().unwrap(),
            })
            .collect()
    }
}

impl Drop for Throttle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
