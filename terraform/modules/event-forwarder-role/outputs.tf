output "role_arn" {
  description = "The role's ARN: role_arn of every modules/event-forwarding call of this account."
  value       = aws_iam_role.forwarder.arn
}
