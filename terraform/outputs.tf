output "guard_role_arn" {
  description = "ARN of the guard's IAM role: run runaway serve with it (task role, instance profile, or assumed)."
  value       = var.create_role ? aws_iam_role.guard[0].arn : local.role_arn
}

output "guard_role_name" {
  description = "Name of the guard's IAM role (known once the role exists, so that what uses it waits for it)."
  value       = var.create_role ? aws_iam_role.guard[0].name : local.role_name
}

output "guard_role_unique_id" {
  description = "Unique id (AROA...) of the guard's role, for aws:userid conditions; null when create_role is false."
  value       = one(aws_iam_role.guard[*].unique_id)
}

output "guard_policy_arn" {
  description = "ARN of the guard's permissions policy."
  value       = aws_iam_policy.guard.arn
}

output "guard_instance_profile_name" {
  description = "Instance profile of the guard's role, when trust_ec2_instances is set; null otherwise."
  value       = one(aws_iam_instance_profile.guard[*].name)
}

output "notify_topic_arn" {
  description = "runaway.toml [notify] sns_topic_arn."
  value       = local.topic_arn
}

output "notify_topic_name" {
  description = "Name of the notify topic; null when create_sns_topic is false."
  value       = one(aws_sns_topic.notify[*].name)
}

output "notify_kms_key_arn" {
  description = "ARN of the notify topic's customer-managed key; null when the module does not create it."
  value       = one(aws_kms_key.notify[*].arn)
}

output "heartbeat_alarm_name" {
  description = "The dead-man's switch alarm; null when heartbeat_alarm_enabled is false."
  value       = one(aws_cloudwatch_metric_alarm.heartbeat[*].alarm_name)
}

output "lockout_policy_arn" {
  description = "runaway.toml [guard] lockout_policy_arn (for this account)."
  value       = module.policies.lockout_policy_arn
}

output "bedrock_deny_policy_arn" {
  description = "runaway.toml [guard] bedrock_deny_policy_arn (for this account)."
  value       = module.policies.bedrock_deny_policy_arn
}

output "launch_deny_policy_arn" {
  description = "runaway.toml [guard] launch_deny_policy_arn (for this account)."
  value       = module.policies.launch_deny_policy_arn
}

output "member_role_name" {
  description = "Name of the role the guard may assume in member accounts: pass it to modules/member-account."
  value       = var.member_role_name
}

output "events_queue_url" {
  description = "runaway.toml [events] queue_url; null when events_enabled is false."
  value       = one(aws_sqs_queue.events[*].url)
}

output "events_dead_letter_queue_url" {
  description = "The dead-letter queue of messages the guard could not read; null when events_enabled is false."
  value       = one(aws_sqs_queue.events_dead_letters[*].url)
}

output "event_bus_arn" {
  description = "The guard's central event bus: central_bus_arn of modules/member-account and modules/event-forwarding."
  value       = local.central_bus_arn
}

output "event_forwarder_role_arn" {
  description = "role_arn of modules/event-forwarding for this account's other regions; null when events_enabled is false."
  value       = one(module.event_forwarder_role[*].role_arn)
}

output "runaway_toml" {
  description = "The [guard], [notify] and payer [[accounts]] lines of runaway.toml for this account."
  value       = <<-EOT
    [guard]
    home_region = "${local.region}"
    check_every = "${var.check_every_seconds}s"
    lockout_policy_arn = "${module.policies.lockout_policy_arn}"
    launch_deny_policy_arn = "${module.policies.launch_deny_policy_arn}"
    bedrock_deny_policy_arn = "${module.policies.bedrock_deny_policy_arn}"
    bedrock_principals = ${jsonencode(var.bedrock_principal_arns)}
    allow_session_revocation = ${var.allow_session_revocation}

    [notify]
    sns_topic_arn = "${local.topic_arn}"
    %{if local.journal_dynamodb}
    [journal]
    backend = "dynamodb"
    table = "${var.journal_table_name}"
    region = "${local.region}"
    %{endif}
    %{if var.events_enabled}
    [events]
    queue_url = "${aws_sqs_queue.events[0].url}"
    guard_rules = ["${aws_cloudwatch_event_rule.events[0].name}", "${aws_cloudwatch_event_rule.tamper[0].name}", "${aws_cloudwatch_event_rule.bedrock[0].name}", "${var.name_prefix}-forward", "${var.name_prefix}-forward-tamper", "${var.name_prefix}-forward-bedrock"]
    %{endif}

    [[accounts]]
    id = "${local.account_id}"
    name = "payer"
  EOT
}

output "journal_table_name" {
  description = "runaway.toml [journal] table; null with journal_backend = \"sqlite\"."
  value       = one(aws_dynamodb_table.journal[*].name)
}

output "journal_kms_key_arn" {
  description = "The key the journal table is encrypted with; null with journal_backend = \"sqlite\"."
  value       = local.journal_kms_key_id
}
