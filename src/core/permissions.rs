//! The IAM actions each of the guard's actions needs: one list, held against the code (every
//! AWS call in `adapters/aws/` names its IAM action, and a test checks each is listed here) and against
//! the Terraform policies (`tests/terraform.rs` parses them and fails on any difference).

/// What the guard does, each with the IAM actions its AWS calls need.
pub const PERMISSIONS: &[(&str, &[&str])] = &[
    (
        "check",
        &[
            "sts:GetCallerIdentity",
            "ec2:DescribeRegions",
            "ec2:DescribeInstanceStatus",
            "ec2:DescribeTags",
            "ec2:DescribeSpotInstanceRequests",
            // max_burn_rate_usd_per_hour: the running instances' types.
            "ec2:DescribeInstances",
            // Who launched an incident's instances: the account's CloudTrail log group.
            "logs:FilterLogEvents",
        ],
    ),
    // Compute beyond EC2 (`halt_services`, `max_running`): what runs, read by check and halt.
    (
        "check_services",
        &[
            "rds:DescribeDBInstances",
            "rds:DescribeDBClusters",
            "ecs:ListClusters",
            "ecs:ListServices",
            "ecs:DescribeServices",
            "ecs:ListTasks",
            "ecs:DescribeTasks",
            "lambda:ListFunctions",
            "lambda:GetFunctionConcurrency",
            "lambda:ListTags",
            "sagemaker:ListNotebookInstances",
            "sagemaker:ListTrainingJobs",
            "sagemaker:ListProcessingJobs",
            "sagemaker:ListTransformJobs",
            "sagemaker:ListHyperParameterTuningJobs",
            "sagemaker:ListEndpoints",
            "sagemaker:DescribeEndpoint",
            "sagemaker:DescribeEndpointConfig",
            "sagemaker:ListTags",
            "batch:DescribeJobQueues",
            "batch:DescribeComputeEnvironments",
            "batch:ListJobs",
            "eks:ListClusters",
            "eks:ListNodegroups",
            "eks:DescribeNodegroup",
            // Self-managed nodes: the cluster they join, by its ARN.
            "eks:DescribeCluster",
        ],
    ),
    // Halting it: databases stopped, services scaled to zero, standalone tasks stopped,
    // functions held at zero concurrency. Never a deletion.
    (
        "halt_services",
        &[
            "rds:StopDBInstance",
            "rds:StopDBCluster",
            "ecs:UpdateService",
            "ecs:StopTask",
            "lambda:PutFunctionConcurrency",
            "sagemaker:StopNotebookInstance",
            "sagemaker:StopTrainingJob",
            "sagemaker:StopProcessingJob",
            "sagemaker:StopTransformJob",
            "sagemaker:StopHyperParameterTuningJob",
            "batch:UpdateJobQueue",
            "batch:UpdateComputeEnvironment",
        ],
    ),
    (
        "stop_instances",
        &[
            "ec2:StopInstances",
            "ec2:CreateTags",
            // halt_scope = "new": when the running instances were launched.
            "ec2:DescribeInstances",
            "autoscaling:DescribeAutoScalingGroups",
            "autoscaling:SuspendProcesses",
        ],
    ),
    (
        "lockout_users",
        &[
            "iam:ListUsers",
            "iam:ListRoles",
            "iam:ListAttachedUserPolicies",
            "iam:ListAttachedRolePolicies",
            "iam:ListAccessKeys",
            "iam:AttachUserPolicy",
            "iam:UpdateAccessKey",
        ],
    ),
    (
        "block_launches",
        &[
            "iam:ListUsers",
            "iam:ListRoles",
            "iam:ListAttachedUserPolicies",
            "iam:ListAttachedRolePolicies",
            "iam:ListAccessKeys",
            "iam:AttachUserPolicy",
            "iam:AttachRolePolicy",
        ],
    ),
    // `block_bedrock`: the Bedrock deny policy attached as `block_launches` attaches its own,
    // and the Bedrock API keys (service-specific credentials) of its users set Inactive.
    (
        "block_bedrock",
        &[
            "iam:ListUsers",
            "iam:ListRoles",
            "iam:ListAttachedUserPolicies",
            "iam:ListAttachedRolePolicies",
            "iam:ListAccessKeys",
            "iam:AttachUserPolicy",
            "iam:AttachRolePolicy",
            "iam:ListServiceSpecificCredentials",
            "iam:UpdateServiceSpecificCredential",
        ],
    ),
    (
        "lockout_launchers",
        &[
            "iam:ListUsers",
            "iam:ListAttachedUserPolicies",
            "iam:ListAccessKeys",
            "iam:AttachUserPolicy",
            "iam:UpdateAccessKey",
            // A launcher role gets the launch-deny policy (without session revocation).
            "iam:ListRoles",
            "iam:ListAttachedRolePolicies",
            "iam:AttachRolePolicy",
        ],
    ),
    // Opt-in (`allow_session_revocation`, see [`OPT_IN`]): inline policies revoking older
    // sessions, written by `revoke_sessions` and by `lockout_launchers` on roles, and removed by
    // `restore`. Whoever holds the guard's credentials could write any inline policy with these.
    (
        "revoke_sessions",
        &[
            "iam:ListUsers",
            "iam:ListRoles",
            "iam:ListAttachedUserPolicies",
            "iam:ListAttachedRolePolicies",
            "iam:ListAccessKeys",
            "iam:PutUserPolicy",
            "iam:PutRolePolicy",
            "iam:DeleteUserPolicy",
            "iam:DeleteRolePolicy",
        ],
    ),
    (
        "isolate",
        &[
            "ec2:DescribeInstances",
            "ec2:DescribeInstanceAttribute",
            "ec2:DescribeIamInstanceProfileAssociations",
            "autoscaling:DescribeAutoScalingInstances",
            "ec2:ModifyInstanceAttribute",
            "autoscaling:DetachInstances",
            "ec2:DisassociateIamInstanceProfile",
            "ec2:DescribeSecurityGroups",
            "ec2:CreateSecurityGroup",
            "ec2:RevokeSecurityGroupEgress",
            "ec2:AuthorizeSecurityGroupIngress",
            "ec2:AuthorizeSecurityGroupEgress",
            "ec2:ModifyNetworkInterfaceAttribute",
            "ec2:CreateSnapshot",
            "ec2:CreateTags",
            "ec2:StopInstances",
        ],
    ),
    // `isolate --forensics`: the responder's forensic instance, from the snapshots.
    (
        "isolate_forensics",
        &[
            "ec2:DescribeSubnets",
            "ec2:DescribeSnapshots",
            "ec2:DescribeVolumes",
            "ec2:AuthorizeSecurityGroupIngress",
            "ec2:RunInstances",
            "ec2:CreateVolume",
            "ec2:AttachVolume",
        ],
    ),
    (
        "restore",
        &[
            // An isolated instance back in its group, its profile back. Re-associating a
            // profile needs iam:PassRole on its role, which the module never grants: on AWS
            // that undo fails and restore says how to do it by hand.
            "autoscaling:AttachInstances",
            "ec2:AssociateIamInstanceProfile",
            "ec2:StartInstances",
            // Compute beyond EC2 given back: databases started, the desired count and the
            // reserved concurrency as they were.
            "rds:StartDBInstance",
            "rds:StartDBCluster",
            "ecs:UpdateService",
            "lambda:PutFunctionConcurrency",
            "lambda:DeleteFunctionConcurrency",
            "sagemaker:StartNotebookInstance",
            "batch:UpdateJobQueue",
            "batch:UpdateComputeEnvironment",
            "ec2:DeleteTags",
            "autoscaling:ResumeProcesses",
            "iam:DetachUserPolicy",
            "iam:DetachRolePolicy",
            "iam:UpdateAccessKey",
            "iam:UpdateServiceSpecificCredential",
        ],
    ),
    // `max_bedrock_invocations_per_hour`, `max_bedrock_burn_rate_usd_per_hour`: Amazon
    // Bedrock's metrics, in each account and region.
    // With them, the provisioned throughput bought in each region, reported.
    (
        "bedrock_usage",
        &[
            "cloudwatch:ListMetrics",
            "cloudwatch:GetMetricData",
            "bedrock:ListProvisionedModelThroughputs",
        ],
    ),
    // Only from the account the guard runs in: reaching member accounts, and e-mailing.
    ("reach_member_accounts", &["sts:AssumeRole"]),
    // Money, read with the guard's own credentials in the payer: the billing metric (a
    // member's by its LinkedAccount dimension), and on-demand prices (a Bedrock model's by
    // the name Bedrock gives it).
    (
        "billing",
        &[
            "cloudwatch:GetMetricData",
            "pricing:GetProducts",
            "bedrock:GetFoundationModel",
        ],
    ),
    // `[organization] discover = true`: the management account's list of accounts.
    ("discover_accounts", &["organizations:ListAccounts"]),
    ("notify", &["sns:Publish"]),
    // The event path: the queue in the guard's account that the EventBridge rules fill.
    (
        "events",
        &[
            "sqs:GetQueueAttributes",
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:ChangeMessageVisibility",
        ],
    ),
    // The dead-man's switch: a metric after every completed check, in the guard's account.
    ("heartbeat", &["cloudwatch:PutMetricData"]),
    // `[journal] backend = "dynamodb"`: the journal's items, in its table and indexes. Each
    // item of a TransactWriteItems is authorised as its own PutItem, UpdateItem or
    // ConditionCheckItem. Not the guard's: CreateTable and UpdateTimeToLive (`journal init`)
    // and Scan (`journal copy`), run by an operator.
    (
        "journal",
        &[
            "dynamodb:DescribeTable",
            "dynamodb:GetItem",
            "dynamodb:Query",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:ConditionCheckItem",
        ],
    ),
    // Deployed: the configuration and the Slack tokens, read at start.
    (
        "settings",
        &["ssm:GetParameter", "secretsmanager:GetSecretValue"],
    ),
];

