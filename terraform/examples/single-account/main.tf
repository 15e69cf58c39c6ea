# One account: the guard runs as an ECS task in the account it watches.

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

module "runawaytrain" {
  source = "../.."

  trust_ecs_tasks             = true
  notify_emails               = ["oncall@example.com"]
  billing_alarm_threshold_usd = 500
  tags = {
    owner = "platform"
  }
}

output "runaway_toml" {
  description = "Paste into runaway.toml, then add limits and actions to the [[accounts]] entry."
  value       = module.runawaytrain.runaway_toml
}

output "guard_role_arn" {
  description = "The ECS task role of runaway serve."
  value       = module.runawaytrain.guard_role_arn
}
