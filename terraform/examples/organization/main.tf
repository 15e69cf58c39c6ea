# An organisation: the guard runs in the management (payer) account and reaches two member
# accounts through the role modules/member-account creates in each. The break-glass role of
# each account is out of the guard's reach, and a service control policy keeps the exemption
# tag for the platform admins.

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
  alias  = "research"
  region = "us-east-1"
  assume_role {
    role_arn = "arn:aws:iam::222222222222:role/OrganizationAccountAccessRole"
  }
}

provider "aws" {
  alias  = "eu_west_1"
  region = "eu-west-1"
}

provider "aws" {
  alias  = "research_eu_west_1"
  region = "eu-west-1"
  assume_role {
    role_arn = "arn:aws:iam::222222222222:role/OrganizationAccountAccessRole"
  }
}

provider "aws" {
  alias  = "production"
  region = "us-east-1"
  assume_role {
    role_arn = "arn:aws:iam::333333333333:role/OrganizationAccountAccessRole"
  }
}

# The organisation this account manages: its id conditions who may reach what, its root
# receives the tag-protection policy.
data "aws_organizations_organization" "this" {}

locals {
  break_glass = ["arn:aws:iam::${data.aws_organizations_organization.this.master_account_id}:role/break-glass"]
}

module "runawaytrain" {
  source = "../.."

  # The platform's runners may assume the guard's role, from inside the organisation only; the
  # guard may assume member roles only in the organisation's accounts, whose events it admits.
  trusted_principal_arns      = ["arn:aws:iam::${data.aws_organizations_organization.this.master_account_id}:role/platform-runners"]
  organization_id             = data.aws_organizations_organization.this.id
  trust_ec2_instances         = true
  protected_principal_arns    = local.break_glass
  notify_emails               = ["oncall@example.com", "finance@example.com"]
  billing_alarm_threshold_usd = 5000
  tags = {
    owner = "platform"
  }
}

# Only the platform admins may write or remove runaway:exempt anywhere in the organisation, and
# only the guard's roles its runaway:incident and runaway:quarantine tags.
module "tag_protection" {
  source = "../../modules/tag-protection-scp"

  tag_admin_principal_arns = ["arn:aws:iam::*:role/platform-admins"]
  guard_principal_arns = [
    module.runawaytrain.guard_role_arn,
    "arn:aws:iam::*:role/${module.runawaytrain.member_role_name}",
  ]
  target_ids = [data.aws_organizations_organization.this.roots[0].id]

  # Amazon Bedrock for the chatbot's role only, everywhere in the organisation.
  restrict_bedrock       = true
  bedrock_principal_arns = ["arn:aws:iam::*:role/chatbot"]
}

module "research" {
  source    = "../../modules/member-account"
  providers = { aws = aws.research }

  guard_role_arn           = module.runawaytrain.guard_role_arn
  role_name                = module.runawaytrain.member_role_name
  central_bus_arn          = module.runawaytrain.event_bus_arn
  protected_principal_arns = ["arn:aws:iam::222222222222:role/break-glass"]
  tags                     = { owner = "research" }
}

module "production" {
  source    = "../../modules/member-account"
  providers = { aws = aws.production }

  guard_role_arn  = module.runawaytrain.guard_role_arn
  role_name       = module.runawaytrain.member_role_name
  central_bus_arn = module.runawaytrain.event_bus_arn
  tags            = { owner = "platform" }
}

# The event path from a second region: one modules/event-forwarding call per account and
# region, with a provider for that region (hashicorp/aws 5.x has no per-resource region).
module "payer_eu_west_1_events" {
  source    = "../../modules/event-forwarding"
  providers = { aws = aws.eu_west_1 }

  central_bus_arn = module.runawaytrain.event_bus_arn
  role_arn        = module.runawaytrain.event_forwarder_role_arn
}

module "research_eu_west_1_events" {
  source    = "../../modules/event-forwarding"
  providers = { aws = aws.research_eu_west_1 }

  central_bus_arn = module.runawaytrain.event_bus_arn
  role_arn        = module.research.event_forwarder_role_arn
}

output "runaway_toml_accounts" {
  description = "The member accounts' [[accounts]] entries of runaway.toml (add limits and actions)."
  value = join("\n", [for name, m in { research = module.research, production = module.production } : <<-EOT
    [[accounts]]
    id = "${m.account_id}"
    name = "${name}"
    role_arn = "${m.role_arn}"
    lockout_policy_arn = "${m.lockout_policy_arn}"
    launch_deny_policy_arn = "${m.launch_deny_policy_arn}"
    bedrock_deny_policy_arn = "${m.bedrock_deny_policy_arn}"
  EOT
  ])
}

output "runaway_toml_payer" {
  description = "The [guard], [notify] and payer entries of runaway.toml."
  value       = module.runawaytrain.runaway_toml
}
