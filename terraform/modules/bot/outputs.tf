output "instance_id" {
  description = "The bot's (first) instance (exempt from halts; RUNAWAY_SELF_INSTANCE_ID is found from its metadata)."
  value       = aws_instance.bot[0].id
}

output "instance_ids" {
  description = "Every replica's instance, in the order of subnet_ids."
  value       = aws_instance.bot[*].id
}

output "security_group_id" {
  description = "The bot's security group: no inbound rule in Socket Mode."
  value       = aws_security_group.bot.id
}

output "config_parameter_name" {
  description = "The SSM parameter holding runaway.toml (RUNAWAY_CONFIG_SSM)."
  value       = aws_ssm_parameter.config.name
}

output "journal_volume_id" {
  description = "The encrypted volume holding the SQLite journal (kept when the instance is replaced); null with the DynamoDB journal."
  value       = one(aws_ebs_volume.journal[*].id)
}
