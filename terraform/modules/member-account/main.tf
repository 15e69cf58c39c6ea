# The role the guard assumes in a member account: trusted by the guard's role only, with the
# same least-privilege permissions as the guard (less reaching other accounts and e-mailing),
# and this account's own copies of the lockout and launch-deny policies.

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
  description          = "runawaytrain guard, in this member account"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "member_permissions" {
  statement {
    sid = "Observe"
    # These reads have no resource-level permissions: "*" is the only resource they accept.
    actions = [
      "sts:GetCallerIdentity",
      "ec2:DescribeRegions",
      "ec2:DescribeInstanceStatus",
      "ec2:DescribeTags",
      "ec2:DescribeSpotInstanceRequests",
      "ec2:DescribeInstances",
      "autoscaling:DescribeAutoScalingGroups",
      "iam:ListUsers",
      "iam:ListRoles",
    ]
    resources = ["*"]
  }

  statement {
    sid = "ReadPrincipals"
    actions = [
      "iam:ListAttachedUserPolicies",
      "iam:ListAttachedRolePolicies",
      "iam:ListAccessKeys",
    ]
    resources = [
      "arn:${local.partition}:iam::${local.account_id}:user/*",
      "arn:${local.partition}:iam::${local.account_id}:role/*",
    ]
  }

  statement {
    sid       = "ReadCloudTrailRecords"
    actions   = ["logs:FilterLogEvents"]
    resources = ["arn:${local.partition}:logs:*:${local.account_id}:log-group:*"]
  }

  statement {
    sid       = "StopAndStartInstances"
    actions   = ["ec2:StopInstances", "ec2:StartInstances"]
    resources = ["arn:${local.partition}:ec2:*:${local.account_id}:instance/*"]
  }

  statement {
    sid = "TagInstancesWithTheGuardsKeysOnly"
    # Only the keys runaway:incident (stopped), runaway:quarantine and runaway:ticket
    # (isolated), and a key must be named: DeleteTags without one would remove every tag.
    actions   = ["ec2:CreateTags", "ec2:DeleteTags"]
    resources = ["arn:${local.partition}:ec2:*:${local.account_id}:instance/*"]
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "aws:TagKeys"
      values   = ["runaway:incident", "runaway:quarantine", "runaway:ticket"]
    }
    condition {
      test     = "Null"
      variable = "aws:TagKeys"
      values   = ["false"]
    }
  }

  statement {
    sid       = "HoldAutoScalingGroups"
    actions   = ["autoscaling:SuspendProcesses", "autoscaling:ResumeProcesses"]
    resources = ["arn:${local.partition}:autoscaling:*:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/*"]
  }

  statement {
    sid = "ReadWhatIsolationChanges"
    # isolate: reads without resource-level permissions.
    actions = [
      "ec2:DescribeIamInstanceProfileAssociations",
      "ec2:DescribeSecurityGroups",
      "autoscaling:DescribeAutoScalingInstances",
    ]
    resources = ["*"]
  }

  statement {
    sid = "IsolateInstances"
    # Termination protection, shutdown behaviour, the instance profile, the interfaces' groups.
    # Re-associating a profile (restore) also needs iam:PassRole, never granted here.
    actions = [
      "ec2:DescribeInstanceAttribute",
      "ec2:ModifyInstanceAttribute",
      "ec2:DisassociateIamInstanceProfile",
      "ec2:AssociateIamInstanceProfile",
      "ec2:ModifyNetworkInterfaceAttribute",
    ]
    resources = [
      "arn:${local.partition}:ec2:*:${local.account_id}:instance/*",
      "arn:${local.partition}:ec2:*:${local.account_id}:network-interface/*",
      "arn:${local.partition}:ec2:*:${local.account_id}:security-group/*",
    ]
  }

  statement {
    sid       = "CreateIsolationGroups"
    actions   = ["ec2:CreateSecurityGroup"]
    resources = ["arn:${local.partition}:ec2:*:${local.account_id}:security-group/*", "arn:${local.partition}:ec2:*:${local.account_id}:vpc/*"]
  }

  statement {
    sid = "RulesOnlyOfTheGuardsOwnGroups"
    # The isolation groups are created tagged with their incident: no other group's rules can
    # be opened.
    actions   = ["ec2:RevokeSecurityGroupEgress", "ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress"]
    resources = ["arn:${local.partition}:ec2:*:${local.account_id}:security-group/*"]
    condition {
      test     = "StringLike"
      variable = "aws:ResourceTag/runaway:incident"
      values   = ["inc-*"]
    }
  }

  statement {
    sid       = "SnapshotIsolatedVolumes"
    actions   = ["ec2:CreateSnapshot"]
    resources = ["arn:${local.partition}:ec2:*:${local.account_id}:volume/*", "arn:${local.partition}:ec2:*::snapshot/*"]
  }

  statement {
    sid     = "TagWhatIsolationCreates"
    actions = ["ec2:CreateTags"]
    resources = [
      "arn:${local.partition}:ec2:*:${local.account_id}:security-group/*",
      "arn:${local.partition}:ec2:*::snapshot/*",
      "arn:${local.partition}:ec2:*:${local.account_id}:instance/*",
      "arn:${local.partition}:ec2:*:${local.account_id}:volume/*",
    ]
    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values   = ["CreateSecurityGroup", "CreateSnapshot", "RunInstances", "CreateVolume"]
    }
  }

  statement {
    sid = "ReadWhatForensicsNeeds"
    # isolate --forensics: reads without resource-level permissions.
    actions   = ["ec2:DescribeSubnets", "ec2:DescribeSnapshots", "ec2:DescribeVolumes"]
    resources = ["*"]
  }

  statement {
    sid = "LaunchOnlyForensicInstancesTaggedWithTheirIncident"
    # The instance and its volumes must be created tagged runaway:incident=inc-...: the guard
    # cannot launch anything else.
    actions   = ["ec2:RunInstances", "ec2:CreateVolume"]
    resources = ["arn:${local.partition}:ec2:*:${local.account_id}:instance/*", "arn:${local.partition}:ec2:*:${local.account_id}:volume/*"]
    condition {
      test     = "StringLike"
      variable = "aws:RequestTag/runaway:incident"
      values   = ["inc-*"]
    }
  }

  statement {
    sid     = "LaunchForensicInstancesFrom"
    actions = ["ec2:RunInstances", "ec2:CreateVolume"]
    resources = [
      "arn:${local.partition}:ec2:*::image/*",
      "arn:${local.partition}:ec2:*::snapshot/*",
      "arn:${local.partition}:ec2:*:${local.account_id}:subnet/*",
      "arn:${local.partition}:ec2:*:${local.account_id}:network-interface/*",
      "arn:${local.partition}:ec2:*:${local.account_id}:security-group/*",
    ]
  }

  statement {
    sid       = "AttachOnlyToTheGuardsForensicInstances"
    actions   = ["ec2:AttachVolume"]
    resources = ["arn:${local.partition}:ec2:*:${local.account_id}:instance/*", "arn:${local.partition}:ec2:*:${local.account_id}:volume/*"]
    condition {
      test     = "StringLike"
      variable = "aws:ResourceTag/runaway:incident"
      values   = ["inc-*"]
    }
  }

  statement {
    sid       = "DetachFromAndAttachToAutoScalingGroups"
    actions   = ["autoscaling:DetachInstances", "autoscaling:AttachInstances"]
    resources = ["arn:${local.partition}:autoscaling:*:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/*"]
  }

  statement {
    sid       = "AttachOnlyTheLockoutPolicies"
    actions   = ["iam:AttachUserPolicy", "iam:DetachUserPolicy", "iam:AttachRolePolicy", "iam:DetachRolePolicy"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:user/*", "arn:${local.partition}:iam::${local.account_id}:role/*"]
    condition {
      test     = "ArnEquals"
      variable = "iam:PolicyARN"
      values   = [module.policies.lockout_policy_arn, module.policies.launch_deny_policy_arn]
    }
  }

  statement {
    sid = "RevokeOlderRoleSessions"
    # lockout_launchers: an inline policy denying sessions issued before the incident; the
    # Deny below keeps the guard's own role out of reach.
    actions   = ["iam:PutRolePolicy", "iam:DeleteRolePolicy"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/*"]
  }

  statement {
    sid       = "RevokeOlderUserSessions"
    actions   = ["iam:PutUserPolicy", "iam:DeleteUserPolicy"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:user/*"]
  }

  statement {
    sid       = "DeactivateAndReactivateKeys"
    actions   = ["iam:UpdateAccessKey"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:user/*"]
  }

  statement {
    sid    = "NeverChangeItself"
    effect = "Deny"
    actions = [
      "iam:AttachRolePolicy",
      "iam:DetachRolePolicy",
      "iam:PutRolePolicy",
      "iam:DeleteRolePolicy",
      "iam:UpdateAssumeRolePolicy",
      "iam:UpdateRole",
      "iam:DeleteRole",
      "iam:PutRolePermissionsBoundary",
      "iam:DeleteRolePermissionsBoundary",
      "iam:TagRole",
      "iam:UntagRole",
    ]
    resources = [local.role_arn]
  }
}

resource "aws_iam_policy" "member" {
  name        = "${var.name_prefix}-member"
  description = "runawaytrain guard in a member account: exactly the AWS calls it makes"
  policy      = data.aws_iam_policy_document.member_permissions.json
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
}
