# A VPC with two public subnets and no NAT gateway: tasks get a public IP and reach ECR,
# DynamoDB and CloudWatch over the internet gateway (the replaced system chose the same, to
# avoid the NAT gateway's hourly cost for a service that is asleep most of the time).

# Pinned by name, so the subnets never move when AWS adds a zone to the region.
data "aws_availability_zones" "available" {
  state = "available"
  filter {
    name   = "zone-name"
    values = [for s in var.availability_zone_suffixes : "${data.aws_region.current.region}${s}"]
  }
}

resource "aws_vpc" "demo" {
  #checkov:skip=CKV2_AWS_11:No flow logs on the demo VPC: it holds one mostly sleeping demo task and flow logs cost per GB; enable them where the VPC carries real traffic.
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(local.tags, { Name = var.name })
}

# Nothing may use the default security group.
resource "aws_default_security_group" "demo" {
  vpc_id = aws_vpc.demo.id
  tags   = merge(local.tags, { Name = "${var.name}-default-unused" })
}

resource "aws_internet_gateway" "demo" {
  vpc_id = aws_vpc.demo.id
  tags   = merge(local.tags, { Name = var.name })
}

resource "aws_subnet" "public" {
  count                   = length(var.availability_zone_suffixes)
  vpc_id                  = aws_vpc.demo.id
  cidr_block              = cidrsubnet(var.vpc_cidr, 8, count.index)
  availability_zone       = data.aws_availability_zones.available.names[count.index]
  map_public_ip_on_launch = false # the ECS service asks for a public IP per task instead
  tags                    = merge(local.tags, { Name = "${var.name}-public-${count.index}" })
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.demo.id
  tags   = merge(local.tags, { Name = "${var.name}-public" })
}

resource "aws_route" "internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.demo.id
}

resource "aws_route_table_association" "public" {
  count          = length(var.availability_zone_suffixes)
  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

resource "aws_security_group" "task" {
  name        = "${var.name}-task"
  description = "snooze demo task: the app port in, HTTPS out"
  vpc_id      = aws_vpc.demo.id
  tags        = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "app" {
  for_each          = toset(var.allowed_ingress_cidrs)
  security_group_id = aws_security_group.task.id
  description       = "visitors redirected to the task by the wake endpoint"
  ip_protocol       = "tcp"
  from_port         = var.app_port
  to_port           = var.app_port
  cidr_ipv4         = each.value
  tags              = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "from_load_balancer" {
  count                        = local.route_mode ? 1 : 0
  security_group_id            = aws_security_group.task.id
  description                  = "route mode: the shared load balancer (visitors and its health checks)"
  ip_protocol                  = "tcp"
  from_port                    = var.app_port
  to_port                      = var.app_port
  referenced_security_group_id = var.load_balancer_security_group_id
  tags                         = local.tags
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.task.id
  description       = "ECR image pulls, DynamoDB (activity agent) and CloudWatch Logs over the internet gateway"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
  tags              = local.tags
}
