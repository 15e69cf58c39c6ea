output "rule_arn" {
  description = "ARN of the forwarding rule in this region."
  value       = aws_cloudwatch_event_rule.forward.arn
}
