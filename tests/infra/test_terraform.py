"""The Terraform parses and has the properties the design relies on (DESIGN.md §2, §6, §7):
the things that, if someone "simplified" them, would break snooze in production rather than
fail a plan."""

from __future__ import annotations

import json
import re

import pytest

import tf

SNOOZE = tf.module("modules/snooze")
DEMO = tf.module("modules/demo-service")
ENV = tf.module("envs/demo")


@pytest.mark.parametrize("path", tf.tf_files(), ids=lambda p: str(p.relative_to(tf.INFRA)))
def test_every_tf_file_parses(path):
    tf.parse_file(path)


def test_there_is_terraform_to_check():
    dirs = {p.parent.relative_to(tf.INFRA).as_posix() for p in tf.tf_files()}
    assert {"modules/snooze", "modules/demo-service", "envs/demo"} <= dirs, dirs


def test_record_table():
    t = SNOOZE.resource("aws_dynamodb_table", "records")
    assert t["hash_key"] == "name" and "range_key" not in t
    assert t["attribute"] == [{"name": "name", "type": "S"}]
    assert t["billing_mode"] == "PAY_PER_REQUEST"
    assert tf.one(t["point_in_time_recovery"])["enabled"] is True
    # Encrypted either way: with the customer managed key when there is one, else (enabled =
    # false) with DynamoDB's AWS owned key.
    sse = tf.one(t["server_side_encryption"])
    assert sse["enabled"] == "${length(local.kms_key_arns) > 0}" and sse["kms_key_arn"] == "${one(local.kms_key_arns)}"
    assert t["stream_enabled"] is True and t["stream_view_type"] == "NEW_AND_OLD_IMAGES"
    assert SNOOZE.resource("aws_kms_key", "snooze")["enable_key_rotation"] is True


# --- the KMS choice (issue 19): keys AWS holds by default, a customer managed key as an input ---

KMS_KEYS = "${one(local.kms_key_arns)}"


def test_kms_key_is_a_module_input_off_by_default():
    """No key is created unless asked ($1 a month); a team's own key can be given instead; not
    both."""
    create, given = SNOOZE.variables["create_kms_key"], SNOOZE.variables["kms_key_arn"]
    assert create["default"] is False and given["default"] is None
    for rtype in ("aws_kms_key", "aws_kms_alias"):
        assert SNOOZE.resource(rtype, "snooze")["count"] == "${var.create_kms_key ? 1 : 0}", rtype
    assert SNOOZE.locals["kms_key_arns"] == (
        "${var.create_kms_key ? [aws_kms_key.snooze[0].arn] : (var.kms_key_arn == null ? [] : [var.kms_key_arn])}"
    )
    table = SNOOZE.resource("aws_dynamodb_table", "records")
    cond = tf.one(tf.one(table["lifecycle"])["precondition"])["condition"]
    assert "var.create_kms_key" in cond and "var.kms_key_arn != null" in cond, cond


def test_every_encrypted_resource_takes_the_key_choice():
    """Every resource that a key encrypts takes it from local.kms_key_arns (null without one,
    which each of them reads as "the service's own key"), and nothing else names the key."""
    uses = {
        ("aws_dynamodb_table", "records"): None,  # checked in test_record_table
        ("aws_sqs_queue", "reconciler_failures"): "kms_master_key_id",
        ("aws_cloudwatch_log_group", "wake"): "kms_key_id",
        ("aws_cloudwatch_log_group", "reconciler"): "kms_key_id",
        ("aws_cloudwatch_log_group", "api_access"): "kms_key_id",
        ("aws_lambda_function", "wake"): "kms_key_arn",
        ("aws_lambda_function", "reconciler"): "kms_key_arn",
    }
    for (rtype, name), arg in uses.items():
        if arg:
            assert SNOOZE.resource(rtype, name)[arg] == KMS_KEYS, (rtype, name)
    # Without a key the queue uses SSE-SQS; with one, the provider must not see both.
    queue = SNOOZE.resource("aws_sqs_queue", "reconciler_failures")
    assert queue["sqs_managed_sse_enabled"] == "${length(local.kms_key_arns) > 0 ? null : true}"
    # No other resource names a key: a new one must make the same choice.
    for rtype, named in SNOOZE.resources.items():
        for name, res in named.items():
            for value in tf.all_strings(res):
                if (rtype, name) in (("aws_kms_alias", "snooze"),):
                    continue
                assert "aws_kms_key." not in value, f"{rtype}.{name} names the key directly: {value}"
    assert SNOOZE.outputs["kms_key_arn"]["value"] == KMS_KEYS
    assert SNOOZE.outputs["table_kms_key_arn"]["value"] == KMS_KEYS
    # The demo task's log group follows the module's choice (null: CloudWatch Logs' encryption).
    assert DEMO.variables["kms_key_arn"].get("nullable", True) is True
    assert ENV.modules["demo_service"]["kms_key_arn"] == "${module.snooze.kms_key_arn}"


