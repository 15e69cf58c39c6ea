variable "name_prefix" {
  description = "Prefix of every name the module creates: the guard's role, its policy, the lockout and launch-deny policies, the SNS topic."
  type        = string
  default     = "runawaytrain"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_-]{0,37}$", var.name_prefix))
    error_message = "name_prefix must start with a letter, contain only letters, digits, - and _ (what SNS topic names and KMS aliases accept), and be at most 38 characters."
  }
}

variable "create_role" {
  description = "Create the guard's role. If false, the guard's policy is attached to the existing role named role_name (at role_path)."
  type        = bool
  default     = true
}

variable "role_name" {
  description = "Name of the guard's role, and of its policy. Defaults to name_prefix followed by -guard."
  type        = string
  default     = null

  validation {
    condition     = var.role_name == null || can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.role_name))
    error_message = "role_name must be a valid IAM role name (1 to 64 of letters, digits and +=,.@_-)."
  }
}

variable "role_path" {
  description = "Path of the guard's role and instance profile."
  type        = string
  default     = "/"

  validation {
    condition     = can(regex("^/([A-Za-z0-9+=,.@_-]+/)*$", var.role_path))
    error_message = "role_path must start and end with / (like /security/), with letters, digits and +=,.@_- between."
  }
}

variable "role_permissions_boundary_arn" {
  description = "Permissions boundary of the guard's role, if the account requires one."
  type        = string
  default     = null

  validation {
    condition     = var.role_permissions_boundary_arn == null || can(regex("^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/.+$", var.role_permissions_boundary_arn))
    error_message = "role_permissions_boundary_arn must be an IAM policy ARN."
  }
}

variable "create_sns_topic" {
  description = "Create the notify topic. If false, the guard publishes to sns_topic_arn."
  type        = bool
  default     = true
}

variable "sns_topic_arn" {
  description = "With create_sns_topic = false: the existing notify topic."
  type        = string
  default     = null

  validation {
    condition     = var.sns_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", var.sns_topic_arn))
    error_message = "sns_topic_arn must be an SNS topic ARN."
  }
}

variable "create_kms_key" {
  description = "Create the customer-managed key of the notify topic, whose policy admits CloudWatch alarms and the guard. If false, sns_kms_key_id names the key."
  type        = bool
  default     = true
}

variable "trust_ecs_tasks" {
  description = "Let ECS tasks assume the guard's role (run it as an ECS/Fargate task role)."
  type        = bool
  default     = false
}

variable "trust_ec2_instances" {
  description = "Let EC2 instances assume the guard's role (run it on an instance); also creates an instance profile."
  type        = bool
  default     = false
}

variable "trusted_principal_arns" {
  description = "IAM principals (roles or users) allowed to assume the guard's role, e.g. the role of a CI runner or an SSO permission set."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.trusted_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user|root)", arn))])
    error_message = "Each trusted_principal_arns entry must be an IAM role, user or account root ARN, like arn:aws:iam::111111111111:role/NAME."
  }
}

variable "trusted_principals_external_id" {
  description = "If set, trusted_principal_arns must present this external id to assume the guard's role."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.trusted_principals_external_id == null || can(regex("^[A-Za-z0-9+=,.@:/-]{2,1224}$", var.trusted_principals_external_id))
    error_message = "trusted_principals_external_id must be 2 to 1224 characters of letters, digits and +=,.@:/-."
  }
}

variable "trusted_principals_require_mfa" {
  description = "trusted_principal_arns (people) must have signed in with MFA to assume the guard's role."
  type        = bool
  default     = false
}

variable "organization_id" {
  description = "The AWS Organization (o-...) of the member accounts. The guard may then assume member roles only in its accounts (aws:ResourceOrgID), and trusted_principal_arns must belong to it (aws:PrincipalOrgID)."
  type        = string
  default     = null

  validation {
    condition     = var.organization_id == null || can(regex("^o-[a-z0-9]{10,32}$", var.organization_id))
    error_message = "organization_id must be an organization id like o-a1b2c3d4e5."
  }
}

variable "member_account_ids" {
  description = "Without organization_id: the member accounts whose member role the guard may assume. With neither, it reaches no other account."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.member_account_ids : can(regex("^[0-9]{12}$", id))])
    error_message = "Each member_account_ids entry must be a 12-digit account id."
  }
}

variable "protected_principal_arns" {
  description = "Break-glass users and roles of this account: the guard's policy denies attaching, detaching or writing any policy on them and changing their keys. List them in exempt_principals of runaway.toml too."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.protected_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(user|role)/.+$", arn))])
    error_message = "Each protected_principal_arns entry must be an IAM user or role ARN, like arn:aws:iam::111111111111:role/break-glass."
  }
}

variable "allow_session_revocation" {
  description = "Let the guard write inline policies that revoke sessions issued before an incident (revoke_sessions; lockout_launchers on roles). Off (the default), its policy has no iam:Put*Policy at all and a launcher role gets the launch-deny policy instead. Whoever holds the guard's credentials could write any inline policy with it: read \"Session revocation\" in README.md first. Set allow_session_revocation = true in runaway.toml too (runaway_toml says it)."
  type        = bool
  default     = false
}

