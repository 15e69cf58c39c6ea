# runaway serve on small instances in the guard's account: the binary from an S3 object
# checked against its SHA-256, the configuration and the Slack tokens from SSM Parameter Store
# (read by runaway itself at start: never written to disk), a sandboxed systemd unit, IMDSv2
# only, and in Socket Mode no inbound rule at all. With the SQLite journal: one instance and an
# encrypted volume for the journal. With the DynamoDB journal: `replicas` instances (default
# 2), one per given subnet and zone, sharing the root module's table; one leads, another takes
# over within the lease's 30 s if it dies. Each instance runs as the guard's role (the root module's instance profile), is tagged exempt from
# halts (the guard also knows its own instance from the metadata service), and its role is the
# guard's own identity, which a lockout never touches.

data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  subnets  = length(var.subnet_ids) > 0 ? var.subnet_ids : compact([var.subnet_id])
  sqlite   = var.journal_backend == "sqlite"
  replicas = coalesce(var.replicas, local.sqlite ? 1 : 2)
}

data "aws_subnet" "bot" {
  for_each = toset(local.subnets)
  id       = each.value
}

data "aws_ssm_parameter" "al2023" {
  count = var.ami_id == null ? 1 : 0
  name  = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.id
  parameters = "/${var.name_prefix}"
  config     = "${local.parameters}/config"
  unit = templatefile("${path.module}/runawaytrain.service.tftpl", {
    region           = local.region
    config_parameter = local.config
    bot_token        = var.slack_bot_token_parameter
    app_token        = var.slack_mode == "socket" ? var.slack_app_token_parameter : null
    signing_secret   = var.slack_mode == "http" ? var.slack_signing_secret_parameter : null
    listen           = var.slack_mode == "socket" ? "127.0.0.1:3000" : "0.0.0.0:${var.http_port}"
  })
  user_data = templatefile("${path.module}/user-data.sh.tftpl", {
    region = local.region
    bucket = var.binary_s3_bucket
    key    = var.binary_s3_key
    sha256 = lower(var.binary_sha256)
    unit   = local.unit
    # NVMe devices name EBS volumes by id, without its dash. None with a DynamoDB journal.
    journal_device = local.sqlite ? "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${replace(aws_ebs_volume.journal[0].id, "-", "")}" : null
  })
}

# The configuration, as runaway.toml. Nothing secret: the tokens are parameters of their own,
# which the operator writes (SecureString) and which no Terraform state ever holds. Encrypted
# all the same: it names accounts, roles and who may act.
resource "aws_ssm_parameter" "config" {
  #checkov:skip=CKV_AWS_337:the AWS-managed aws/ssm key by default (nothing secret in it); config_kms_key_id for a customer-managed key
  name        = local.config
  key_id      = var.config_kms_key_id
  description = "runawaytrain: runaway.toml of the deployed bot (RUNAWAY_CONFIG_SSM)"
  type        = "SecureString"
  tier        = "Intelligent-Tiering"
  value       = var.config
  tags        = var.tags
}

# Only to fetch its own binary at boot.
resource "aws_iam_role_policy" "binary" {
  name = "${var.name_prefix}-bot-binary"
  role = var.guard_role_name
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "FetchTheBotsBinary"
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = ["arn:${local.partition}:s3:::${var.binary_s3_bucket}/${var.binary_s3_key}"]
    }]
  })
}

