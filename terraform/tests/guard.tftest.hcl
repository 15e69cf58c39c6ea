# `terraform test` with the real hashicorp/aws provider: the policy documents are rendered by
# the provider, never mocked, and the runs that apply create everything for real. CI points the
# provider at the AWS emulator (tests/it/terraform_apply/mod.rs sets AWS_ENDPOINT_URL and test keys);
# against a sandbox account it runs as it is. Assertions are on statements, resources and
# conditions, not only on action names.

variables {
  trust_ecs_tasks          = true
  notify_emails            = ["oncall@example.com"]
  protected_principal_arns = ["arn:aws:iam::123456789012:user/break-glass"]
}

run "the_guards_policy_as_rendered" {
  command = apply

  assert {
    condition     = aws_iam_role.guard[0].name == "runawaytrain-guard" && aws_iam_role.guard[0].max_session_duration == 3600
    error_message = "the guard's role is named after name_prefix, with one-hour sessions"
  }

  # Users may get the deny-all, the launch-deny and the Bedrock deny policy, and nothing else.
  assert {
    condition     = jsonencode(sort(flatten([one([for s in jsondecode(aws_iam_policy.guard.policy).Statement : s if s.Sid == "AttachOnlyTheLockoutPoliciesToUsers"]).Condition.ArnEquals["iam:PolicyARN"]]))) == jsonencode(sort([module.policies.lockout_policy_arn, module.policies.launch_deny_policy_arn, module.policies.bedrock_deny_policy_arn]))
    error_message = "AttachUserPolicy is conditioned on the three lockout policies"
  }

  # Roles only the launch-deny and the Bedrock deny policy.
  assert {
    condition     = jsonencode(flatten([one([for s in jsondecode(aws_iam_policy.guard.policy).Statement : s if s.Sid == "AttachOnlyTheLaunchDenyPolicyToRoles"]).Condition.ArnEquals["iam:PolicyARN"]])) == jsonencode([module.policies.launch_deny_policy_arn, module.policies.bedrock_deny_policy_arn])
    error_message = "AttachRolePolicy is conditioned on the launch-deny and Bedrock deny policies alone"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_policy.guard.policy).Statement : s.Effect == "Deny" && jsonencode(flatten([s.Resource])) == jsonencode(var.protected_principal_arns)
      if s.Sid == "NeverTouchTheProtectedPrincipals"
    ]) && length([for s in jsondecode(aws_iam_policy.guard.policy).Statement : s if s.Sid == "NeverTouchTheProtectedPrincipals"]) == 1
    error_message = "the protected principals are denied in the policy itself"
  }

  assert {
    condition     = one([for s in jsondecode(aws_iam_policy.guard.policy).Statement : s if s.Sid == "NeverChangeItself"]).Effect == "Deny" && jsonencode(flatten([one([for s in jsondecode(aws_iam_policy.guard.policy).Statement : s if s.Sid == "NeverChangeItself"]).Resource])) == jsonencode([aws_iam_role.guard[0].arn])
    error_message = "the guard may never change its own role"
  }

  assert {
    condition     = contains(flatten([one([for s in jsondecode(aws_iam_policy.guard.policy).Statement : s if s.Sid == "NeverCreateInIamOrPassRoles"]).Action]), "iam:PassRole") && contains(flatten([one([for s in jsondecode(aws_iam_policy.guard.policy).Statement : s if s.Sid == "NeverCreateInIamOrPassRoles"]).Action]), "iam:Create*")
    error_message = "creating in IAM and passing roles are denied"
  }

  assert {
    condition     = jsonencode(sort(flatten([one([for s in jsondecode(aws_iam_policy.guard.policy).Statement : s if s.Sid == "TagInstancesWithTheGuardsKeysOnly"]).Condition["ForAllValues:StringEquals"]["aws:TagKeys"]]))) == jsonencode(["runaway:incident", "runaway:quarantine"]) && one([for s in jsondecode(aws_iam_policy.guard.policy).Statement : s if s.Sid == "TagInstancesWithTheGuardsKeysOnly"]).Condition.Null["aws:TagKeys"] == "false"
    error_message = "the guard writes only runaway:incident and runaway:quarantine on instances, and always names the key"
  }

  assert {
    condition     = length([for s in jsondecode(aws_iam_policy.guard.policy).Statement : s if can(regex("^ReachMember", s.Sid))]) == 0
    error_message = "without organization_id or member_account_ids the guard reaches no other account"
  }

  assert {
    condition     = one([for s in jsondecode(aws_sns_topic_policy.notify[0].policy).Statement : s if s.Sid == "DenyInsecureTransport"]).Condition.Bool["aws:SecureTransport"] == "false"
    error_message = "the notify topic refuses non-TLS access"
  }

  assert {
    condition     = aws_sns_topic.notify[0].kms_master_key_id == aws_kms_key.notify[0].arn && aws_kms_key.notify[0].enable_key_rotation
    error_message = "the notify topic is encrypted with the module's rotating customer-managed key"
  }

  assert {
    condition     = one([for s in jsondecode(aws_kms_key.notify[0].policy).Statement : s if s.Sid == "AlarmsPublishToTheTopic"]).Principal.Service == "cloudwatch.amazonaws.com" && contains(flatten([one([for s in jsondecode(aws_kms_key.notify[0].policy).Statement : s if s.Sid == "AlarmsPublishToTheTopic"]).Action]), "kms:GenerateDataKey*")
    error_message = "CloudWatch alarms may use the notify key"
  }

  assert {
    condition     = contains(flatten([one([for s in jsondecode(aws_iam_policy.guard.policy).Statement : s if s.Sid == "Notify"]).Resource]), aws_sns_topic.notify[0].arn)
    error_message = "the guard publishes to the notify topic"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.heartbeat[0].namespace == "Runawaytrain" && aws_cloudwatch_metric_alarm.heartbeat[0].metric_name == "Heartbeat" && aws_cloudwatch_metric_alarm.heartbeat[0].period == 300 && aws_cloudwatch_metric_alarm.heartbeat[0].evaluation_periods == 2 && aws_cloudwatch_metric_alarm.heartbeat[0].treat_missing_data == "breaching" && contains(aws_cloudwatch_metric_alarm.heartbeat[0].alarm_actions, aws_sns_topic.notify[0].arn)
    error_message = "the dead-man's switch: two check periods without a heartbeat, missing data breaching, notifies the topic"
  }

  assert {
    condition     = one([for s in jsondecode(aws_iam_policy.guard.policy).Statement : s if s.Sid == "PutTheHeartbeat"]).Condition.StringEquals["cloudwatch:namespace"] == "Runawaytrain"
    error_message = "the guard puts metrics only in its own namespace"
  }

  assert {
    condition     = length(aws_sns_topic_subscription.email) == 1 && length(aws_cloudwatch_metric_alarm.billing) == 0
    error_message = "one subscription per notify e-mail, and no billing alarm without a threshold"
  }
}

