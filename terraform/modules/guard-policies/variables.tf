variable "name_prefix" {
  description = "Prefix of the policy names: <prefix>-lockout and <prefix>-launch-deny."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9+=,.@_-]{0,100}$", var.name_prefix))
    error_message = "name_prefix must start with a letter and contain only letters, digits and +=,.@_- (at most 101 characters)."
  }
}

variable "tags" {
  description = "Tags applied to both policies."
  type        = map(string)
  default     = {}
}