@pytest.mark.parametrize("name", ["wake", "reconciler"])
def test_lambdas(name):
    fn = SNOOZE.resource("aws_lambda_function", name)
    assert fn["runtime"] == "provided.al2023" and fn["architectures"] == ["arm64"]
    log = tf.one(fn["logging_config"])["log_group"]
    assert log == f"${{aws_cloudwatch_log_group.{name}.name}}"
    group = SNOOZE.resource("aws_cloudwatch_log_group", name)
    assert group["name"] == f"/aws/lambda/${{local.{name}_function_name}}"
    assert group["retention_in_days"] == "${var.log_retention_days}"
    assert tf.one(fn["tracing_config"])["mode"] == '${var.xray_tracing ? "Active" : "PassThrough"}'


def test_reconciler_runs_one_pass_at_a_time_within_its_timeout():
    fn = SNOOZE.resource("aws_lambda_function", "reconciler")
    # By default; null (no reservation) is allowed, see test_reserved_concurrency_* below.
    assert fn["reserved_concurrent_executions"] == "${var.reconciler_reserved_concurrency}"
    assert SNOOZE.variables["reconciler_reserved_concurrency"]["default"] == 1
    budget = SNOOZE.variables["pass_budget_seconds"]["default"]
    timeout = SNOOZE.variables["reconciler_timeout_seconds"]["default"]
    assert budget + 30 <= timeout, "the requeue budget must stay well under the function timeout"
    esm = SNOOZE.resource("aws_lambda_event_source_mapping", "stream")
    assert esm.get("parallelization_factor", 1) == 1


def test_stream_trigger():
    esm = SNOOZE.resource("aws_lambda_event_source_mapping", "stream")
    assert esm["event_source_arn"] == "${aws_dynamodb_table.records.stream_arn}"
    assert esm["function_response_types"] == ["ReportBatchItemFailures"]
    assert esm["bisect_batch_on_function_error"] is True
    retries = SNOOZE.variables["stream_maximum_retry_attempts"]["default"]
    assert esm["maximum_retry_attempts"] == "${var.stream_maximum_retry_attempts}" and 0 <= retries <= 10
    assert 0 < esm["maximum_record_age_in_seconds"] <= 86400
    dest = tf.one(tf.one(esm["destination_config"])["on_failure"])["destination_arn"]
    assert dest == "${aws_sqs_queue.reconciler_failures.arn}"
    assert SNOOZE.resource("aws_sqs_queue", "reconciler_failures")["kms_master_key_id"]


def stream_filters() -> list[dict]:
    esm = SNOOZE.resource("aws_lambda_event_source_mapping", "stream")
    return [tf.jsonencode_arg(f["pattern"]) for f in tf.one(esm["filter_criteria"])["filter"]]


def matches(pattern, event) -> bool:
    """EventBridge-style matching, enough for the patterns used here (values, exists, prefix)."""
    for key, want in pattern.items():
        if isinstance(want, dict):
            if not isinstance(event.get(key), dict) or not matches(want, event[key]):
                return False
            continue
        got = event.get(key)
        ok = False
        for w in want:
            if isinstance(w, dict) and "exists" in w:
                ok |= (got is not None) == w["exists"]
            elif isinstance(w, dict) and "prefix" in w:
                ok |= isinstance(got, str) and got.startswith(w["prefix"])
            else:
                ok |= got == w
        if not ok:
            return False
    return True


def stream_record(event_name: str, new: dict | None) -> dict:
    rec = {"eventName": event_name, "dynamodb": {"Keys": {"name": {"S": "demo"}}}}
    if new is not None:
        rec["dynamodb"]["NewImage"] = new
    return rec


def test_stream_filter_admits_record_changes_and_removals():
    filters = stream_filters()
    record = {"name": {"S": "demo"}, "apiVersion": {"S": "snooze/v1"}, "spec": {"M": {}}}
    admitted = lambda r: any(matches(f, r) for f in filters)  # noqa: E731
    assert admitted(stream_record("INSERT", record))
    assert admitted(stream_record("MODIFY", {**record, "wakeRequestedAt": {"S": "2026-11-29T10:00:00.000Z"}}))
    assert admitted(stream_record("REMOVE", None))
    assert not admitted(stream_record("MODIFY", {"name": {"S": "x"}, "other": {"S": "y"}})), "items that are not records"