/// IAM actions granted only where the module's input says so: `(action, module input)`. Each
/// is in a `dynamic "statement"` of the Terraform policy whose `for_each` is that input (held by
/// `tests/it/terraform.rs`); the configuration key of the same name tells the guard it has them.
pub const OPT_IN: &[(&str, &str)] = &[
    ("iam:PutUserPolicy", "allow_session_revocation"),
    ("iam:PutRolePolicy", "allow_session_revocation"),
    ("iam:DeleteUserPolicy", "allow_session_revocation"),
    ("iam:DeleteRolePolicy", "allow_session_revocation"),
    ("dynamodb:DescribeTable", "journal_backend"),
    ("dynamodb:GetItem", "journal_backend"),
    ("dynamodb:Query", "journal_backend"),
    ("dynamodb:PutItem", "journal_backend"),
    ("dynamodb:UpdateItem", "journal_backend"),
    ("dynamodb:DeleteItem", "journal_backend"),
    ("dynamodb:ConditionCheckItem", "journal_backend"),
];

/// The journal's DynamoDB calls made by an operator's command, never by the guard's role:
/// `journal init` and `journal copy`.
pub const OPERATOR_ONLY: &[&str] = &[
    "dynamodb:CreateTable",
    "dynamodb:UpdateTimeToLive",
    "dynamodb:Scan",
];

