# The guard deployed on two replicas: the root module with the journal on DynamoDB (its table,
# encrypted with the module's key, point-in-time recovery, deletion protection) and
# modules/bot running runaway serve on one Graviton instance in each of two zones. One leads
# (checks, deadlines, the event queue); if it dies the other takes over within the lease's 30 s.
# Both answer Slack in Socket Mode. Before `apply`: upload the aarch64 binary to S3 and write
# the Slack tokens as SecureString parameters (see the README's "Deploy").

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

provider "aws" {
  region = "us-east-1"
}

variable "subnet_ids" {
  description = "Two private subnets with a NAT gateway, in two availability zones."
  type        = list(string)
}

variable "binary_s3_bucket" {
  description = "Where you uploaded the runaway binary."
  type        = string
}

variable "binary_s3_key" {
  description = "Its key."
  type        = string
}

variable "binary_sha256" {
  description = "Its SHA-256 (sha256sum)."
  type        = string
}

variable "ami_id" {
  description = "Default: the latest Amazon Linux 2023 for arm64."
  type        = string
  default     = null
}

module "runawaytrain" {
  source = "../.."

  trust_ec2_instances = true
  journal_backend     = "dynamodb"
  notify_emails       = ["oncall@example.com"]
  check_every_seconds = 300
  tags = {
    owner = "platform"
  }
}

module "bot" {
  source = "../../modules/bot"

  guard_role_name             = module.runawaytrain.guard_role_name
  guard_instance_profile_name = module.runawaytrain.guard_instance_profile_name
  journal_backend             = "dynamodb"
  subnet_ids                  = var.subnet_ids
  ami_id                      = var.ami_id
  binary_s3_bucket            = var.binary_s3_bucket
  binary_s3_key               = var.binary_s3_key
  binary_sha256               = var.binary_sha256
  # The module's runaway.toml (with its [journal] table), the payer's limits and actions, and
  # Slack in Socket Mode.
  config = <<-EOT
    ${module.runawaytrain.runaway_toml}
    max_running_instances = 20
    actions = ["stop_instances"]

    [slack]
    mode = "socket"
    channel = "C0123456789"
    approvers = ["U0123456789"]
  EOT
  tags = {
    owner = "platform"
  }

  # The table exists before a replica starts.
  depends_on = [module.runawaytrain]
}

output "bot_instance_ids" {
  description = "The replicas' instances."
  value       = module.bot.instance_ids
}

output "journal_table_name" {
  description = "The journal's table."
  value       = module.runawaytrain.journal_table_name
}

output "journal_kms_key_arn" {
  description = "The journal table's key."
  value       = module.runawaytrain.journal_kms_key_arn
}
