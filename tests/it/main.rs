//! Every integration test, as one test binary: the SDK-heavy crate links once, not once per
//! file. Each module starts what it needs (a moto server per test on a free loopback port, a
//! Slack stand-in, the `runaway` binary) through the harness in `common`.

mod common;

mod architecture;
mod bedrock;
mod check;
mod delivery;
mod dynamodb_journal;
mod events;
mod fuzzed;
mod guardduty;
mod halt;
mod init;
mod isolate;
mod journal;
mod journal_copy;
mod launchers;
mod lockout;
mod money;
mod organizations;
mod policy_writes;
mod release;
mod replicas;
mod restore;
mod serve;
mod services;
mod snapshots;
mod snapshots_tamper;
mod socket_mode;
mod socket_timeouts;
mod tamper;
mod terraform;
mod terraform_apply;
mod throttled;
mod two_person;
mod under_attack;
