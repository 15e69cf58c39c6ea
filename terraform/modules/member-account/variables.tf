variable "guard_role_arn" {
  description = "ARN of the guard's role in the account it runs in (the root module's guard_role_arn output). Only it may assume this role."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.guard_role_arn))
    error_message = "guard_role_arn must be an IAM role ARN, like arn:aws:iam::111111111111:role/runawaytrain-guard."
  }
}

variable "role_name" {
  description = "Name of the role created here; the same as the root module's member_role_name."
  type        = string
  default     = "runawaytrain-member"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.role_name))
    error_message = "role_name must be a valid IAM role name (1 to 64 of letters, digits and +=,.@_-)."
  }
}

variable "external_id" {
  description = "If set, the guard must present this external id (runaway.toml: external_id on the account)."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.external_id == null || can(regex("^[A-Za-z0-9+=,.@:/-]{2,1224}$", var.external_id))
    error_message = "external_id must be 2 to 1224 characters of letters, digits and +=,.@:/-."
  }
}

variable "name_prefix" {
  description = "Prefix of the lockout and launch-deny policy names in this account."
  type        = string
  default     = "runawaytrain"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9+=,.@_-]{0,37}$", var.name_prefix))
    error_message = "name_prefix must start with a letter, contain only letters, digits and +=,.@_-, and be at most 38 characters."
  }
}

variable "central_bus_arn" {
  description = "The guard's central event bus (the root module's event_bus_arn). If set, this account forwards its EC2 launches and GuardDuty findings there from the provider's region, and outputs the role for its other regions. The root module must admit this account (event_source_organization_id or event_source_account_ids)."
  type        = string
  default     = null

  validation {
    condition     = var.central_bus_arn == null || can(regex("^arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/.+$", var.central_bus_arn))
    error_message = "central_bus_arn must be an EventBridge event bus ARN, like arn:aws:events:us-east-1:111111111111:event-bus/default."
  }
}

variable "role_permissions_boundary_arn" {
  description = "Permissions boundary of the member role, if the account requires one."
  type        = string
  default     = null
}

variable "protected_principal_arns" {
  description = "Break-glass users and roles of this account: the guard may never attach, detach or write a policy on them, nor change their keys (denied in the role's policy itself)."
  type        = list(string)
  default     = []
}

variable "allow_session_revocation" {
  description = "Let the guard write inline policies that revoke sessions issued before an incident in this account (revoke_sessions; lockout_launchers on roles). Off (the default), the member policy has no iam:Put*Policy at all. Set it as in the guard's own account."
  type        = bool
  default     = false
}

variable "bedrock_principal_arns" {
  description = "The IAM users and roles expected to call Amazon Bedrock, by exact ARN (runaway.toml's bedrock_principals): the rule leaves their Bedrock calls out (modules/event-pattern). Empty: every Bedrock call is forwarded."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags applied to every resource the module creates."
  type        = map(string)
  default     = {}
}