resource "aws_security_group" "bot" {
  name        = "${var.name_prefix}-bot"
  description = "runawaytrain bot: HTTPS out to Slack and AWS; nothing in, in Socket Mode"
  vpc_id      = data.aws_subnet.bot[local.subnets[0]].vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_egress_rule" "https" {
  #checkov:skip=CKV_AWS_382:the bot must reach Slack's and AWS's public HTTPS endpoints
  security_group_id = aws_security_group.bot.id
  description       = "HTTPS to Slack and the AWS APIs"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

# HTTP mode only: Slack's requests (signed) from the addresses given.
resource "aws_vpc_security_group_ingress_rule" "slack" {
  for_each          = var.slack_mode == "http" ? toset(var.http_ingress_cidrs) : toset([])
  security_group_id = aws_security_group.bot.id
  description       = "Slack's signed requests (HTTP mode)"
  ip_protocol       = "tcp"
  from_port         = var.http_port
  to_port           = var.http_port
  cidr_ipv4         = each.value
}

# The journal on a volume of its own, encrypted: it outlives the instance (an upgrade replaces
# the instance, never the record of what the guard changed and how to undo it).
resource "aws_ebs_volume" "journal" {
  count             = local.sqlite ? 1 : 0
  availability_zone = data.aws_subnet.bot[local.subnets[0]].availability_zone
  size              = var.journal_volume_size_gb
  type              = "gp3"
  encrypted         = true
  kms_key_id        = var.ebs_kms_key_arn
  tags = merge(var.tags, {
    Name             = "${var.name_prefix}-journal"
    "runaway:exempt" = "true"
  })
}

resource "aws_volume_attachment" "journal" {
  count       = local.sqlite ? 1 : 0
  device_name = "/dev/sdf"
  volume_id   = aws_ebs_volume.journal[0].id
  instance_id = aws_instance.bot[0].id
}

moved {
  from = aws_ebs_volume.journal
  to   = aws_ebs_volume.journal[0]
}

moved {
  from = aws_volume_attachment.journal
  to   = aws_volume_attachment.journal[0]
}

moved {
  from = aws_instance.bot
  to   = aws_instance.bot[0]
}

resource "aws_instance" "bot" {
  #checkov:skip=CKV_AWS_126:detailed monitoring is not needed: the guard puts its own heartbeat
  #checkov:skip=CKV2_AWS_41:the instance profile is the guard's role, passed in as a variable
  count                       = local.replicas
  ami                         = var.ami_id != null ? var.ami_id : nonsensitive(data.aws_ssm_parameter.al2023[0].value)
  instance_type               = var.instance_type
  subnet_id                   = local.subnets[count.index]
  vpc_security_group_ids      = [aws_security_group.bot.id]
  iam_instance_profile        = var.guard_instance_profile_name
  associate_public_ip_address = var.associate_public_ip_address
  user_data                   = local.user_data
  user_data_replace_on_change = true
  ebs_optimized               = true

  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    http_endpoint               = "enabled"
  }

  root_block_device {
    encrypted   = true
    kms_key_id  = var.ebs_kms_key_arn
    volume_size = var.root_volume_size_gb
    volume_type = "gp3"
  }

  tags = merge(var.tags, {
    Name             = local.replicas == 1 ? "${var.name_prefix}-bot" : "${var.name_prefix}-bot-${count.index + 1}"
    "runaway:exempt" = "true"
  })

  lifecycle {
    precondition {
      condition     = length(local.subnets) > 0
      error_message = "Give the instance a subnet: subnet_id, or subnet_ids for replicas."
    }
    precondition {
      condition     = !local.sqlite || local.replicas == 1
      error_message = "The SQLite journal is a file with one writer: replicas must be 1 (use journal_backend = \"dynamodb\" for more)."
    }
    precondition {
      condition     = local.replicas <= length(local.subnets)
      error_message = "Each replica runs in a subnet of its own: give at least as many subnet_ids as replicas."
    }
    precondition {
      condition     = length(distinct([for id in local.subnets : data.aws_subnet.bot[id].availability_zone])) == length(local.subnets)
      error_message = "subnet_ids must each be in a different availability zone: replicas in one zone fail together."
    }
    precondition {
      condition     = local.sqlite || can(regex("(?m)^\\s*backend\\s*=\\s*\"dynamodb\"", var.config))
      error_message = "journal_backend = \"dynamodb\" but config has no [journal] backend = \"dynamodb\": the replicas would each keep a journal of their own. Use the root module's runaway_toml (journal_backend = \"dynamodb\" there)."
    }
  }

  depends_on = [aws_ssm_parameter.config, aws_iam_role_policy.binary]
}
