variable "name" {
  description = "Name of the load balancer and the prefix of its other resources, e.g. `snooze-routes`."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the load balancer and of the route-mode services' tasks."
  type        = string
}

variable "subnet_ids" {
  description = "Public subnets of the load balancer, in at least two availability zones."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "An Application Load Balancer needs subnets in at least two availability zones."
  }
}

variable "certificate_arn" {
  description = "ACM certificate (same region) for the HTTPS listener: it must cover every route-mode host (`spec.routing.host`), e.g. a wildcard `*.preview.example.com`."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN in this region (route mode needs HTTPS)."
  }
}

variable "wake_function_name" {
  description = "Name of the wake Lambda (module snooze's output `wake_function_name`), for its invoke permission."
  type        = string
}

variable "wake_function_arn" {
  description = "ARN of the wake Lambda (module snooze's output `wake_function_arn`): the listener's default action, for every host without a rule of its own and every asleep route-mode host."
  type        = string
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener (TLS 1.3 and 1.2 only by default)."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "access_logs_bucket" {
  description = "S3 bucket for the load balancer's access logs (its bucket policy must allow the regional ELB account to write). Empty: no access logs."
  type        = string
  default     = ""
}

variable "deletion_protection" {
  description = "Deletion protection on the load balancer (route-mode addresses stop working while it is gone)."
  type        = bool
  default     = true
}

variable "idle_timeout_seconds" {
  description = "How long the load balancer keeps an idle client connection open; a long-lived stream (SSE, WebSocket) must send something more often than this."
  type        = number
  default     = 120
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
