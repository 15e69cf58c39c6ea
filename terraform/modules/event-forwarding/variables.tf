variable "central_bus_arn" {
  description = "ARN of the guard's central event bus (the root module's event_bus_arn output)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/.+$", var.central_bus_arn))
    error_message = "central_bus_arn must be an EventBridge event bus ARN, like arn:aws:events:us-east-1:111111111111:event-bus/default."
  }
}

variable "role_arn" {
  description = "The role EventBridge uses to put events on the central bus (modules/event-forwarder-role, or the event_forwarder_role_arn output of the root or member-account module)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.role_arn))
    error_message = "role_arn must be an IAM role ARN."
  }
}

variable "name_prefix" {
  description = "Prefix of the rule's name (<name_prefix>-forward)."
  type        = string
  default     = "runawaytrain"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9+=,.@_-]{0,37}$", var.name_prefix))
    error_message = "name_prefix must start with a letter, contain only letters, digits and +=,.@_-, and be at most 38 characters."
  }
}

variable "bedrock_principal_arns" {
  description = "The IAM users and roles expected to call Amazon Bedrock, by exact ARN (runaway.toml's bedrock_principals): the rule leaves their Bedrock calls out (modules/event-pattern). Empty: every Bedrock call is forwarded."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags applied to the rule."
  type        = map(string)
  default     = {}
}
