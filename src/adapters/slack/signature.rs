//! Inbound: Slack's v0 request signatures, checked in two steps (the headers before the body
//! is read, then the HMAC of the body), and the cache that refuses a signed request replayed.
//! Kept by hand rather than slack-morphism's verifier: it is a dozen lines over `hmac`, it
//! answers 401 as the contract says (slack-morphism's listener answers 400), and it splits the
//! header check from the body check, which its verifier does not.

use hmac::{Hmac, KeyInit, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;

use super::Secret;

/// The headers Slack signs its requests with.
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
pub const SIGNATURE_HEADER: &str = "x-slack-signature";

/// Requests older or newer than this are refused (replays).
pub const SIGNATURE_WINDOW_SECS: i64 = 300;

/// Why a request was refused. Says nothing about the secret or the expected signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Slack-Request-Timestamp or X-Slack-Signature")]
    Missing,
    #[error("timestamp outside the 5-minute window")]
    Stale,
    #[error("signature does not match")]
    Mismatch,
}

/// What the headers of a request say, checked before its body is read: both headers there, the
/// timestamp within the window, the signature well formed. Cheap, so that an unsigned request
/// is refused without reading (or waiting for) its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    timestamp: String,
    signature: Vec<u8>,
}

impl SignedHeaders {
    pub fn check(
        timestamp: Option<&str>,
        signature: Option<&str>,
        now: i64,
    ) -> Result<SignedHeaders, SignatureError> {
        let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
            return Err(SignatureError::Missing);
        };
        let ts: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| SignatureError::Stale)?;
        // abs_diff: no overflow whatever the timestamp (i64::MIN + 1 included).
        if now.abs_diff(ts) > SIGNATURE_WINDOW_SECS as u64 {
            return Err(SignatureError::Stale);
        }
        let signature = signature
            .strip_prefix("v0=")
            .filter(|hex| hex.len() == 64)
            .and_then(|hex| hex::decode(hex).ok())
            .ok_or(SignatureError::Mismatch)?;
        Ok(SignedHeaders {
            timestamp: timestamp.to_owned(),
            signature,
        })
    }

    /// Checks the signature against the body, in constant time.
    pub fn verify(&self, secret: &Secret, body: &[u8]) -> Result<(), SignatureError> {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
            .map_err(|_| SignatureError::Mismatch)?;
        mac.update(b"v0:");
        mac.update(self.timestamp.as_bytes());
        mac.update(b":");
        mac.update(body);
        mac.verify_slice(&self.signature)
            .map_err(|_| SignatureError::Mismatch)
    }

    /// The signature, as the key of the replay cache.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }
}

/// Checks Slack's v0 signature: `v0=` + hex HMAC-SHA256(secret, `v0:{timestamp}:{raw body}`),
/// compared in constant time, with the timestamp within 5 minutes of `now` (Unix seconds).
pub fn verify_signature(
    secret: &Secret,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    SignedHeaders::check(timestamp, signature, now)?.verify(secret, body)
}

/// Signatures seen within the last window: a signed request replayed is refused. Only
/// verified signatures enter, so only Slack (or whoever holds the secret) can fill it.
#[derive(Debug, Default)]
pub struct ReplayCache {
    seen: std::sync::Mutex<std::collections::HashMap<Vec<u8>, i64>>,
}

/// Beyond this many signatures in one window, the oldest are dropped (a bound on memory only:
/// Slack sends far fewer).
const MAX_REMEMBERED: usize = 100_000;

impl ReplayCache {
    /// Records `signature` as seen at `now`; `false` if it was seen within the window already.
    pub fn first_time(&self, signature: &[u8], now: i64) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let window = 2 * SIGNATURE_WINDOW_SECS;
        if seen.len() >= MAX_REMEMBERED / 2 {
            seen.retain(|_, at| now.abs_diff(*at) <= window as u64);
        }
        if seen.len() >= MAX_REMEMBERED
            && let Some(oldest) = seen
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(k, _)| k.clone())
        {
            seen.remove(&oldest);
        }
        match seen.get(signature) {
            Some(at) if now.abs_diff(*at) <= window as u64 => false,
            _ => {
                seen.insert(signature.to_vec(), now);
                true
            }
        }
    }
}

/// The signature Slack would send (for tests, benchmarks and the local stand-in).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures() {
        let secret = Secret::new("8f742231b10e8888abcd99yyyzzz85a5".into());
        let body = b"token=x&command=%2Frunaway&text=status";
        let now = 1_700_000_000;
        let sig = sign(secret.expose_secret(), now, body);
        let ts = now.to_string();
        assert_eq!(
            verify_signature(&secret, Some(&ts), Some(&sig), body, now + 10),
            Ok(())
        );
        assert_eq!(
            verify_signature(
                &secret,
                Some(&ts),
                Some(&sig),
                b"token=x&command=%2Frunaway&text=halt",
                now
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(&secret, Some(&ts), Some(&sig), body, now + 301),
            Err(SignatureError::Stale)
        );
        // Timestamps at the ends of i64 do not overflow the window arithmetic.
        for extreme in [i64::MIN + 1, i64::MIN, i64::MAX] {
            assert_eq!(
                verify_signature(&secret, Some(&extreme.to_string()), Some(&sig), body, now),
                Err(SignatureError::Stale)
            );
            assert_eq!(
                verify_signature(&secret, Some(&ts), Some(&sig), body, extreme),
                Err(SignatureError::Stale)
            );
        }
        // A replay within the window is refused; the cache forgets after it.
        let cache = ReplayCache::default();
        assert!(cache.first_time(b"sig", now));
        assert!(!cache.first_time(b"sig", now + 299));
        assert!(cache.first_time(b"sig", now + 10_000));
        assert_eq!(
            verify_signature(&secret, Some(&ts), None, body, now),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature(&secret, Some(&ts), Some("v0=zz"), body, now),
            Err(SignatureError::Mismatch)
        );
        let other = sign("another-secret", now, body);
        assert_eq!(
            verify_signature(&secret, Some(&ts), Some(&other), body, now),
            Err(SignatureError::Mismatch)
        );
        assert!(!format!("{secret:?}").contains("8f742231"));
    }
}
