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
  description = "Reserved concurrency of the wake Lambda (module snooze's variable of the same name, default 20); -1 reserves none, for accounts whose Lambda concurrency quota is below 31 (see README.md, step 6)."
  type        = number
  default     = 20
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