/// Actions only the guard's own role needs, not the role in a member account.
pub const GUARD_ONLY: &[&str] = &[
    "reach_member_accounts",
    "discover_accounts",
    "billing",
    "notify",
    "events",
    "heartbeat",
    "settings",
    "journal",
];

/// Where a policy applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The guard's role, in the account it runs in.
    Guard,
    /// The role the guard assumes in each member account.
    Member,
}

/// The IAM actions a scope's policy must grant, sorted and without duplicates.
pub fn iam_actions(scope: Scope) -> Vec<&'static str> {
    let mut out: Vec<&str> = PERMISSIONS
        .iter()
        .filter(|(action, _)| scope == Scope::Guard || !GUARD_ONLY.contains(action))
        .flat_map(|(_, iam)| iam.iter().copied())
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every IAM action the AWS adapter names for its calls is in the list, and every listed
    /// action is called somewhere: the list cannot drift from the code.
    #[test]
    fn the_list_matches_the_calls_of_the_aws_adapter() {
        // Every file of the AWS adapter, one per service.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/adapters/aws");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(files.len() > 1, "{files:?}");
        let source: String = files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect();
        let source = source.as_str();
        let mut called: Vec<&str> = source
            .match_indices("classify(\"")
            .map(|(i, _)| {
                let rest = &source[i + "classify(\"".len()..];
                &rest[..rest.find('"').unwrap()]
            })
            .chain(source.match_indices("operation: \"").map(|(i, _)| {
                let rest = &source[i + "operation: \"".len()..];
                &rest[..rest.find('"').unwrap()]
            }))
            .collect();
        // AssumeRole is made by the SDK's credentials provider for `role_arn` accounts.
        assert!(source.contains("AssumeRoleProvider"));
        called.push("sts:AssumeRole");
        called.sort_unstable();
        called.dedup();
        // The journal's own calls are its adapter's (the next test).
        let journal: Vec<&str> = iam_actions(Scope::Guard)
            .into_iter()
            .filter(|a| !a.starts_with("dynamodb:"))
            .collect();
        assert_eq!(called, journal);
    }

    /// Every DynamoDB call of the journal's adapter is listed, as the guard's or an operator's,
    /// and every listed one is made: the SDK's method names, and the items of a transaction.
    #[test]
    fn the_journal_list_matches_the_calls_of_the_dynamodb_adapter() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/adapters/journal/dynamodb");
        let source: String = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        let calls = [
            (".describe_table()", "dynamodb:DescribeTable"),
            (".get_item()", "dynamodb:GetItem"),
            (".query()", "dynamodb:Query"),
            (".put_item()", "dynamodb:PutItem"),
            (".update_item()", "dynamodb:UpdateItem"),
            (".delete_item()", "dynamodb:DeleteItem"),
            ("Put::builder()", "dynamodb:PutItem"),
            ("Update::builder()", "dynamodb:UpdateItem"),
            ("ConditionCheck::builder()", "dynamodb:ConditionCheckItem"),
            (".create_table()", "dynamodb:CreateTable"),
            (".update_time_to_live()", "dynamodb:UpdateTimeToLive"),
            (".scan()", "dynamodb:Scan"),
        ];
        let mut made: Vec<&str> = calls
            .iter()
            .filter(|(call, _)| source.contains(call))
            .map(|(_, action)| *action)
            .collect();
        made.sort_unstable();
        made.dedup();
        let journal = PERMISSIONS
            .iter()
            .find(|(name, _)| *name == "journal")
            .unwrap()
            .1;
        let mut listed: Vec<&str> = journal.iter().chain(OPERATOR_ONLY).copied().collect();
        listed.sort_unstable();
        assert_eq!(made, listed);
        // The transaction is the adapter's only batch: no BatchWriteItem or BatchGetItem goes
        // unlisted.
        assert!(source.contains(".transact_write_items()"));
        assert!(!source.contains("batch_write_item") && !source.contains("batch_get_item"));
        assert!(!source.contains(".delete_table()") && !source.contains("Delete::builder"));
    }

    #[test]
    fn member_roles_need_neither_assume_role_nor_publish() {
        let member = iam_actions(Scope::Member);
        assert!(!member.contains(&"sts:AssumeRole") && !member.contains(&"sns:Publish"));
        assert!(!member.iter().any(|a| a.starts_with("sqs:")));
        assert!(member.contains(&"ec2:StopInstances") && member.contains(&"iam:AttachRolePolicy"));
    }
}
