variable "name" {
  description = "Prefix for every resource of this controller (functions, roles, API, alarms): e.g. `snooze` gives `snooze-wake` and `snooze-reconciler`."
  type        = string
  default     = "snooze"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}[a-z0-9]$", var.name))
    error_message = "name must be a lowercase DNS-like label of 2 to 32 characters."
  }
}

variable "table_name" {
  description = "Name of the DynamoDB table that holds one record per managed service (key `name`)."
  type        = string
  default     = "snooze"
}

variable "managed_clusters" {
  description = "Names of the ECS clusters whose services this controller may observe and scale. IAM is scoped to these clusters, and only their task state changes trigger a reconcile."
  type        = list(string)

  validation {
    condition     = length(var.managed_clusters) > 0
    error_message = "managed_clusters must name at least one ECS cluster."
  }
}

variable "default_service" {
  description = "Record name served at the wake API's root path `GET /` (env SNOOZE_DEFAULT_SERVICE). Empty: `GET /` answers 404."
  type        = string
  default     = ""
}

variable "wake_debounce" {
  description = "Wake writes closer together than this are one write (env SNOOZE_WAKE_DEBOUNCE, humantime, at most 5m)."
  type        = string
  default     = "30s"
}

variable "status_watch_every" {
  description = "How often a held status request (the wait page's long poll, `?wait=N&seen=KEY`) re-reads its record (env SNOOZE_STATUS_WATCH_EVERY, humantime, 50ms..5s). Each re-read is one DynamoDB read: a request held 20 s costs 20 s / this. 1s here (250ms is the binary's default) keeps a waiting visitor at 20 reads per held request; the page then sees Ready at most 1 s late."
  type        = string
  default     = "1s"

  validation {
    condition     = can(regex("^([0-9]+ms|[1-5]s)$", var.status_watch_every))
    error_message = "status_watch_every is a humantime duration from 50ms to 5s, e.g. 1s or 250ms."
  }
}

variable "wake_max_wait" {
  description = "Upper bound of `POST /api/v1/services/{name}/wake?wait=N` (env SNOOZE_WAKE_MAX_WAIT, humantime). Must stay under the wake Lambda's timeout and API Gateway's 29 s integration timeout."
  type        = string
  default     = "25s"

  validation {
    condition     = can(regex("^([0-9]|1[0-9]|2[0-5])s$", var.wake_max_wait))
    error_message = "wake_max_wait is a whole number of seconds up to 25s, e.g. 25s."
  }
}

variable "public_path_prefix" {
  description = "Path browsers use in front of `/s/{name}`, for the access cookie's Path (env SNOOZE_PUBLIC_PATH_PREFIX): empty for the `$default` stage and a custom domain mapped at its root; e.g. `/wake` when the API is mapped under a key."
  type        = string
  default     = ""
}

variable "lambda_build_dir" {
  description = "Folder holding `wake/bootstrap.zip` and `reconciler/bootstrap.zip`, as written by `scripts/package` (default: `build/` at the repository root)."
  type        = string
  default     = null
}

variable "schedule_expression" {
  description = "EventBridge schedule for the full reconcile pass."
  type        = string
  default     = "rate(1 minute)"
}

variable "schedule_period_seconds" {
  description = "Period of `schedule_expression` in seconds (env SNOOZE_SCHEDULE_PERIOD of the reconciler): schedules' pre-warm leads grow by it, so a service is Ready when an awake window starts although the pass runs only this often. Change both together."
  type        = number
  default     = 60

  validation {
    condition     = var.schedule_period_seconds >= 60 && var.schedule_period_seconds <= 3600
    error_message = "schedule_period_seconds is between 60 and 3600 (EventBridge schedules run at most once a minute)."
  }
}

variable "resync_floor_minutes" {
  description = "Shortest resync period of quiet sleeping records in minutes (env SNOOZE_RESYNC_FLOOR of the reconciler): each is observed at least this often when no ECS event arrives for it. The period grows with the fleet (docs/runbooks/throttling.md)."
  type        = number
  default     = 15

  validation {
    condition     = var.resync_floor_minutes >= 1 && var.resync_floor_minutes <= 1440 && floor(var.resync_floor_minutes) == var.resync_floor_minutes
    error_message = "resync_floor_minutes is a whole number of minutes between 1 and 1440."
  }
}

