# The guard deployed: the root module (with an instance profile for its role) and
# modules/bot running runaway serve in Socket Mode on one Graviton instance. Before `apply`:
# upload the aarch64 binary to S3 and write the Slack tokens as SecureString parameters (see
# the README's "Deploy").

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

variable "subnet_id" {
  description = "A private subnet with a NAT gateway (or a public one: set associate_public_ip_address)."
  type        = string
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
  subnet_id                   = var.subnet_id
  ami_id                      = var.ami_id
  binary_s3_bucket            = var.binary_s3_bucket
  binary_s3_key               = var.binary_s3_key
  binary_sha256               = var.binary_sha256
  # The module's runaway.toml, the payer's limits and actions, and Slack in Socket Mode.
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
}

output "bot_instance_id" {
  description = "The bot's instance."
  value       = module.bot.instance_id
}
