//! The Slack adapter: the only module that knows Slack's wire format. It renders incidents
//! into messages (within Slack's limits), posts and updates them with the bot token, answers
//! through `response_url`, and checks the v0 signature of inbound requests.
//!
//! - [`signature`]: inbound requests' v0 signatures and replays
//! - [`web_api`]: the Web API client (posts, updates, `response_url`)
//! - [`messages`]: Block Kit rendering of incidents
//! - [`requests`]: slash commands and button presses, read with slack-morphism's models; the
//!   buttons' `action_id`s
//! - [`inbound`]: the guard's answer to a command or a press, for both transports
//! - [`socket`]: Socket Mode, the connection the guard opens to Slack

pub mod inbound;
pub mod messages;
pub mod requests;
pub mod signature;
pub mod socket;
pub mod web_api;

pub use messages::incident_message;
pub use signature::{
    ReplayCache, SIGNATURE_WINDOW_SECS, SignatureError, SignedHeaders, sign, verify_signature,
};
pub use web_api::{CALL_BUDGET, SlackClient};

/// A secret (the bot token, the signing secret): never printed, zeroed when dropped.
pub type Secret = secrecy::SecretString;
