output "json" {
  description = "The policy document (JSON) of the guard's permissions in this account."
  value       = data.aws_iam_policy_document.account_permissions.json
}
