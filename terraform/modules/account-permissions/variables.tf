variable "role_arn" {
  description = "ARN of the role these permissions are for (the guard's, or the member role): it may never change itself."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.role_arn))
    error_message = "role_arn must be an IAM role ARN, like arn:aws:iam::111111111111:role/runawaytrain-guard."
  }
}

variable "lockout_policy_arn" {
  description = "The deny-all lockout policy of this account (modules/guard-policies): besides the launch-deny and Bedrock deny policies, the only policy the guard may attach, and to users only."
  type        = string
}

variable "launch_deny_policy_arn" {
  description = "The launch-deny policy of this account (modules/guard-policies): with bedrock_deny_policy_arn, the only policies the guard may attach to roles."
  type        = string
}

variable "bedrock_deny_policy_arn" {
  description = "The Bedrock deny policy of this account (modules/guard-policies), attached to users and roles by block_bedrock."
  type        = string
}

variable "protected_principal_arns" {
  description = "Break-glass users and roles of this account: the guard may never attach, detach or write a policy on them, nor change their keys."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.protected_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(user|role)/.+$", arn))])
    error_message = "Each protected_principal_arns entry must be an IAM user or role ARN, like arn:aws:iam::111111111111:role/break-glass."
  }
}

variable "allow_session_revocation" {
  description = "Let the guard write (and remove) inline policies revoking older sessions: revoke_sessions, and lockout_launchers on roles. Off, the policy has no iam:Put*Policy or iam:Delete*Policy at all."
  type        = bool
  default     = false
}
