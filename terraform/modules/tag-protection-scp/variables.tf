variable "name_prefix" {
  description = "Prefix of the policy's name: <prefix>-tag-protection."
  type        = string
  default     = "runawaytrain"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_-]{0,100}$", var.name_prefix))
    error_message = "name_prefix must start with a letter and contain only letters, digits, - and _."
  }
}

variable "tag_admin_principal_arns" {
  description = "Who may write and remove runaway:exempt (and any runaway:* tag): ARNs or ARN patterns of roles and users, like arn:aws:iam::*:role/platform-admins."
  type        = list(string)

  validation {
    condition     = length(var.tag_admin_principal_arns) > 0 && alltrue([for arn in var.tag_admin_principal_arns : can(regex("^arn:aws[a-z-]*:iam::([0-9]{12}|\\*):(role|user)/.+$", arn))])
    error_message = "tag_admin_principal_arns needs at least one IAM role or user ARN (the account may be *)."
  }
}

variable "guard_principal_arns" {
  description = "The guard's roles, which write runaway:incident and runaway:quarantine: the root module's guard_role_arn and the member role in every account (arn:aws:iam::*:role/<member_role_name>)."
  type        = list(string)

  validation {
    condition     = length(var.guard_principal_arns) > 0 && alltrue([for arn in var.guard_principal_arns : can(regex("^arn:aws[a-z-]*:iam::([0-9]{12}|\\*):role/.+$", arn))])
    error_message = "guard_principal_arns needs at least one IAM role ARN (the account may be *)."
  }
}

variable "restrict_bedrock" {
  description = "Deny Amazon Bedrock (bedrock:*) to every principal but bedrock_principal_arns, in every account the policy is attached to: the door shut before leaked keys are used for model invocations."
  type        = bool
  default     = false
}

variable "bedrock_principal_arns" {
  description = "With restrict_bedrock: the roles and users that may call Amazon Bedrock (ARNs or patterns, like arn:aws:iam::*:role/chatbot); runaway.toml's bedrock_principals. Empty: nobody."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.bedrock_principal_arns : can(regex("^arn:aws[a-z-]*:iam::([0-9]{12}|\\*):(role|user)/.+$", arn))])
    error_message = "Each bedrock_principal_arns entry must be an IAM role or user ARN (the account may be *)."
  }
}

variable "target_ids" {
  description = "Where the policy is attached: the organisation's root (r-...), organisational units (ou-...) or accounts."
  type        = list(string)

  validation {
    condition     = alltrue([for id in var.target_ids : can(regex("^(r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|[0-9]{12})$", id))])
    error_message = "Each target_ids entry must be a root (r-...), an organisational unit (ou-...-...) or an account id."
  }
}

variable "tags" {
  description = "Tags applied to the policy."
  type        = map(string)
  default     = {}
}