variable "resync_calls_per_minute" {
  description = "DescribeServices calls a minute the resync of quiet sleeping records may make on average, 10 services a call (env SNOOZE_RESYNC_CALLS_PER_MINUTE): the resync period is max(resync_floor_minutes, ceil(records / (10 x this)) minutes). 30 is 2.5 % of ECS's sustained 20/s read budget."
  type        = number
  default     = 30

  validation {
    condition     = var.resync_calls_per_minute >= 1 && var.resync_calls_per_minute <= 600 && floor(var.resync_calls_per_minute) == var.resync_calls_per_minute
    error_message = "resync_calls_per_minute is a whole number between 1 and 600."
  }
}

variable "awake_resync_seconds" {
  description = "How often, in seconds, a steady Ready service is observed (its tasks listed) when no ECS event arrives for it (env SNOOZE_AWAKE_RESYNC)."
  type        = number
  default     = 180

  validation {
    condition     = var.awake_resync_seconds >= 10 && var.awake_resync_seconds <= 1800 && floor(var.awake_resync_seconds) == var.awake_resync_seconds
    error_message = "awake_resync_seconds is a whole number between 10 and 1800 (ECS forgets a stopped task after about an hour; the ledger must see it stop)."
  }
}

variable "pass_budget_seconds" {
  description = "Seconds one reconciler invocation may keep requeueing records in transitional phases (env SNOOZE_PASS_BUDGET). Must stay well under `reconciler_timeout_seconds`."
  type        = number
  default     = 60
}

variable "reconciler_timeout_seconds" {
  description = "Timeout of the reconciler Lambda, in seconds."
  type        = number
  default     = 120

  validation {
    condition     = var.reconciler_timeout_seconds >= 30 && var.reconciler_timeout_seconds <= 900
    error_message = "reconciler_timeout_seconds must be between 30 and 900."
  }
}

variable "wake_timeout_seconds" {
  description = "Timeout of the wake Lambda, in seconds (API Gateway HTTP APIs give up after 30 s; `?wait=N` holds up to 25 s)."
  type        = number
  default     = 29
}

variable "wake_reserved_concurrency" {
  description = "Reserved concurrency of the wake Lambda: caps what a flood of visitors can cost and keeps it from starving other functions. null reserves none. AWS lets an account reserve in total only its concurrency quota minus 100 (the unreserved pool never drops below 100), so an account whose quota is 100 or less (new accounts often start at 10) must set null here and for `reconciler_reserved_concurrency` (see README)."
  type        = number
  default     = 20
  nullable    = true

  validation {
    condition     = var.wake_reserved_concurrency == null || try(var.wake_reserved_concurrency >= 1 && floor(var.wake_reserved_concurrency) == var.wake_reserved_concurrency, false)
    error_message = "wake_reserved_concurrency is null (no reservation) or a whole number of at least 1 (0 would stop every visitor's request; -1 no longer means none: use null)."
  }
}

variable "reconciler_reserved_concurrency" {
  description = "Reserved concurrency of the reconciler Lambda: 1 runs one pass at a time (fewer duplicate ECS calls, less throttling). null reserves none: passes may then overlap, which the status compare-and-swap keeps safe (a stale pass's status write fails and is redone from fresh state). Counts against the same account limit as `wake_reserved_concurrency` (quota minus 100)."
  type        = number
  default     = 1
  nullable    = true

  validation {
    condition     = var.reconciler_reserved_concurrency == null || try(var.reconciler_reserved_concurrency >= 1 && floor(var.reconciler_reserved_concurrency) == var.reconciler_reserved_concurrency, false)
    error_message = "reconciler_reserved_concurrency is null (no reservation) or a whole number of at least 1 (0 would stop every pass)."
  }
}

variable "log_retention_days" {
  description = "Retention of the Lambda and API access log groups, in days."
  type        = number
  default     = 365
}

variable "log_level" {
  description = "RUST_LOG filter for both Lambdas, e.g. `info` or `snooze=debug,info`."
  type        = string
  default     = "info"
}

variable "xray_tracing" {
  description = "Active X-Ray tracing on both Lambdas (adds the X-Ray write actions to their roles)."
  type        = bool
  default     = false
}

variable "throttling_burst_limit" {
  description = "API stage burst limit (requests)."
  type        = number
  default     = 100
}

variable "throttling_rate_limit" {
  description = "API stage steady-state rate limit (requests per second)."
  type        = number
  default     = 50
}

variable "stream_batch_size" {
  description = "Records per reconciler invocation from the table's stream."
  type        = number
  default     = 25
}

variable "stream_maximum_retry_attempts" {
  description = "Retries of a failing stream batch before it goes to the on-failure queue."
  type        = number
  default     = 3
}

