# The two Lambdas (provided.al2023, arm64, zips from scripts/package), their log groups and roles.
# Each role allows exactly the AWS actions its binary calls (tests/infra checks this against the
# Rust sources), plus what the Lambda service does on the function's behalf (logs, the stream,
# the on-failure queue).

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_cloudwatch_log_group" "wake" {
  name              = "/aws/lambda/${local.wake_function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = one(local.kms_key_arns)
  tags              = local.tags
}

resource "aws_cloudwatch_log_group" "reconciler" {
  name              = "/aws/lambda/${local.reconciler_function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = one(local.kms_key_arns)
  tags              = local.tags
}

# --- wake: reads records, writes only the wake fact -----------------------------------------

resource "aws_iam_role" "wake" {
  name               = local.wake_function_name
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "wake" {
  statement {
    sid    = "ReadRecords"
    effect = "Allow"
    # Scan: the host index of load balancer events (wake::HostIndex), at most twice a minute.
    actions   = ["dynamodb:GetItem", "dynamodb:Scan"]
    resources = [aws_dynamodb_table.records.arn]
  }

  statement {
    sid       = "WriteWakeFactOnly"
    effect    = "Allow"
    actions   = ["dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.records.arn]
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "dynamodb:Attributes"
      values   = ["name", "wakeRequestedAt"]
    }
    condition {
      test     = "StringEqualsIfExists"
      variable = "dynamodb:ReturnValues"
      values   = ["NONE", "UPDATED_OLD", "UPDATED_NEW"]
    }
  }

  # With a customer managed key, DynamoDB uses it with this role's rights for every read and
  # write (and the stream), so the role may use the key, but only through DynamoDB
  # (kms:ViaService). One statement per key (none with the default AWS owned key).
  dynamic "statement" {
    for_each = local.kms_key_arns
    content {
      sid       = "UseTableKeyThroughDynamoDB"
      effect    = "Allow"
      actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["dynamodb.${local.region}.amazonaws.com"]
      }
    }
  }

  statement {
    sid       = "Logs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.wake.arn}:*"]
  }

  dynamic "statement" {
    for_each = var.xray_tracing ? [1] : []
    content {
      sid       = "Tracing"
      effect    = "Allow"
      actions   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
      resources = ["*"] # X-Ray has no resource-level permissions
    }
  }
}

resource "aws_iam_role_policy" "wake" {
  name   = "snooze-wake"
  role   = aws_iam_role.wake.id
  policy = data.aws_iam_policy_document.wake.json
}

resource "aws_lambda_function" "wake" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously by API Gateway, where a DLQ never receives anything (the reconciler has one).
  #checkov:skip=CKV_AWS_117:Lambdas outside a VPC by design: they call only public AWS APIs; a VPC would need a NAT gateway or interface endpoints and isolates nothing here.
  #checkov:skip=CKV_AWS_272:No AWS Signer profile: zips are built from the commit by the release workflow and deployed by SHA; code signing is left to adopters who run Signer.
  function_name                  = local.wake_function_name
  description                    = "snooze wake endpoint: records wake requests, serves the wait page and status JSON"
  role                           = aws_iam_role.wake.arn
  runtime                        = "provided.al2023"
  architectures                  = ["arm64"]
  handler                        = "bootstrap"
  filename                       = local.wake_zip
  source_code_hash               = filebase64sha256(local.wake_zip)
  memory_size                    = 256
  timeout                        = var.wake_timeout_seconds
  reserved_concurrent_executions = var.wake_reserved_concurrency
  kms_key_arn                    = one(local.kms_key_arns) # null: the AWS managed key aws/lambda

  environment {
    variables = {
      SNOOZE_TABLE              = aws_dynamodb_table.records.name
      SNOOZE_DEFAULT_SERVICE    = var.default_service
      SNOOZE_WAKE_DEBOUNCE      = var.wake_debounce
      SNOOZE_WAKE_MAX_WAIT      = var.wake_max_wait
      SNOOZE_STATUS_WATCH_EVERY = var.status_watch_every
      SNOOZE_COOKIE_SECURE      = "true" # the API is served over HTTPS only
      SNOOZE_PUBLIC_PATH_PREFIX = var.public_path_prefix
      RUST_LOG                  = var.log_level
    }
  }

  tracing_config {
    mode = var.xray_tracing ? "Active" : "PassThrough"
  }

  logging_config {
    log_format = "Text" # the binary writes JSON lines itself (tracing-subscriber)
    log_group  = aws_cloudwatch_log_group.wake.name
  }

  tags       = local.tags
  depends_on = [aws_iam_role_policy.wake]
}

