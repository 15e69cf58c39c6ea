# A service control policy for the organisation: the runaway:exempt tag spares an instance from
# every halt, so writing or removing it is for the principals named in tag_admin_principal_arns
# only; the guard's own runaway:* tags (runaway:incident, runaway:quarantine) are also for the
# guard's roles. With restrict_bedrock, Amazon Bedrock is shut for everyone but
# bedrock_principal_arns (LLMjacking: leaked keys reselling model invocations), before anything
# happens. Applied in the management account; SCPs do not bind the management account itself.

locals {
  # Every API that writes or removes a tag on what the guard reads: EC2 (instances, at launch
  # too: RunInstances authorises its tags as ec2:CreateTags), Auto Scaling groups, IAM users and
  # roles, and the Resource Groups Tagging API.
  tagging_actions = [
    "ec2:CreateTags",
    "ec2:DeleteTags",
    "autoscaling:CreateOrUpdateTags",
    "autoscaling:DeleteTags",
    "iam:TagUser",
    "iam:UntagUser",
    "iam:TagRole",
    "iam:UntagRole",
    "tag:TagResources",
    "tag:UntagResources",
  ]
}

data "aws_iam_policy_document" "tag_protection" {
  statement {
    sid       = "OnlyTagAdminsWriteTheExemption"
    effect    = "Deny"
    actions   = local.tagging_actions
    resources = ["*"]
    condition {
      test     = "ForAnyValue:StringEquals"
      variable = "aws:TagKeys"
      values   = ["runaway:exempt"]
    }
    condition {
      test     = "ArnNotLike"
      variable = "aws:PrincipalArn"
      values   = var.tag_admin_principal_arns
    }
  }

  statement {
    sid       = "OnlyTheGuardWritesItsTags"
    effect    = "Deny"
    actions   = local.tagging_actions
    resources = ["*"]
    condition {
      test     = "ForAnyValue:StringLike"
      variable = "aws:TagKeys"
      values   = ["runaway:*"]
    }
    condition {
      test     = "ArnNotLike"
      variable = "aws:PrincipalArn"
      values   = concat(var.tag_admin_principal_arns, var.guard_principal_arns)
    }
  }

  # Opt-in: Bedrock for the expected principals only (none listed: for nobody).
  dynamic "statement" {
    for_each = var.restrict_bedrock ? [1] : []
    content {
      sid       = "OnlyBedrockPrincipalsCallBedrock"
      effect    = "Deny"
      actions   = ["bedrock:*"]
      resources = ["*"]
      dynamic "condition" {
        for_each = length(var.bedrock_principal_arns) > 0 ? [1] : []
        content {
          test     = "ArnNotLike"
          variable = "aws:PrincipalArn"
          values   = var.bedrock_principal_arns
        }
      }
    }
  }

  statement {
    sid = "NoRemovingEveryTagAtOnce"
    # DeleteTags without a key removes every tag, runaway:exempt among them, and names no key a
    # condition could see.
    effect    = "Deny"
    actions   = ["ec2:DeleteTags"]
    resources = ["*"]
    condition {
      test     = "Null"
      variable = "aws:TagKeys"
      values   = ["true"]
    }
    condition {
      test     = "ArnNotLike"
      variable = "aws:PrincipalArn"
      values   = var.tag_admin_principal_arns
    }
  }
}

resource "aws_organizations_policy" "tag_protection" {
  name        = "${var.name_prefix}-tag-protection"
  description = "runawaytrain: only tag admins write runaway:exempt; only the guard writes its runaway:* tags"
  type        = "SERVICE_CONTROL_POLICY"
  content     = data.aws_iam_policy_document.tag_protection.json
  tags        = var.tags
}

resource "aws_organizations_policy_attachment" "tag_protection" {
  for_each  = toset(var.target_ids)
  policy_id = aws_organizations_policy.tag_protection.id
  target_id = each.value
}
