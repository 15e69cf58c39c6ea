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

provider "aws" {
  alias  = "eu_west_1"
  region = "eu-west-1"
}

data "aws_caller_identity" "current" {}

locals {
  # The account's chatbot calls Amazon Bedrock: its calls stay at the event rules, and
  # runaway_toml lists it in bedrock_principals. Exact ARNs (EventBridge's anything-but).
  bedrock_principal_arns = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:role/chatbot"]
}

variable "allow_session_revocation" {
  description = "Let the guard revoke sessions with inline policies (read \"Session revocation\" in the module's README first)."
  type        = bool
  default     = false
}

module "runawaytrain" {
  source = "../.."

  trust_ecs_tasks          = true
  allow_session_revocation = var.allow_session_revocation
  # The account's break-glass user: out of the guard's reach, whatever runaway.toml says.
  protected_principal_arns    = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:user/break-glass"]
  notify_emails               = ["oncall@example.com"]
  billing_alarm_threshold_usd = 500
  bedrock_principal_arns      = local.bedrock_principal_arns
  tags = {
    owner = "platform"
  }
}

# The account also runs instances in eu-west-1: its events there reach the guard's queue in
# us-east-1 through a forwarding rule (one call per further region).
module "eu_west_1_events" {
  source    = "../../modules/event-forwarding"
  providers = { aws = aws.eu_west_1 }

  central_bus_arn        = module.runawaytrain.event_bus_arn
  role_arn               = module.runawaytrain.event_forwarder_role_arn
  bedrock_principal_arns = local.bedrock_principal_arns
}

output "runaway_toml" {
  description = "Paste into runaway.toml, then add limits and actions to the [[accounts]] entry."
  value       = module.runawaytrain.runaway_toml
}

output "guard_role_arn" {
  description = "The ECS task role of runaway serve."
  value       = module.runawaytrain.guard_role_arn
}
