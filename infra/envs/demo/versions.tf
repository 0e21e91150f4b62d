terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }

  # Remote state: fill in and uncomment before the first `terraform apply` shared by a team or
  # run by the cd workflow (local state on a CI runner is lost after the run).
  # The bucket (versioned, encrypted) and the lock table (key `LockID`, type S) must exist.
  #
  # backend "s3" {
  #   bucket         = "REPLACE-ME-terraform-state"
  #   key            = "snooze/demo/terraform.tfstate"
  #   region         = "eu-west-1"
  #   encrypt        = true
  #   dynamodb_table = "REPLACE-ME-terraform-locks"
  # }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      project     = "snooze"
      environment = "demo"
    }
  }
}
