output "role_arn" {
  description = "runaway.toml: role_arn of this account's [[accounts]] entry."
  value       = aws_iam_role.member.arn
}

output "account_id" {
  description = "runaway.toml: id of this account's [[accounts]] entry."
  value       = local.account_id
}

output "lockout_policy_arn" {
  description = "runaway.toml: lockout_policy_arn on this account's [[accounts]] entry."
  value       = module.policies.lockout_policy_arn
}

output "bedrock_deny_policy_arn" {
  description = "runaway.toml: bedrock_deny_policy_arn on this account's [[accounts]] entry."
  value       = module.policies.bedrock_deny_policy_arn
}

output "launch_deny_policy_arn" {
  description = "runaway.toml: launch_deny_policy_arn on this account's [[accounts]] entry."
  value       = module.policies.launch_deny_policy_arn
}

output "event_forwarder_role_arn" {
  description = "role_arn of modules/event-forwarding for this account's other regions; null without central_bus_arn."
  value       = one(module.event_forwarder_role[*].role_arn)
}