variable "domain_name" {
  description = "Optional custom domain for the wake API, e.g. `wake.example.com`. Needs `certificate_arn`; point a DNS record at the output `custom_domain_target`."
  type        = string
  default     = null
}

variable "certificate_arn" {
  description = "ACM certificate (same region) for `domain_name`."
  type        = string
  default     = null
}

variable "alb_listener_arn" {
  description = "Route mode on AWS (ADR 0007): ARN of the shared Application Load Balancer's HTTPS listener whose rules the reconciler switches (env SNOOZE_ALB_LISTENER_ARN). Empty: no router; route-mode records report RouteFailed. Needs `alb_wake_target_group_arn`."
  type        = string
  default     = ""

  validation {
    condition     = var.alb_listener_arn == "" || can(regex("^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:listener/app/", var.alb_listener_arn))
    error_message = "alb_listener_arn is an Application Load Balancer listener ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener/app/...), or empty."
  }
}

variable "alb_wake_target_group_arn" {
  description = "Route mode on AWS: ARN of the wake Lambda's target group, the listener's default action (env SNOOZE_WAKE_TARGET_GROUP_ARN). Set together with `alb_listener_arn`."
  type        = string
  default     = ""

  validation {
    condition     = var.alb_wake_target_group_arn == "" || can(regex("^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:targetgroup/", var.alb_wake_target_group_arn))
    error_message = "alb_wake_target_group_arn is a target group ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/...), or empty."
  }
}

variable "event_bus_name" {
  description = "EventBridge event bus the reconciler publishes every phase change to (env SNOOZE_EVENT_BUS; source `snooze`, detail-type `Service Phase Changed`, docs/reference/events.md): a bus name in this account and region (`default`, the account's default bus), or a bus ARN. The reconciler may call events:PutEvents on this bus only. Empty: no events and no PutEvents right."
  type        = string
  default     = "default"

  validation {
    condition     = var.event_bus_name == "" || can(regex("^([A-Za-z0-9._-]{1,256}|arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/[A-Za-z0-9._/-]+)$", var.event_bus_name))
    error_message = "event_bus_name is an event bus name (letters, digits, . _ -), an event bus ARN (arn:aws:events:REGION:ACCOUNT:event-bus/NAME), or empty."
  }
}

variable "price_table_path" {
  description = "Path, inside the reconciler's package or a layer, of a Fargate price table that replaces the one shipped with snooze (env SNOOZE_PRICE_TABLE; the shape of controller/pricing/fargate.yaml; docs/cost.md, \"The ledger\"). The ledger prices task-seconds with the row for the function's region. Empty (default): the shipped table. A bad file, or one without the region, fails the reconciler's cold start with the file and line."
  type        = string
  default     = ""
}

variable "events_sns_topic_arn" {
  description = "Optional: an SNS topic that receives every phase-change event, through an EventBridge rule on `event_bus_name` this module creates. The topic's access policy must allow events.amazonaws.com to sns:Publish (condition aws:SourceArn = output `events_sns_rule_arn`), and the key policy of a topic encrypted with a customer managed key must let events.amazonaws.com use that key (see README.md). null: no rule."
  type        = string
  default     = null

  validation {
    condition     = var.events_sns_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+(\\.fifo)?$", var.events_sns_topic_arn))
    error_message = "events_sns_topic_arn is an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME), or null."
  }
}

variable "alarm_actions" {
  description = "ARNs (e.g. SNS topics) notified when an alarm fires or recovers."
  type        = list(string)
  default     = []
}

variable "create_kms_key" {
  description = "Create a customer managed KMS key (alias `alias/<name>`, rotation on, $1 a month) that encrypts the record table, the on-failure queue, the log groups and the Lambda environment, for teams whose policy requires one. false (the default): keys AWS holds, at no charge (an AWS owned key for the table, SSE-SQS, CloudWatch Logs' encryption, aws/lambda). Not together with `kms_key_arn`."
  type        = bool
  default     = false
  nullable    = false
}

variable "kms_key_arn" {
  description = "ARN of your own customer managed KMS key (same region) for the record table, the on-failure queue, the log groups and the Lambda environment; null (the default) for keys AWS holds, or see `create_kms_key`. Its key policy must let this account's IAM policies use it and CloudWatch Logs encrypt this account's log groups (as the key `create_kms_key` makes does, main.tf)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]+$", var.kms_key_arn))
    error_message = "kms_key_arn is a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), or null."
  }
}

variable "deletion_protection" {
  description = "DynamoDB deletion protection on the record table."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
