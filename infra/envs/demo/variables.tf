variable "region" {
  description = "AWS region for everything in this environment."
  type        = string
  default     = "eu-west-1"
}

variable "image_tag" {
  description = "Commit SHA of the demo image to run (pushed by the release workflow; the cd workflow sets it)."
  type        = string
}

variable "domain_name" {
  description = "Optional custom domain for the wake endpoint."
  type        = string
  default     = null
}

variable "certificate_arn" {
  description = "ACM certificate for `domain_name`."
  type        = string
  default     = null
}

variable "wake_reserved_concurrency" {
  description = "Reserved concurrency of the wake Lambda (module snooze's variable of the same name, default 20); null reserves none. AWS lets an account reserve only its concurrency quota minus 100 in total (see README.md, step 6)."
  type        = number
  default     = 20
  nullable    = true
}

variable "reconciler_reserved_concurrency" {
  description = "Reserved concurrency of the reconciler Lambda (module snooze's variable of the same name, default 1); null reserves none (see README.md, step 6)."
  type        = number
  default     = 1
  nullable    = true
}

variable "alarm_actions" {
  description = "SNS topic ARNs notified by the alarms."
  type        = list(string)
  default     = []
}

variable "github_repository" {
  description = "GitHub repository (`owner/name`) whose release and ops workflows get OIDC roles; null creates none."
  type        = string
  default     = null
}

variable "create_github_oidc_provider" {
  description = "Create the account's GitHub OIDC provider (false when the account already has one)."
  type        = bool
  default     = true
}

variable "route_host" {
  description = "Route mode (ADR 0007): the demo service's stable HTTPS host, e.g. `demo.example.com`. Empty (default): redirect mode. When set, a shared load balancer is created (module route-alb), the demo service goes behind it, and the reconciler switches its rule; give the record `spec.routing` (README.md, route mode) and point the host's DNS at the output `route_dns_name`."
  type        = string
  default     = ""
}

variable "route_certificate_arn" {
  description = "ACM certificate (this region) covering `route_host`; required with it."
  type        = string
  default     = ""

  validation {
    condition     = var.route_certificate_arn == "" || can(regex("^arn:aws[a-z-]*:acm:", var.route_certificate_arn))
    error_message = "route_certificate_arn is an ACM certificate ARN, or empty."
  }
}

variable "route_deletion_protection" {
  description = "Deletion protection on the shared load balancer of route mode (module route-alb). Set false and apply before turning route mode off (README.md, route mode)."
  type        = bool
  default     = true
}
