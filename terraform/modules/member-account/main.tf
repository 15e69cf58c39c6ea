# The role the guard assumes in a member account: trusted by the guard's role only, with the
# same least-privilege permissions as the guard in its own account (modules/account-permissions;
# less reaching other accounts, e-mailing and billing), and this account's own copies of the
# lockout and launch-deny policies.

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id
  role_arn   = "arn:${local.partition}:iam::${local.account_id}:role/${var.role_name}"
}

module "policies" {
  source      = "../guard-policies"
  name_prefix = var.name_prefix
  tags        = var.tags
}

data "aws_iam_policy_document" "trust" {
  statement {
    sid     = "OnlyTheGuard"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = [var.guard_role_arn]
    }
    dynamic "condition" {
      for_each = var.external_id == null ? [] : [var.external_id]
      content {
        test     = "StringEquals"
        variable = "sts:ExternalId"
        values   = [condition.value]
      }
    }
  }
}

resource "aws_iam_role" "member" {
  name                 = var.role_name
  permissions_boundary = var.role_permissions_boundary_arn
  description          = "runawaytrain guard, in this member account"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = 3600
  tags                 = var.tags
}

module "permissions" {
  source                   = "../account-permissions"
  role_arn                 = local.role_arn
  lockout_policy_arn       = module.policies.lockout_policy_arn
  launch_deny_policy_arn   = module.policies.launch_deny_policy_arn
  bedrock_deny_policy_arn  = module.policies.bedrock_deny_policy_arn
  protected_principal_arns = var.protected_principal_arns
  allow_session_revocation = var.allow_session_revocation
}

resource "aws_iam_policy" "member" {
  name        = "${var.name_prefix}-member"
  description = "runawaytrain guard in a member account: exactly the AWS calls it makes"
  policy      = module.permissions.json
  tags        = var.tags
}

resource "aws_iam_role_policy_attachment" "member" {
  role       = aws_iam_role.member.name
  policy_arn = aws_iam_policy.member.arn
}

# ----- the event path: this account's events to the guard's bus -----------------------------

module "event_forwarder_role" {
  count           = var.central_bus_arn == null ? 0 : 1
  source          = "../event-forwarder-role"
  central_bus_arn = var.central_bus_arn
  name_prefix     = var.name_prefix
  tags            = var.tags
}

# The provider's region; every other region of the account is one modules/event-forwarding call
# with this module's event_forwarder_role_arn (see examples/organization).
module "event_forwarding" {
  count           = var.central_bus_arn == null ? 0 : 1
  source          = "../event-forwarding"
  central_bus_arn = var.central_bus_arn
  role_arn        = module.event_forwarder_role[0].role_arn
  name_prefix     = var.name_prefix
  tags            = var.tags

  bedrock_principal_arns = var.bedrock_principal_arns
}