variable "member_role_name" {
  description = "Name of the role the guard assumes in member accounts (modules/member-account creates it). The guard may assume only roles of this name."
  type        = string
  default     = "runawaytrain-member"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.member_role_name))
    error_message = "member_role_name must be a valid IAM role name (1 to 64 of letters, digits and +=,.@_-)."
  }
}

variable "notify_emails" {
  description = "E-mail addresses subscribed to the notify topic (each must confirm the subscription)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.notify_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "Each notify_emails entry must be an e-mail address."
  }
}

variable "extra_notify_topic_arns" {
  description = "Other SNS topics the guard may publish to (per-account sns_topic_arn in runaway.toml)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.extra_notify_topic_arns : can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$", arn))])
    error_message = "Each extra_notify_topic_arns entry must be an SNS topic ARN."
  }
}

variable "sns_kms_key_id" {
  description = "With create_kms_key = false: the key encrypting the notify topic. It must let the guard's role and, for the billing alarm, cloudwatch.amazonaws.com use it (alias/aws/sns cannot)."
  type        = string
  default     = null
}

variable "billing_alarm_threshold_usd" {
  description = "If set, a CloudWatch alarm on AWS/Billing EstimatedCharges (USD) above this amount notifies the topic. Billing metrics exist only in us-east-1: the module's provider must then be in us-east-1."
  type        = number
  default     = null

  validation {
    condition     = var.billing_alarm_threshold_usd == null || try(var.billing_alarm_threshold_usd > 0, false)
    error_message = "billing_alarm_threshold_usd must be a positive amount, or null for no alarm."
  }
}

variable "heartbeat_alarm_enabled" {
  description = "Create the dead-man's switch: an alarm notifying the topic when the guard's Heartbeat metric (put after every completed check) is missing for two check periods."
  type        = bool
  default     = true
}

variable "check_every_seconds" {
  description = "The guard's check_every in seconds: the heartbeat alarm's period (CloudWatch accepts 10, 30, or a multiple of 60)."
  type        = number
  default     = 300

  validation {
    condition     = contains([10, 30], var.check_every_seconds) || (var.check_every_seconds >= 60 && var.check_every_seconds % 60 == 0 && var.check_every_seconds <= 86400)
    error_message = "check_every_seconds must be 10, 30, or a multiple of 60 up to 86400 (CloudWatch alarm periods)."
  }
}

variable "events_enabled" {
  description = "Create the event path: the central EventBridge rule, the SQS queue runaway serve long-polls ([events] queue_url), its dead-letter queue, and the role this account's other regions forward with."
  type        = bool
  default     = true
}

variable "event_source_organization_id" {
  description = "If set (o-...), every account of this AWS Organization may put events on the guard's bus; defaults to organization_id. Takes precedence over event_source_account_ids."
  type        = string
  default     = null

  validation {
    condition     = var.event_source_organization_id == null || can(regex("^o-[a-z0-9]{10,32}$", var.event_source_organization_id))
    error_message = "event_source_organization_id must be an organization id like o-a1b2c3d4e5."
  }
}

variable "event_source_account_ids" {
  description = "Member accounts that may put events on the guard's bus (when event_source_organization_id is not set)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.event_source_account_ids : can(regex("^[0-9]{12}$", id))])
    error_message = "Each event_source_account_ids entry must be a 12-digit account id."
  }
}

variable "events_max_receive_count" {
  description = "Receives after which a message the guard cannot read moves to the dead-letter queue."
  type        = number
  default     = 5

  validation {
    condition     = var.events_max_receive_count >= 1 && var.events_max_receive_count <= 1000 && floor(var.events_max_receive_count) == var.events_max_receive_count
    error_message = "events_max_receive_count must be a whole number from 1 to 1000."
  }
}

variable "bedrock_principal_arns" {
  description = "The IAM users and roles expected to call Amazon Bedrock, by exact ARN (runaway.toml's bedrock_principals): the event rule leaves their Bedrock calls out, so that a busy chatbot does not fill the guard's queue. Empty: every Bedrock call is forwarded and the guard judges it."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags applied to every resource the module creates."
  type        = map(string)
  default     = {}
}

variable "journal_backend" {
  description = "Where runaway keeps its journal: \"sqlite\" (default; a file on the bot's volume) or \"dynamodb\" (a table this module creates, which several replicas of runaway serve share; runaway.toml [journal] backend)."
  type        = string
  default     = "sqlite"

  validation {
    condition     = contains(["sqlite", "dynamodb"], var.journal_backend)
    error_message = "journal_backend must be \"sqlite\" or \"dynamodb\"."
  }
}

variable "journal_table_name" {
  description = "The journal's DynamoDB table, with journal_backend = \"dynamodb\" (runaway.toml [journal] table)."
  type        = string
  default     = "runawaytrain-journal"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{3,255}$", var.journal_table_name))
    error_message = "journal_table_name must be a DynamoDB table name: 3 to 255 of letters, digits, '_', '-', '.'."
  }
}

variable "journal_kms_key_arn" {
  description = "A customer-managed key for the journal table; default a key the module creates. It must let the guard's role use it through DynamoDB."
  type        = string
  default     = null
}
