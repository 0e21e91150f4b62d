variable "name" {
  description = "Prefix of the role names (`<name>-release`, `<name>-ops`)."
  type        = string
  default     = "snooze-github"
}

variable "github_repository" {
  description = "The GitHub repository (`owner/name`) whose workflows may assume the roles."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be owner/name."
  }
}

variable "create_oidc_provider" {
  description = "Create the account's GitHub OIDC provider (token.actions.githubusercontent.com). Set false when the account already has one (an account can have only one per URL)."
  type        = bool
  default     = true
}

variable "ecr_repository_arn" {
  description = "ECR repository the release workflow pushes the demo image to."
  type        = string
}

variable "table_arn" {
  description = "The snooze record table the ops workflow reads and writes wake/sleep facts in."
  type        = string
}

variable "table_kms_key_arn" {
  description = "The customer managed KMS key encrypting the record table (the snooze module's `table_kms_key_arn` output); the ops role may use it through DynamoDB only. null when the table uses an AWS owned key."
  type        = string
  nullable    = true
}

variable "ops_environment" {
  description = "GitHub environment the ops workflow's job runs in (only that environment's jobs may assume the ops role)."
  type        = string
  default     = "demo"
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
