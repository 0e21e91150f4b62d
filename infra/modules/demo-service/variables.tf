variable "name" {
  description = "Prefix for the demo resources (VPC, security group, roles, log group, ECR repository)."
  type        = string
  default     = "snooze-demo"
}

variable "cluster_name" {
  description = "ECS cluster to create; list it in the snooze module's `managed_clusters`."
  type        = string
  default     = "demo-cluster"
}

variable "service_name" {
  description = "ECS service to create; the record's `spec.target.ecs.service`."
  type        = string
  default     = "demo-svc"
}

variable "record_name" {
  description = "Name of this service's snooze record (its `name` key). The activity agent writes only this record (env SNOOZE_SERVICE)."
  type        = string
  default     = "demo"
}

variable "table_name" {
  description = "snooze record table (env SNOOZE_TABLE of the agent)."
  type        = string
}

variable "table_arn" {
  description = "ARN of the snooze record table; the task role may update only `lastActivityAt` of `record_name` in it."
  type        = string
}

variable "image_tag" {
  description = "Tag of the demo image in this module's ECR repository: the commit SHA the release workflow built and pushed."
  type        = string
}

variable "app_port" {
  description = "TCP port the demo app listens on in the task (env PORT of the app, SNOOZE_PORT of the agent)."
  type        = number
  default     = 8080
}

variable "agent_interval" {
  description = "How often the activity agent counts connections (env SNOOZE_AGENT_INTERVAL, humantime: `15s`)."
  type        = string
  default     = "15s"

  validation {
    condition     = can(regex("^[0-9]+(ms|s|m)$", var.agent_interval))
    error_message = "agent_interval is a duration like 15s."
  }
}

variable "agent_count" {
  description = "What the activity agent counts as activity (env SNOOZE_AGENT_COUNT): `moved`, connections that moved data since its previous sample (idle keep-alive connections and load-balancer health checks do not count; ADR 0008), or `established`, every established connection (ADR 0003)."
  type        = string
  default     = "moved"

  validation {
    condition     = contains(["moved", "established"], var.agent_count)
    error_message = "agent_count is moved or established."
  }
}

variable "agent_debounce" {
  description = "Activity writes closer together than this are skipped (env SNOOZE_AGENT_DEBOUNCE, humantime). Keep it well below the record's idleTimeout (at least 1m)."
  type        = string
  default     = "30s"

  validation {
    condition     = can(regex("^[0-9]+(ms|s)$", var.agent_debounce))
    error_message = "agent_debounce is a duration under a minute, like 30s."
  }
}

variable "allowed_ingress_cidrs" {
  description = "Who may reach the app port on the task's public IP. The demo is public by design; narrow it for internal tools."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "route_mode" {
  description = "Route mode (ADR 0007): the service behind the shared load balancer (a target group in its loadBalancers, the app port open to the load balancer only). A plain bool known at plan time (it drives `count`); needs `load_balancer_security_group_id` and `load_balancer_listener_arn`."
  type        = bool
  default     = false
}

variable "load_balancer_listener_arn" {
  description = "Route mode: the shared load balancer's HTTPS listener (module route-alb's `listener_arn`). The service's target group is attached to it by a rule that matches nothing, because ECS accepts a target group in loadBalancers only once a load balancer uses it, and snooze's own rule for the host appears only after the first pass."
  type        = string
  default     = ""
}

variable "load_balancer_security_group_id" {
  description = "Route mode (ADR 0007): the shared load balancer's security group (module route-alb's `security_group_id`). When set, the service gets a target group (type ip, health check on /health) in its loadBalancers and its tasks admit the app port from that group; empty: redirect mode, visitors reach the task's public IP (`allowed_ingress_cidrs`)."
  type        = string
  default     = ""
}

variable "vpc_cidr" {
  description = "CIDR of the demo VPC (one public /24 subnet per zone is carved from it)."
  type        = string
  default     = "10.42.0.0/16"
}

variable "availability_zone_suffixes" {
  description = "Zones of the public subnets, as letters after the region name (one /24 subnet each)."
  type        = list(string)
  default     = ["a", "b"]
}

variable "cpu" {
  description = "Task CPU units (Fargate)."
  type        = number
  default     = 256
}

variable "memory" {
  description = "Task memory in MiB (Fargate)."
  type        = number
  default     = 512
}

variable "cpu_architecture" {
  description = "Task CPU architecture; the release workflow builds the image for ARM64."
  type        = string
  default     = "ARM64"
}

variable "log_retention_days" {
  description = "Retention of the task log group, in days."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for the task log group (the snooze module's `kms_key_arn` output, whose key policy lets CloudWatch Logs use it); null: CloudWatch Logs' own encryption."
  type        = string
  nullable    = true
}

variable "table_kms_key_arn" {
  description = "The customer managed KMS key encrypting the record table (the snooze module's `table_kms_key_arn` output); the task role may use it through DynamoDB only. null when the table uses an AWS owned key."
  type        = string
  nullable    = true
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