# --- reconciler: observes and scales ECS in the managed clusters, publishes status ----------

resource "aws_iam_role" "reconciler" {
  name               = local.reconciler_function_name
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "reconciler" {
  statement {
    sid       = "Records"
    effect    = "Allow"
    actions   = ["dynamodb:GetItem", "dynamodb:Scan", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.records.arn]
  }

  statement {
    sid       = "ReadTableStream"
    effect    = "Allow"
    actions   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
    resources = ["${aws_dynamodb_table.records.arn}/stream/*"]
  }

  statement {
    sid       = "ListTableStreams"
    effect    = "Allow"
    actions   = ["dynamodb:ListStreams"]
    resources = ["*"] # ListStreams has no resource-level permissions (a stream ARN never matches)
  }

  # With a customer managed key, DynamoDB uses it with this role's rights for every read and
  # write (and the stream), so the role may use the key, but only through DynamoDB
  # (kms:ViaService). One statement per key (none with the default AWS owned key).
  dynamic "statement" {
    for_each = local.kms_key_arns
    content {
      sid       = "UseTableKeyThroughDynamoDB"
      effect    = "Allow"
      actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["dynamodb.${local.region}.amazonaws.com"]
      }
    }
  }

  statement {
    sid       = "ObserveAndScaleServices"
    effect    = "Allow"
    actions   = ["ecs:DescribeServices", "ecs:UpdateService"]
    resources = local.service_arns
  }

  statement {
    sid       = "ObserveTasks"
    effect    = "Allow"
    actions   = ["ecs:DescribeTasks"]
    resources = local.task_arns
  }

  statement {
    sid       = "ListTasksOfManagedClusters"
    effect    = "Allow"
    actions   = ["ecs:ListTasks"]
    resources = ["*"] # ListTasks is scoped by the ecs:cluster condition key
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = local.cluster_arns
    }
  }

  statement {
    sid       = "ReadContainerHealthChecks"
    effect    = "Allow"
    actions   = ["ecs:DescribeTaskDefinition"]
    resources = ["*"] # DescribeTaskDefinition has no resource-level permissions
  }

  statement {
    sid       = "ReadTaskAddresses"
    effect    = "Allow"
    actions   = ["ec2:DescribeNetworkInterfaces"]
    resources = ["*"] # Describe* on EC2 has no resource-level permissions
  }

  # Route mode (ADR 0007): the rules of the shared load balancer's listener, when one is given
  # (var.alb_listener_arn; none otherwise). The router changes only rules it tagged.
  dynamic "statement" {
    for_each = local.route_listener_arns
    content {
      sid    = "ReadListenerRulesAndTargetHealth"
      effect = "Allow"
      actions = [
        "elasticloadbalancing:DescribeRules",
        "elasticloadbalancing:DescribeTags",
        "elasticloadbalancing:DescribeTargetHealth",
      ]
      resources = ["*"] # Describe* on ELBv2 has no resource-level permissions
    }
  }

  dynamic "statement" {
    for_each = local.route_listener_arns
    content {
      sid       = "CreateRulesOnTheListener"
      effect    = "Allow"
      actions   = ["elasticloadbalancing:CreateRule"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = local.route_rule_arns
    content {
      sid       = "TagItsRulesOnCreate"
      effect    = "Allow"
      actions   = ["elasticloadbalancing:AddTags"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "elasticloadbalancing:CreateAction"
        values   = ["CreateRule"]
      }
    }
  }

  dynamic "statement" {
    for_each = local.route_rule_arns
    content {
      sid       = "SwitchAndRemoveOwnRules"
      effect    = "Allow"
      actions   = ["elasticloadbalancing:DeleteRule", "elasticloadbalancing:ModifyRule"]
      resources = [statement.value]
      condition {
        test     = "StringLike" # the tag exists (any value)
        variable = "aws:ResourceTag/snooze:host"
        values   = ["*"]
      }
    }
  }

  # Phase-change events (docs/reference/events.md): PutEvents on the configured bus only, and
  # only events whose source is snooze. None when var.event_bus_name is empty.
  dynamic "statement" {
    for_each = local.event_bus_arns
    content {
      sid       = "PublishPhaseChangeEvents"
      effect    = "Allow"
      actions   = ["events:PutEvents"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "events:source"
        values   = ["snooze"]
      }
    }
  }

  statement {
    sid       = "OnFailureDestination"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.reconciler_failures.arn]
  }

  # The queue's customer managed key, when there is one (none with the default SSE-SQS).
  dynamic "statement" {
    for_each = local.kms_key_arns
    content {
      sid       = "OnFailureDestinationEncryption"
      effect    = "Allow"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["sqs.${local.region}.amazonaws.com"]
      }
    }
  }

  statement {
    sid       = "Logs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.reconciler.arn}:*"]
  }

  dynamic "statement" {
    for_each = var.xray_tracing ? [1] : []
    content {
      sid       = "Tracing"
      effect    = "Allow"
      actions   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
      resources = ["*"] # X-Ray has no resource-level permissions
    }
  }
}

