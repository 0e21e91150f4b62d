# Phase-change events (docs/reference/events.md): the reconciler publishes every phase change to
# var.event_bus_name (PutEvents, lambda.tf); optionally a rule here sends them to an SNS topic.

locals {
  # The bus the reconciler may publish to, as an ARN (a name is a bus of this account and
  # region); empty when events are off.
  event_bus_arns = var.event_bus_name == "" ? [] : [
    startswith(var.event_bus_name, "arn:") ? var.event_bus_name : "arn:${local.partition}:events:${local.region}:${local.account}:event-bus/${var.event_bus_name}"
  ]

  # The optional rule to SNS exists only with a topic and a bus.
  events_to_sns = var.events_sns_topic_arn != null && var.event_bus_name != ""
}

resource "aws_cloudwatch_event_rule" "phase_changes_to_sns" {
  count          = local.events_to_sns ? 1 : 0
  name           = "${var.name}-phase-changes"
  description    = "snooze: every phase change event, to the SNS topic events_sns_topic_arn"
  event_bus_name = var.event_bus_name
  event_pattern = jsonencode({
    source        = ["snooze"]
    "detail-type" = ["Service Phase Changed"]
  })
  tags = local.tags
}

# The topic's access policy (not managed here: the topic is the caller's) must allow
# events.amazonaws.com to sns:Publish with aws:SourceArn = this rule (output events_sns_rule_arn).
resource "aws_cloudwatch_event_target" "phase_changes_to_sns" {
  count          = local.events_to_sns ? 1 : 0
  rule           = aws_cloudwatch_event_rule.phase_changes_to_sns[0].name
  event_bus_name = var.event_bus_name
  arn            = var.events_sns_topic_arn

  retry_policy {
    maximum_retry_attempts       = 3
    maximum_event_age_in_seconds = 3600
  }
}
