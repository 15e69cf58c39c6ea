output "json" {
  description = "The EventBridge event pattern, as JSON (event_pattern of a rule)."
  value       = jsonencode(local.pattern)
}

output "tamper_json" {
  description = "The EventBridge event pattern of the calls that may be tampering with the guard, as JSON (event_pattern of a second rule)."
  value       = jsonencode(local.tamper)
}

output "bedrock_json" {
  description = "The EventBridge event pattern of Amazon Bedrock's calls by principals not in bedrock_principal_arns, as JSON (event_pattern of a third rule)."
  value       = jsonencode(local.bedrock)
}