run "an_organisation_conditions_reach_and_trust" {
  command = apply

  variables {
    organization_id        = "o-a1b2c3d4e5"
    trusted_principal_arns = ["arn:aws:iam::123456789012:role/platform-runners"]
    role_path              = "/security/"
  }

  assert {
    condition     = jsonencode(flatten([one([for s in jsondecode(aws_iam_policy.guard.policy).Statement : s if s.Sid == "ReachMemberAccountsOfTheOrganization"]).Condition.StringEquals["aws:ResourceOrgID"]])) == jsonencode(["o-a1b2c3d4e5"])
    error_message = "the guard assumes member roles only in the organisation's accounts"
  }

  assert {
    condition     = one([for s in jsondecode(aws_iam_role.guard[0].assume_role_policy).Statement : s if s.Sid == "TrustedPrincipals"]).Condition.StringEquals["aws:PrincipalOrgID"] == "o-a1b2c3d4e5"
    error_message = "trusted principals assume the guard's role only from inside the organisation"
  }

  assert {
    condition     = aws_iam_role.guard[0].path == "/security/" && endswith(output.guard_role_arn, ":role/security/runawaytrain-guard")
    error_message = "role_path places the role"
  }
}

run "brings_its_own_role_topic_and_key" {
  command = plan

  variables {
    create_role                   = false
    role_name                     = "platform-guard"
    create_sns_topic              = false
    sns_topic_arn                 = "arn:aws:sns:us-east-1:123456789012:alerts"
    heartbeat_alarm_enabled       = false
    role_permissions_boundary_arn = "arn:aws:iam::123456789012:policy/boundary"
  }

  assert {
    condition     = length(aws_iam_role.guard) == 0 && aws_iam_role_policy_attachment.guard.role == "platform-guard" && aws_iam_policy.guard.name == "platform-guard"
    error_message = "with create_role = false the guard's policy goes to the existing role"
  }

  assert {
    condition     = length(aws_sns_topic.notify) == 0 && length(aws_kms_key.notify) == 0 && output.notify_topic_arn == "arn:aws:sns:us-east-1:123456789012:alerts"
    error_message = "with create_sns_topic = false no topic or key is made, and the guard publishes to sns_topic_arn"
  }
}

