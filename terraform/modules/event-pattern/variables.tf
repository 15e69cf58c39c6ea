variable "bedrock_principal_arns" {
  description = "The IAM users and roles expected to call Amazon Bedrock, by exact ARN (runaway.toml's bedrock_principals): their Bedrock calls are filtered out at the rule with anything-but. Empty: every Bedrock call is forwarded and the guard judges it."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.bedrock_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(user|role)/[^*?]+$", arn))])
    error_message = "Each bedrock_principal_arns entry must be an IAM user or role ARN with its account id and no wildcard (EventBridge's anything-but matches exactly)."
  }
}

variable "tags" {
  description = "Unused: this module creates nothing. Present so that every module takes the same tags input."
  type        = map(string)
  default     = {}
}
