"""Contract: the HTTP API Terraform builds from infra/api/openapi.yaml serves exactly the
router's routes, each integrated with the wake Lambda, and the file uses only the template
variables modules/snooze passes to `templatefile`.

Routes in the code: the `ROUTES` table of the wake router (`controller/src/wake/route.rs`),
which its router registers.
"""

from __future__ import annotations

import re

import pytest
import yaml

import rust_src
import tf

OPENAPI = tf.INFRA / "api" / "openapi.yaml"
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace", "x-amazon-apigateway-any-method"}


def openapi_text() -> str:
    if not OPENAPI.exists():
        pytest.fail(f"{OPENAPI.relative_to(rust_src.ROOT)} does not exist")
    return OPENAPI.read_text()


def template_vars(text: str) -> set[str]:
    """`${...}` interpolations templatefile would evaluate (`$${` is a literal `${`)."""
    return set(re.findall(r"(?<!\$)\$\{\s*([^}]*?)\s*\}", text))


def rendered() -> dict:
    """The OpenAPI document with every template variable replaced by a stand-in value."""
    text = openapi_text()
    for v in template_vars(text):
        text = re.sub(r"(?<!\$)\$\{\s*" + re.escape(v) + r"\s*\}", f"TF-{v}", text)
    return yaml.safe_load(text.replace("$${", "${"))


def test_template_variables_are_passed_by_terraform():
    used = template_vars(openapi_text())
    passed = set(tf.module("modules/snooze").locals["openapi_vars"])
    assert used, "the OpenAPI file references no Lambda ARN: where would API Gateway send requests?"
    assert used <= passed, f"templatefile would fail: {sorted(used - passed)} not in openapi_vars {sorted(passed)}"
    assert passed <= used, f"openapi_vars passes {sorted(passed - used)}, which the OpenAPI file never uses"


def wake_lambda_vars() -> set[str]:
    """Template variables whose value is the wake Lambda's ARN or invoke ARN."""
    return {
        k for k, v in tf.module("modules/snooze").locals["openapi_vars"].items()
        if re.fullmatch(r"\$\{aws_lambda_function\.wake\.(arn|invoke_arn)\}", v)
    }


def test_api_is_built_from_the_openapi_file():
    api = tf.module("modules/snooze").resource("aws_apigatewayv2_api", "wake")
    assert api["protocol_type"] == "HTTP"
    assert api["body"] == "${templatefile(local.openapi_file, local.openapi_vars)}"
    assert tf.module("modules/snooze").locals["openapi_file"] == "${path.module}/../../api/openapi.yaml"


def router_routes() -> set[tuple[str, str]]:
    src = rust_src.code("controller/src/wake")
    m = re.search(r"\bROUTES\s*:\s*&\[\(&str,\s*&str\)\]\s*=\s*&\[(.*?)\];", src, re.S)
    assert m, "controller/src/wake has no `ROUTES: &[(&str, &str)]` table"
    routes = set(re.findall(r'\(\s*"([A-Z]+)"\s*,\s*"([^"]+)"\s*\)', m.group(1)))
    assert routes, "ROUTES is empty"
    return routes


def openapi_routes(doc: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in doc["paths"].items() for method in item if method in METHODS}


def test_openapi_routes_match_the_router():
    doc = rendered()
    api, code = openapi_routes(doc), router_routes()
    assert api == code, f"only in openapi.yaml: {sorted(api - code)}; only in the router: {sorted(code - api)}"


def test_every_operation_is_integrated_with_the_wake_lambda():
    doc = rendered()
    shared = doc.get("x-amazon-apigateway-integrations", {})
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            integ = op.get("x-amazon-apigateway-integration")
            assert integ, f"{method.upper()} {path}: no x-amazon-apigateway-integration"
            if "$ref" in integ:
                integ = shared[integ["$ref"].rsplit("/", 1)[1]]
            assert integ.get("type") == "aws_proxy", (path, method, integ)
            assert integ.get("httpMethod") == "POST", (path, method, integ)
            assert str(integ.get("payloadFormatVersion")) == "2.0", (path, method, integ)
            assert integ.get("uri") in {f"TF-{v}" for v in wake_lambda_vars()}, (path, method, integ)
            timeout_s = int(integ.get("timeoutInMillis", 30000)) / 1000
            assert wake_timeout() <= timeout_s, f"{method.upper()} {path}: the Lambda may run longer than API Gateway waits"


def wake_timeout() -> int:
    return tf.module("modules/snooze").variables["wake_timeout_seconds"]["default"]


def test_wait_fits_in_the_timeouts():
    """`?wait=N` is capped by SNOOZE_WAKE_MAX_WAIT, below the Lambda and integration timeouts."""
    mod = tf.module("modules/snooze")
    max_wait = mod.variables["wake_max_wait"]["default"]
    assert re.fullmatch(r"\d+s", max_wait) and int(max_wait[:-1]) + 2 <= wake_timeout() <= 29
