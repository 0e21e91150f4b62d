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
