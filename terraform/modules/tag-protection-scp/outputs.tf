output "policy_id" {
  description = "Id (p-...) of the service control policy."
  value       = aws_organizations_policy.tag_protection.id
}

output "policy_json" {
  description = "The policy as rendered."
  value       = data.aws_iam_policy_document.tag_protection.json
}
