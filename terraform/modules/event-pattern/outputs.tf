output "json" {
  description = "The EventBridge event pattern, as JSON (event_pattern of a rule)."
  value       = jsonencode(local.pattern)
}