def test_triggers():
    sched = SNOOZE.resource("aws_cloudwatch_event_rule", "schedule")
    assert sched["schedule_expression"] == "${var.schedule_expression}"
    assert SNOOZE.variables["schedule_expression"]["default"] == "rate(1 minute)"
    ecs = SNOOZE.resource("aws_cloudwatch_event_rule", "ecs_task_state")
    pattern = tf.jsonencode_arg(ecs["event_pattern"])
    assert pattern["source"] == ["aws.ecs"] and pattern["detail-type"] == ["ECS Task State Change"]
    assert pattern["detail"]["clusterArn"] == "${local.cluster_arns}"
    svc = SNOOZE.resource("aws_cloudwatch_event_rule", "ecs_service_action")
    pattern = tf.jsonencode_arg(svc["event_pattern"])
    assert pattern["source"] == ["aws.ecs"] and pattern["detail-type"] == ["ECS Service Action"]
    assert pattern["detail"]["clusterArn"] == "${local.cluster_arns}"
    for rule in ("schedule", "ecs_task_state", "ecs_service_action"):
        target = SNOOZE.resource("aws_cloudwatch_event_target", rule)
        assert target["arn"] == "${aws_lambda_function.reconciler.arn}"
    perms = SNOOZE.resources["aws_lambda_permission"]
    assert all("source_arn" in p for p in perms.values()), "every invoke permission is scoped to its source"


def test_phase_change_events_go_to_the_configured_bus_only():
    """The reconciler publishes to var.event_bus_name (its env var), may PutEvents on that bus
    only and with source snooze only; the rule to SNS exists only when a topic is given."""
    fn = SNOOZE.resource("aws_lambda_function", "reconciler")
    assert tf.env_vars(fn)["SNOOZE_EVENT_BUS"] == "${var.event_bus_name}"
    assert SNOOZE.variables["event_bus_name"]["default"] == "default"
    bus = SNOOZE.locals["event_bus_arns"]
    assert "var.event_bus_name" in bus and ":event-bus/" in bus, bus
    puts = [st for st in tf.statements(SNOOZE.policy_document("reconciler")) if "events:PutEvents" in st["actions"]]
    assert len(puts) == 1, puts
    put = puts[0]
    assert put["actions"] == ["events:PutEvents"] and put["resources"] == ["${statement.value}"], put
    assert put["condition"] == [{"test": "StringEquals", "variable": "events:source", "values": ["snooze"]}], put
    dyn = [d for d in SNOOZE.policy_document("reconciler")["dynamic"] if "events:PutEvents" in str(d)]
    assert tf.one(dyn[0]["statement"])["for_each"] == "${local.event_bus_arns}"
    # The optional rule: off by default (no topic), every snooze event when on.
    assert SNOOZE.variables["events_sns_topic_arn"]["default"] is None
    assert "var.events_sns_topic_arn != null" in SNOOZE.locals["events_to_sns"]
    rule = SNOOZE.resource("aws_cloudwatch_event_rule", "phase_changes_to_sns")
    assert rule["count"] == "${local.events_to_sns ? 1 : 0}"
    assert rule["event_bus_name"] == "${var.event_bus_name}"
    pattern = tf.jsonencode_arg(rule["event_pattern"])
    code = (tf.ROOT / "controller/src/reconcile/events.rs").read_text()
    consts = dict(re.findall(r'pub const (SOURCE|DETAIL_TYPE): &str = "([^"]+)";', code))
    assert pattern == {"source": [consts["SOURCE"]], "detail-type": [consts["DETAIL_TYPE"]]}, (pattern, consts)
    target = SNOOZE.resource("aws_cloudwatch_event_target", "phase_changes_to_sns")
    assert target["count"] == rule["count"] and target["arn"] == "${var.events_sns_topic_arn}"
    assert target["event_bus_name"] == "${var.event_bus_name}"


def test_api_stage_logs_and_throttles():
    stage = SNOOZE.resource("aws_apigatewayv2_stage", "default")
    assert tf.one(stage["access_log_settings"])["destination_arn"] == "${aws_cloudwatch_log_group.api_access.arn}"
    throttle = tf.one(stage["default_route_settings"])
    assert throttle["throttling_burst_limit"] and throttle["throttling_rate_limit"]


