# Alarms: only those that should wake someone, because visitors cannot wake their services or
# the reconciler keeps failing. Each costs $0.10 a month (docs/cost.md, "Fixed cost of the
# controller"), so there are three:
#
# - `wake_errors`: the wake Lambda fails (crash, timeout, bad deployment): visitors get errors
#   instead of a wait page. Nothing else sees it: the wake path has no queue to fail into.
# - `failed_stream_batches`: the reconciler failed an event for good (a stream batch after its
#   retries, an ECS task event or a scheduled event after Lambda's retry): wakes that are not
#   acted on, or a reconciler that crashes or times out on every invocation. Every failed
#   invocation of the reconciler ends here, so it replaces an alarm on its AWS/Lambda Errors.
# - `reconcile_errors`: failures inside passes (AccessDenied, throttling that outlived its
#   retries, store errors) that never fail the invocation; they keep services from waking,
#   sleeping or being pre-warmed.
#
# Dropped (issue 19), and why:
# - AWS/Lambda Errors of the reconciler: a single failure is retried by Lambda and is no reason
#   to wake anyone; one that persists reaches the failure queue (above).
# - Records stuck in Waking (metric `OldestWakingSeconds`, emitted every minute, $0.30 a
#   month): a wake ends in Ready or Failed within the record's wakeTimeout unless passes fail
#   (reconcile_errors) or crash (failure queue); a wake that ends Failed (the service's own
#   start failed) is published as a phase-change event for the service's team.
# - The reconciler not running (no scheduled pass for 5 minutes): wakes do not need the
#   schedule (the table's stream invokes the reconciler); what stops is putting idle services
#   to sleep and pre-warming, which costs money by the hour and wakes nobody. A reconciler that
#   crashes or is throttled past its retries lands in the failure queue; what is left is a
#   disabled rule or a removed permission, which an operator did. Teams that want it add an
#   alarm on AWS/Lambda `Invocations` of the reconciler (README, "Alarms").
#
# The reconciler writes CloudWatch Embedded Metric Format lines to its log (namespace
# `snooze`), only when something happens; the metric names alarmed on here are listed in
# README.md ("Metrics").

locals {
  metric_namespace = "snooze"
}

resource "aws_cloudwatch_metric_alarm" "wake_errors" {
  alarm_name          = "${aws_lambda_function.wake.function_name}-errors"
  alarm_description   = "snooze: the wake Lambda returned errors (crash, timeout): visitors cannot wake their services (see its log group)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.wake.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "failed_stream_batches" {
  alarm_name          = "${var.name}-reconciler-failures"
  alarm_description   = "snooze: stream batches or async events the reconciler could not handle are waiting in ${aws_sqs_queue.reconciler_failures.name}."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.reconciler_failures.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = local.tags
}

# An invocation whose passes had failures emits `Errors` with the `Function` dimension (their
# number; nothing at all when none failed, so the metric costs only in hours with failures).
# These never fail the invocation, so AWS/Lambda Errors does not see them. Errors in two of the
# last three 5-minute periods fire: a lone throttle spike does not, a permanent failure (every
# pass fails) does within 10 minutes. `Errors` by `Code` says which.
resource "aws_cloudwatch_metric_alarm" "reconcile_errors" {
  alarm_name          = "${var.name}-reconcile-errors"
  alarm_description   = "snooze: reconcile passes report failures (metric Errors by Function; Errors by Code and the reconciler's log say which)."
  namespace           = local.metric_namespace
  metric_name         = "Errors"
  dimensions          = { Function = aws_lambda_function.reconciler.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching" # emitted only when something failed: no value, no failure
  actions_enabled     = true
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = local.tags
}