resource "aws_iam_role_policy" "reconciler" {
  name   = "snooze-reconciler"
  role   = aws_iam_role.reconciler.id
  policy = data.aws_iam_policy_document.reconciler.json
}

resource "aws_lambda_function" "reconciler" {
  #checkov:skip=CKV_AWS_117:Lambdas outside a VPC by design: they call only public AWS APIs; a VPC would need a NAT gateway or interface endpoints and isolates nothing here.
  #checkov:skip=CKV_AWS_272:No AWS Signer profile: zips are built from the commit by the release workflow and deployed by SHA; code signing is left to adopters who run Signer.
  function_name    = local.reconciler_function_name
  description      = "snooze reconciler: makes ECS match the records (schedule, table stream, ECS task events)"
  role             = aws_iam_role.reconciler.arn
  runtime          = "provided.al2023"
  architectures    = ["arm64"]
  handler          = "bootstrap"
  filename         = local.reconciler_zip
  source_code_hash = filebase64sha256(local.reconciler_zip)
  memory_size      = 256
  timeout          = var.reconciler_timeout_seconds
  # 1 (the default) runs one pass at a time, which avoids duplicate UpdateService calls and
  # throttling; null reserves nothing (accounts whose quota leaves no room to reserve): passes
  # may then overlap, and the status compare-and-swap keeps that safe.
  reserved_concurrent_executions = var.reconciler_reserved_concurrency
  kms_key_arn                    = one(local.kms_key_arns) # null: the AWS managed key aws/lambda

  environment {
    variables = {
      SNOOZE_TABLE                   = aws_dynamodb_table.records.name
      SNOOZE_PASS_BUDGET             = "${var.pass_budget_seconds}s"
      SNOOZE_SCHEDULE_PERIOD         = "${var.schedule_period_seconds}s"
      SNOOZE_ALB_LISTENER_ARN        = var.alb_listener_arn
      SNOOZE_WAKE_TARGET_GROUP_ARN   = var.alb_wake_target_group_arn
      SNOOZE_EVENT_BUS               = var.event_bus_name
      SNOOZE_PRICE_TABLE             = var.price_table_path
      SNOOZE_RESYNC_FLOOR            = "${var.resync_floor_minutes}m"
      SNOOZE_RESYNC_CALLS_PER_MINUTE = var.resync_calls_per_minute
      SNOOZE_AWAKE_RESYNC            = "${var.awake_resync_seconds}s"
      RUST_LOG                       = var.log_level
    }
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.reconciler_failures.arn
  }

  tracing_config {
    mode = var.xray_tracing ? "Active" : "PassThrough"
  }

  logging_config {
    log_format = "Text" # the binary writes JSON lines and EMF metrics itself
    log_group  = aws_cloudwatch_log_group.reconciler.name
  }

  tags       = local.tags
  depends_on = [aws_iam_role_policy.reconciler]
}

# Asynchronous invocations (EventBridge) are hints; the next scheduled pass catches anything a
# dropped event would have said, so they are retried once and not kept for long. The handler
# fails only an ECS task event whose records it cannot list (a store outage); after the retry
# that event goes to the function's dead-letter queue (`dead_letter_config` above, the failure
# queue), where the `failed_stream_batches` alarm sees it.
resource "aws_lambda_function_event_invoke_config" "reconciler" {
  function_name                = aws_lambda_function.reconciler.function_name
  maximum_retry_attempts       = 1
  maximum_event_age_in_seconds = 300
}