run "a_role_made_with_a_permissions_boundary" {
  command = plan

  variables {
    role_permissions_boundary_arn = "arn:aws:iam::123456789012:policy/boundary"
  }

  assert {
    condition     = aws_iam_role.guard[0].permissions_boundary == "arn:aws:iam::123456789012:policy/boundary"
    error_message = "the boundary is set on the guard's role"
  }
}

run "refuses_trusted_principals_without_a_condition" {
  command = plan

  variables {
    trusted_principal_arns = ["arn:aws:iam::123456789012:role/platform-runners"]
  }

  expect_failures = [aws_iam_role.guard]
}

run "refuses_a_role_nobody_can_assume" {
  command = plan

  variables {
    trust_ecs_tasks = false
  }

  expect_failures = [aws_iam_role.guard]
}

run "refuses_a_bad_email" {
  command = plan

  variables {
    notify_emails = ["not-an-address"]
  }

  expect_failures = [var.notify_emails]
}

run "refuses_a_name_sns_would_refuse" {
  command = plan

  variables {
    name_prefix = "run.away"
  }

  expect_failures = [var.name_prefix]
}

run "refuses_an_alarm_on_the_aws_managed_key" {
  command = plan

  variables {
    create_kms_key              = false
    sns_kms_key_id              = "alias/aws/sns"
    billing_alarm_threshold_usd = 100
  }

  # Both alarms publish to the topic: both refuse a key CloudWatch cannot use.
  expect_failures = [aws_cloudwatch_metric_alarm.billing, aws_cloudwatch_metric_alarm.heartbeat]
}

# The tag-protection SCP (modules/tag-protection-scp), applied in an organisation's management
# account (against the emulator, the Rust test creates the organisation first). Applied without
# restrict_bedrock it says nothing of Bedrock; applied again with it, Bedrock is denied to every
# principal but the listed ones.
run "the_scp_without_restrict_bedrock" {
  command = apply

  module {
    source = "./modules/tag-protection-scp"
  }

  variables {
    tag_admin_principal_arns = ["arn:aws:iam::123456789012:role/platform-admins"]
    guard_principal_arns     = ["arn:aws:iam::*:role/runawaytrain-member"]
    target_ids               = []
  }

  assert {
    condition     = length([for s in jsondecode(aws_organizations_policy.tag_protection.content).Statement : s if strcontains(lower(jsonencode(s)), "bedrock")]) == 0
    error_message = "without restrict_bedrock no statement of the SCP mentions Bedrock"
  }

  assert {
    condition     = jsonencode(sort([for s in jsondecode(aws_organizations_policy.tag_protection.content).Statement : s.Sid])) == jsonencode(["NoRemovingEveryTagAtOnce", "OnlyTagAdminsWriteTheExemption", "OnlyTheGuardWritesItsTags"])
    error_message = "without restrict_bedrock the SCP protects the tags, and only that"
  }
}

run "the_scp_with_restrict_bedrock" {
  command = apply

  module {
    source = "./modules/tag-protection-scp"
  }

  variables {
    tag_admin_principal_arns = ["arn:aws:iam::123456789012:role/platform-admins"]
    guard_principal_arns     = ["arn:aws:iam::*:role/runawaytrain-member"]
    target_ids               = []
    restrict_bedrock         = true
    bedrock_principal_arns   = ["arn:aws:iam::*:role/chatbot"]
  }

  assert {
    condition     = one([for s in jsondecode(aws_organizations_policy.tag_protection.content).Statement : s if s.Sid == "OnlyBedrockPrincipalsCallBedrock"]).Effect == "Deny" && jsonencode(flatten([one([for s in jsondecode(aws_organizations_policy.tag_protection.content).Statement : s if s.Sid == "OnlyBedrockPrincipalsCallBedrock"]).Action])) == jsonencode(["bedrock:*"])
    error_message = "with restrict_bedrock the SCP denies bedrock:*"
  }

  assert {
    condition     = jsonencode(flatten([one([for s in jsondecode(aws_organizations_policy.tag_protection.content).Statement : s if s.Sid == "OnlyBedrockPrincipalsCallBedrock"]).Condition.ArnNotLike["aws:PrincipalArn"]])) == jsonencode(["arn:aws:iam::*:role/chatbot"])
    error_message = "everyone but bedrock_principal_arns is denied"
  }
}