def test_alarms_are_the_three_that_should_wake_someone():
    """Issue 19: each alarm costs $0.10 a month; three stay (alarms.tf says why the others
    went): the wake Lambda failing, the failure queue, failures inside reconcile passes."""
    alarms = SNOOZE.resources["aws_cloudwatch_metric_alarm"]
    assert set(alarms) == {"wake_errors", "failed_stream_batches", "reconcile_errors"}
    wake = alarms["wake_errors"]
    assert (wake["namespace"], wake["metric_name"]) == ("AWS/Lambda", "Errors")
    assert tf.one(wake["dimensions"]) == {"FunctionName": "${aws_lambda_function.wake.function_name}"}
    # Reconcile failures never fail the invocation, so AWS/Lambda Errors cannot see them: the
    # reconciler's own total, by Function, is alarmed. It is emitted only when something
    # failed, so a period without it is a period without failures.
    errors = alarms["reconcile_errors"]
    assert errors["namespace"] == "${local.metric_namespace}" and errors["metric_name"] == "Errors"
    assert set(tf.one(errors["dimensions"])) == {"Function"}
    assert (errors["statistic"], errors["comparison_operator"], errors["threshold"]) == ("Sum", "GreaterThanThreshold", 0)
    assert errors["treat_missing_data"] == "notBreaching"
    for a in alarms.values():
        assert a["alarm_actions"] == "${var.alarm_actions}" and a["ok_actions"] == "${var.alarm_actions}"


def test_failed_async_events_are_retried_then_dead_lettered():
    # The reconciler fails an ECS task event it cannot look up; Lambda retries it, then the
    # function's dead-letter queue (watched by the failures alarm) receives it.
    invoke = SNOOZE.resource("aws_lambda_function_event_invoke_config", "reconciler")
    assert invoke["function_name"] == "${aws_lambda_function.reconciler.function_name}"
    assert invoke["maximum_retry_attempts"] >= 1
    fn = SNOOZE.resource("aws_lambda_function", "reconciler")
    assert tf.one(fn["dead_letter_config"])["target_arn"] == "${aws_sqs_queue.reconciler_failures.arn}"
    watched = SNOOZE.resource("aws_cloudwatch_metric_alarm", "failed_stream_batches")
    assert tf.one(watched["dimensions"])["QueueName"] == "${aws_sqs_queue.reconciler_failures.name}"


def test_outputs_and_variables():
    assert {"wake_url", "table_name", "wake_function_name", "reconciler_function_name"} <= set(SNOOZE.outputs)
    assert {"name", "table_name", "managed_clusters", "schedule_expression", "log_retention_days", "domain_name"} <= set(SNOOZE.variables)
    for mod in (SNOOZE, DEMO, ENV):
        for name, v in mod.variables.items():
            assert v.get("description"), f"{mod.path.name}: variable {name} has no description"
        for name, o in mod.outputs.items():
            assert o.get("description"), f"{mod.path.name}: output {name} has no description"


def test_settings_the_env_readme_tells_users_to_set_are_variables_of_the_env():
    """A `name = value` the README asks for must be a variable of envs/demo (a tfvars entry for
    anything else is rejected as undeclared)."""
    readme = (ENV.path / "README.md").read_text()
    told = set(re.findall(r"(?:set|`)\s*`?([a-z][a-z0-9_]*) = [^`]*`", readme))
    told -= {"desired_count", "ignore_changes"}  # quoted from the demo-service module, not settings
    assert told, "the README names no setting: has its wording changed?"
    assert told <= set(ENV.variables), f"not variables of envs/demo: {sorted(told - set(ENV.variables))}"
    snooze_inputs = {k for k in ENV.modules["snooze"] if not k.startswith("source")}
    for name in told & set(SNOOZE.variables):
        assert name in snooze_inputs, f"envs/demo declares {name} but does not pass it to module snooze"


def test_demo_service_starts_asleep_and_terraform_never_fights_the_controller():
    svc = DEMO.resource("aws_ecs_service", "demo")
    assert svc["desired_count"] == 0
    assert tf.one(svc["lifecycle"])["ignore_changes"] == ["${desired_count}"] or tf.one(svc["lifecycle"])["ignore_changes"] == ["desired_count"]
    net = tf.one(svc["network_configuration"])
    assert net["assign_public_ip"] is True, "public subnets without NAT: tasks need a public IP"
    assert svc["launch_type"] == "FARGATE"


def test_demo_network_has_no_nat():
    assert "aws_nat_gateway" not in DEMO.resources
    assert DEMO.resource("aws_route", "internet")["gateway_id"] == "${aws_internet_gateway.demo.id}"


