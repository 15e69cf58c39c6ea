variable "central_bus_arn" {
  description = "ARN of the guard's central event bus (the root module's event_bus_arn output)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/.+$", var.central_bus_arn))
    error_message = "central_bus_arn must be an EventBridge event bus ARN, like arn:aws:events:us-east-1:111111111111:event-bus/default."
  }
}

variable "name_prefix" {
  description = "Prefix of the role's name (<name_prefix>-event-forwarder)."
  type        = string
  default     = "runawaytrain"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9+=,.@_-]{0,37}$", var.name_prefix))
    error_message = "name_prefix must start with a letter, contain only letters, digits and +=,.@_-, and be at most 38 characters."
  }
}

variable "tags" {
  description = "Tags applied to the role."
  type        = map(string)
  default     = {}
}
