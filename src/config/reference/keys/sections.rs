//! The keys of `[slack]`, `[notify]`, `[events]`, `[journal]`, `[organization]`, `[[guardduty]]`, `[[tamper]]`.

use super::super::Section::*;
use super::{DURATION, Key, key};

pub const SECTIONS: &[Key] = &[
    // [slack]
    key(
        Slack,
        "channel",
        "string, a Slack channel id",
        "none",
        "a channel id like `C0123456789`",
        "The default channel of alerts.",
        r#""C0123456789""#,
        r#""alerts""#,
    ),
    key(
        Slack,
        "approvers",
        "array of Slack user ids",
        "none",
        "user ids like `U0123456789`",
        "Who may halt, approve, override and restore; nobody else's press or command acts.",
        r#"["U0123456789"]"#,
        r#"["@alice"]"#,
    ),
    key(
        Slack,
        "mode",
        "string",
        r#"`"http"`"#,
        "`http`, `socket`",
        "How Slack reaches the guard: signed HTTP requests to `/slack/*`, or a Socket Mode connection the guard opens (with `SLACK_APP_TOKEN`; nothing reaches it from outside).",
        r#""socket""#,
        r#""websocket""#,
    ),
    Key {
        with: r#"approvers = ["U0123456789", "U0987654321"]"#,
        ..key(
            Slack,
            "approvals_required",
            "integer",
            "`1`",
            "1 or 2; 2 needs at least two `approvers`",
            "`2`: the two-person rule. Halt now, Lock out launchers, restore and the confirmations of halt and isolate need two different approvers.",
            "2",
            "3",
        )
    },
    // [notify]
    key(
        Notify,
        "sns_topic_arn",
        "string, an SNS topic ARN",
        "none",
        "an SNS topic ARN",
        "The e-mail fallback list: every alert and report is published there too.",
        r#""arn:aws:sns:us-east-1:111111111111:runawaytrain""#,
        r#""runawaytrain""#,
    ),
    // [events]
    key(
        Events,
        "queue_url",
        "string, an SQS queue URL",
        "required in `[events]`; without `[events]` the guard polls only",
        "`https://sqs.REGION.amazonaws.com/ACCOUNT/NAME` (or an emulator's URL)",
        "The queue the module's EventBridge rules fill, long-polled by `runaway serve`. Its region is read from AWS's host names, else `home_region`.",
        r#""https://sqs.us-east-1.amazonaws.com/111111111111/runawaytrain-events""#,
        r#""runawaytrain-events""#,
    ),
    Key {
        with: r#"queue_url = "https://sqs.us-east-1.amazonaws.com/111111111111/runawaytrain-events""#,
        ..key(
            Events,
            "guard_rules",
            "array of EventBridge rule names",
            "the module's: the queue's name, and its stem followed by `-tamper`, `-bedrock`, `-forward`, `-forward-tamper`, `-forward-bedrock`",
            "rule names",
            "The guard's own EventBridge rules, whose disabling, deletion, rewriting or loss of targets is tampering.",
            r#"["runawaytrain-events", "runawaytrain-tamper"]"#,
            r#"[""]"#,
        )
    },
    // [journal]
    key(
        Journal,
        "backend",
        "string",
        r#"`"sqlite"`"#,
        "`sqlite`, `dynamodb`",
        "Where the journal is kept: the SQLite file `state_path`, or one DynamoDB table shared by replicas (`runaway journal init` creates it).",
        r#""dynamodb""#,
        r#""postgres""#,
    ),
    Key {
        with: r#"backend = "dynamodb""#,
        ..key(
            Journal,
            "table",
            "string, a DynamoDB table name",
            "`runawaytrain-journal`",
            "3 to 255 of letters, digits and `_-.`",
            "The DynamoDB table of the journal.",
            r#""guard-journal""#,
            r#""a""#,
        )
    },
    Key {
        with: r#"backend = "dynamodb""#,
        ..key(
            Journal,
            "region",
            "string, a region name",
            "`home_region`",
            "an AWS region name",
            "The DynamoDB table's region.",
            r#""eu-west-1""#,
            r#""nowhere""#,
        )
    },
    // [organization]
    key(
        Organization,
        "discover",
        "boolean",
        "`false`",
        "",
        "Watch every active account of the organisation too, through the member role, with `[organization.defaults]` (the guard must run with the management account's credentials).",
        "true",
        r#""true""#,
    ),
    key(
        Organization,
        "member_role_name",
        "string, an IAM role name",
        "`runawaytrain-member`",
        "1 to 64 of `A-Z a-z 0-9 +=,.@_-`",
        "The role each member account has for the guard (the module's member role).",
        r#""guard-member""#,
        r#""no spaces""#,
    ),
    key(
        Organization,
        "external_id",
        "string",
        "none",
        "",
        "The external id of every member role.",
        r#""runawaytrain-7f3a""#,
        "7",
    ),
    key(
        Organization,
        "exclude",
        "array of account ids",
        "none",
        "12-digit account ids",
        "Accounts of the organisation never watched.",
        r#"["333333333333"]"#,
        r#"["prod"]"#,
    ),
    key(
        Organization,
        "defaults",
        "table of `[[accounts]]` keys",
        "none",
        "every `[[accounts]]` key but `id`, `name`, `role_arn`, `external_id`",
        "The rules and settings of discovered accounts, written as `[organization.defaults]`.",
        "{ max_running_instances = 20 }",
        r#"{ role_arn = "arn:aws:iam::222222222222:role/x" }"#,
    ),
    // [[guardduty]]
    Key {
        with: r#"response = "isolate""#,
        ..key(
            GuardDuty,
            "finding",
            "string, a glob on finding types",
            "required",
            "no spaces, at most 256 characters",
            "Which finding types the rule takes, like `Backdoor:EC2/*` or `*`.",
            r#""CryptoCurrency:EC2/*""#,
            r#""Backdoor EC2""#,
        )
    },
    Key {
        with: "finding = \"*\"\nresponse = \"alert\"",
        ..key(
            GuardDuty,
            "min_severity",
            "number",
            "`0`",
            "0 to 10",
            "The least severity the rule takes.",
            "7.0",
            "11.0",
        )
    },
    Key {
        with: r#"finding = "*""#,
        ..key(
            GuardDuty,
            "response",
            "string",
            "required",
            "`alert`, `isolate`, `stop`, `lockout`",
            "What the guard does: alert only, isolate the instance, stop it, or lock out the access key's user.",
            r#""stop""#,
            r#""terminate""#,
        )
    },
    Key {
        with: "finding = \"*\"\nresponse = \"isolate\"",
        ..key(
            GuardDuty,
            "grace_period",
            DURATION,
            "the account's",
            "0 (act at once) to 30 days",
            "How long the alert waits before the response runs.",
            r#""0s""#,
            r#""later""#,
        )
    },
    // [[tamper]]
    Key {
        with: r#"response = "lockout""#,
        ..key(
            Tamper,
            "call",
            "string, a glob on CloudTrail event names",
            "required",
            "matches at least one watched call; at most 128 characters",
            "Which tampering calls the rule takes, like `StopLogging`, `Delete*` or `*`.",
            r#""StopLogging""#,
            r#""RunInstances""#,
        )
    },
    Key {
        with: r#"call = "*""#,
        ..key(
            Tamper,
            "response",
            "string",
            "required",
            "`alert`, `lockout`",
            "Alert only (the Lock out button is offered), or lock out the caller when the grace period ends.",
            r#""lockout""#,
            r#""stop""#,
        )
    },
    Key {
        with: "call = \"*\"\nresponse = \"lockout\"",
        ..key(
            Tamper,
            "grace_period",
            DURATION,
            "the account's",
            "0 (act at once) to 30 days",
            "How long the alert waits before the response runs.",
            r#""0s""#,
            r#""soon""#,
        )
    },
];
