variable "name_prefix" {
  description = "Prefix of the names created, and of the SSM parameters the bot reads (/name_prefix/...): the same as the root module's, whose guard policy allows reading only those."
  type        = string
  default     = "runawaytrain"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_-]{0,37}$", var.name_prefix))
    error_message = "name_prefix must start with a letter, contain only letters, digits, - and _, and be at most 38 characters."
  }
}

variable "guard_role_name" {
  description = "The guard's role (the root module's guard_role_name): the instance runs as it, and it may fetch the binary."
  type        = string
}

variable "guard_instance_profile_name" {
  description = "The guard's instance profile (the root module's guard_instance_profile_name, with trust_ec2_instances = true)."
  type        = string

  validation {
    condition     = var.guard_instance_profile_name != null && var.guard_instance_profile_name != ""
    error_message = "guard_instance_profile_name is required: set trust_ec2_instances = true on the root module and pass its guard_instance_profile_name."
  }
}

variable "subnet_id" {
  description = "Subnet of the instance (one replica). It needs a way out to HTTPS (a NAT gateway, or a public subnet with associate_public_ip_address). Give subnet_ids instead for replicas."
  type        = string
  default     = null
}

variable "subnet_ids" {
  description = "Subnets of the replicas, each in its own availability zone: replica n runs in the n-th. Each needs a way out to HTTPS."
  type        = list(string)
  default     = []
}

variable "journal_backend" {
  description = "The journal of config: \"sqlite\" (default; a file on an encrypted volume of its own, one replica) or \"dynamodb\" (the root module's table, journal_backend = \"dynamodb\"; replicas share it and no volume is made)."
  type        = string
  default     = "sqlite"

  validation {
    condition     = contains(["sqlite", "dynamodb"], var.journal_backend)
    error_message = "journal_backend must be \"sqlite\" or \"dynamodb\"."
  }
}

variable "replicas" {
  description = "How many instances run runaway serve: default 2 with a DynamoDB journal (one leads, the other takes over within 30 s if it dies), 1 with SQLite (the only choice: a file has one writer)."
  type        = number
  default     = null

  validation {
    condition     = var.replicas == null || try(var.replicas >= 1 && var.replicas <= 9 && floor(var.replicas) == var.replicas, false)
    error_message = "replicas must be a whole number from 1 to 9, or null for the default."
  }
}

variable "associate_public_ip_address" {
  description = "Give the instance a public address (a public subnet without NAT). Nothing can come in through it in Socket Mode."
  type        = bool
  default     = false
}

variable "instance_type" {
  description = "Instance type; Graviton (arm64) by default, so the binary must be built for aarch64-unknown-linux-gnu."
  type        = string
  default     = "t4g.small"
}

variable "ami_id" {
  description = "AMI of the instance; default the latest Amazon Linux 2023 for arm64 (it has the AWS CLI and systemd)."
  type        = string
  default     = null
}

variable "root_volume_size_gb" {
  description = "Size of the encrypted root volume."
  type        = number
  default     = 16

  validation {
    condition     = var.root_volume_size_gb >= 8 && var.root_volume_size_gb <= 1024
    error_message = "root_volume_size_gb must be from 8 to 1024."
  }
}

variable "journal_volume_size_gb" {
  description = "Size of the encrypted volume that holds the journal, kept when the instance is replaced."
  type        = number
  default     = 4

  validation {
    condition     = var.journal_volume_size_gb >= 1 && var.journal_volume_size_gb <= 1024
    error_message = "journal_volume_size_gb must be from 1 to 1024."
  }
}

variable "ebs_kms_key_arn" {
  description = "KMS key of the root and journal volumes; default the account's EBS key."
  type        = string
  default     = null
}

variable "binary_s3_bucket" {
  description = "Bucket of the runaway binary you uploaded."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.binary_s3_bucket))
    error_message = "binary_s3_bucket must be an S3 bucket name."
  }
}

variable "binary_s3_key" {
  description = "Key of the runaway binary, e.g. runawaytrain/runaway-0.1.0-aarch64."
  type        = string

  validation {
    # The key is written into the first-boot script, run as root: S3's safe characters only,
    # none that a shell reads inside double quotes ($, `, ", \).
    condition     = can(regex("^[A-Za-z0-9!_.*'()-][A-Za-z0-9!_.*'()/-]*$", var.binary_s3_key))
    error_message = "binary_s3_key must be an object key of S3's safe characters (letters, digits, ! - _ . * ' ( ) and /, no leading /)."
  }
}

variable "binary_sha256" {
  description = "SHA-256 of the binary (sha256sum): the instance refuses to install anything else."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-fA-F]{64}$", var.binary_sha256))
    error_message = "binary_sha256 must be 64 hexadecimal digits (the output of sha256sum)."
  }
}

variable "config" {
  description = "runaway.toml of the bot (no secret goes in it), stored as the SSM parameter /name_prefix/config. Keep state_path relative: it is then under the unit's state directory."
  type        = string

  validation {
    condition     = length(trimspace(var.config)) > 0 && !can(regex("xox[bp]-|xapp-", var.config))
    error_message = "config must be the runaway.toml text, and hold no Slack token (the tokens are parameters of their own)."
  }
}

variable "config_kms_key_id" {
  description = "KMS key of the configuration parameter; default the AWS-managed aws/ssm key. A customer-managed key must let the guard's role decrypt through SSM."
  type        = string
  default     = null
}

variable "slack_mode" {
  description = "\"socket\" (default): Socket Mode, no inbound rule at all. \"http\": Slack posts to the instance, from http_ingress_cidrs."
  type        = string
  default     = "socket"

  validation {
    condition     = contains(["socket", "http"], var.slack_mode)
    error_message = "slack_mode must be \"socket\" or \"http\"."
  }
}

variable "slack_bot_token_parameter" {
  description = "SecureString parameter holding the bot token (xoxb-...); you write it (aws ssm put-parameter), Terraform never sees it."
  type        = string
  default     = "/runawaytrain/slack-bot-token"
}

variable "slack_app_token_parameter" {
  description = "SecureString parameter holding the app-level token (xapp-...), in Socket Mode."
  type        = string
  default     = "/runawaytrain/slack-app-token"
}

variable "slack_signing_secret_parameter" {
  description = "SecureString parameter holding the signing secret, in HTTP mode."
  type        = string
  default     = "/runawaytrain/slack-signing-secret"
}

variable "http_port" {
  description = "HTTP mode: the port runaway serve listens on (behind your TLS-terminating load balancer)."
  type        = number
  default     = 3000
}

variable "http_ingress_cidrs" {
  description = "HTTP mode: the addresses allowed in on http_port (your load balancer's subnets)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags applied to every resource the module creates (the instance also gets runaway:exempt = true)."
  type        = map(string)
  default     = {}
}