def test_demo_task_definition():
    td = DEMO.resource("aws_ecs_task_definition", "demo")
    assert td["network_mode"] == "awsvpc" and td["requires_compatibilities"] == ["FARGATE"]
    assert td["task_role_arn"] != td["execution_role_arn"]
    containers = {c["name"]: c for c in tf.container_definitions(td)}
    app, agent = containers["app"], containers["activity-agent"]
    assert app["healthCheck"]["command"] == ["CMD", "/usr/local/bin/snooze-demo-app", "--healthcheck"]
    assert app["essential"] is True and agent["essential"] is False, "the agent must never take the task down"
    assert agent["image"] == app["image"], "the agent is snoozectl from the same image"
    assert agent["entryPoint"] + agent["command"] == ["/usr/local/bin/snoozectl", "agent"]
    assert app["portMappings"][0]["containerPort"] == "${var.app_port}"
    env = {e["name"]: e["value"] for e in agent["environment"]}
    assert env["SNOOZE_PORT"] == env_of(app)["PORT"] == "${tostring(var.app_port)}"


def env_of(container: dict) -> dict:
    return {e["name"]: e["value"] for e in container.get("environment", [])}


def test_demo_ecr_tags_are_immutable():
    repo = DEMO.resource("aws_ecr_repository", "demo")
    assert repo["image_tag_mutability"] == "IMMUTABLE"
    assert tf.one(repo["image_scanning_configuration"])["scan_on_push"] is True


def test_env_composes_both_modules_and_has_a_backend_example():
    assert ENV.modules["snooze"]["source"] == "../../modules/snooze"
    assert ENV.modules["demo_service"]["source"] == "../../modules/demo-service"
    assert ENV.modules["snooze"]["managed_clusters"] == ["${module.demo_service.cluster_name}"]
    text = (tf.INFRA / "envs/demo/versions.tf").read_text()
    assert re.search(r'^\s*#\s*backend "s3" \{', text, re.M) and "dynamodb_table" in text


def test_demo_record_item_is_created_once():
    item = ENV.resource("aws_dynamodb_table_item", "demo")
    assert item["hash_key"] == "name"
    assert tf.one(item["lifecycle"])["ignore_changes"] in (["${item}"], ["item"]), (
        "Terraform would overwrite status and wake facts on every apply"
    )
    json.dumps(tf.jsonencode_arg(item["item"]))


# --- reserved concurrency (issue 13 class 13) ---------------------------------------------------

# AWS: an account may reserve, over all its functions, at most its concurrency quota minus 100
# (the unreserved pool never drops below 100;
# https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html).
UNRESERVED_MINIMUM = 100
RESERVATIONS = {"wake": "wake_reserved_concurrency", "reconciler": "reconciler_reserved_concurrency"}


@pytest.mark.parametrize("fn,var", sorted(RESERVATIONS.items()))
def test_reserved_concurrency_is_an_input_that_null_switches_off(fn, var):
    """Both reservations come from a variable (a hard-coded one makes a low-quota account
    unable to apply), null means none (the provider's unset value), and envs/demo exposes it."""
    assert SNOOZE.resource("aws_lambda_function", fn)["reserved_concurrent_executions"] == f"${{var.{var}}}"
    v = SNOOZE.variables[var]
    assert v["type"] in ("number", "${number}") and v.get("nullable", True) is True, v
    assert isinstance(v["default"], int) and v["default"] >= 1, v
    cond = tf.one(v["validation"])["condition"]
    assert f"var.{var} == null" in cond, f"{var}: null must pass the validation: {cond}"
    assert "null" in v["description"], f"{var}: the description must say what null does"
    env_var = ENV.variables[var]
    assert env_var.get("nullable", True) is True and env_var["default"] == v["default"], env_var
    assert ENV.modules["snooze"][var] == f"${{var.{var}}}"


def test_readmes_state_the_real_reservation_rule():
    """The quota the READMEs ask for is what AWS's rule gives for the defaults, and the old,
    wrong arithmetic (10 kept unreserved, a quota of 31) is gone."""
    reserved = sum(SNOOZE.variables[v]["default"] for v in RESERVATIONS.values())
    quota = reserved + UNRESERVED_MINIMUM
    for path in (ENV.path / "README.md", SNOOZE.path / "README.md"):
        text = " ".join(path.read_text().split())
        assert "minus 100" in text and f"at least {quota}" in text, f"{path}: must state quota - 100 and the quota {quota}"
        for var in RESERVATIONS.values():
            assert f"{var} = null" in text, f"{path}: must say how to switch {var} off"
        assert "at least 31" not in text and "at least 10 unreserved" not in text, path
        assert "compare-and-swap" in text, f"{path}: must say what keeps overlapping passes safe"
