output "lockout_policy_arn" {
  description = "ARN of the deny-all lockout policy (runaway.toml: lockout_policy_arn)."
  value       = aws_iam_policy.lockout.arn
}

output "launch_deny_policy_arn" {
  description = "ARN of the launch-deny policy (runaway.toml: launch_deny_policy_arn)."
  value       = aws_iam_policy.launch_deny.arn
}

output "bedrock_deny_policy_arn" {
  description = "ARN of the Bedrock deny policy (runaway.toml: bedrock_deny_policy_arn)."
  value       = aws_iam_policy.bedrock_deny.arn
}
