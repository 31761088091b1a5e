"""The Lambda functions: edge limits, the credits service's configuration, the catalog's wiring."""

from __future__ import annotations

import json
from typing import Any

from functions.credits.settings import ENVIRONMENT as CREDITS_ENVIRONMENT
from functions.credits.settings import PricingConfig
from stacks.constructs.object_catalog import CATALOG_EVENT_TYPES
from tests.infra.conftest import SynthesizedApp

CREDITS_HANDLER = "functions.credits.handler.lambda_handler"


def _functions(template_resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template_resources.items()
        if resource["Type"] == "AWS::Lambda::Function"
    }


def _edge_functions(app: SynthesizedApp) -> dict[str, dict[str, Any]]:
    return _functions(app.edge.to_json()["Resources"])


def _credits_function(app: SynthesizedApp) -> dict[str, Any]:
    (credits_function,) = [
        properties
        for properties in _functions(app.main.to_json()["Resources"]).values()
        if properties.get("Handler") == CREDITS_HANDLER
    ]
    return credits_function


def test_edge_functions_fit_lambda_at_edge_limits(custom_app: SynthesizedApp) -> None:
    functions = _edge_functions(custom_app)
    handlers = {properties["Handler"]: properties for properties in functions.values()}
    assert set(handlers) == {
        "functions.edge_auth.viewer_request.handler",
        "functions.edge_auth.origin_response.handler",
        "functions.origin_signer.origin_request.handler",
    }
    for handler, properties in handlers.items():
        assert "Environment" not in properties, handler  # Lambda@Edge has no environment variables
        assert "Layers" not in properties, handler
        assert "VpcConfig" not in properties, handler
        assert properties.get("Architectures", ["x86_64"]) == ["x86_64"], handler
        assert properties["Runtime"] == "python3.12", handler
    viewer = handlers["functions.edge_auth.viewer_request.handler"]
    assert viewer["MemorySize"] == 128
    assert viewer["Timeout"] <= 5
    assert handlers["functions.edge_auth.origin_response.handler"]["Timeout"] <= 30


def test_credits_function_is_configured_like_the_service_reads_it(s3_app: SynthesizedApp) -> None:
    properties = _credits_function(s3_app)
    variables = properties["Environment"]["Variables"]
    # Only variables the service's config knows (plus Powertools' and the catalog's own).
    assert set(variables) - set(CREDITS_ENVIRONMENT) <= {
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
        "EDGEMETER_CATALOG",
        "EDGEMETER_EDGE_ROLES",  # read by the edge routes' caller check (routes/edge_callers.py)
    }
    assert variables["EDGEMETER_EDGE_ROLES"] == (
        "Edgemeter-eu-west-1-viewer-request,Edgemeter-eu-west-1-origin-response"
    )
    assert PricingConfig.model_validate_json(variables["EDGEMETER_PRICING"]) == s3_app.settings.prices
    assert variables["EDGEMETER_USERS_TABLE"] == {"Ref": _logical_id(s3_app, "DataUsersTable")}
    assert variables["EDGEMETER_CREDITS_TABLE"] == {"Ref": _logical_id(s3_app, "DataCreditsTable")}
    assert properties["TracingConfig"] == {"Mode": "Active"}
    assert properties["Architectures"] == ["arm64"]
    assert properties["LoggingConfig"]["LogFormat"] == "JSON"


def _logical_id(app: SynthesizedApp, prefix: str) -> str:
    (logical_id,) = [
        logical_id
        for logical_id in app.main.find_resources("AWS::DynamoDB::Table")
        if logical_id.startswith(prefix)
    ]
    return logical_id


def test_catalog_is_wired_to_the_bucket_events_and_the_credits_function(s3_app: SynthesizedApp) -> None:
    variables = _credits_function(s3_app)["Environment"]["Variables"]
    assert "EDGEMETER_CATALOG" in variables
    (notifications,) = s3_app.main.find_resources("Custom::S3BucketNotifications").values()
    configurations = notifications["Properties"]["NotificationConfiguration"]["LambdaFunctionConfigurations"]
    # Every event kind functions/catalog/s3_events.py handles.
    assert {configuration["Events"][0] for configuration in configurations} == {
        "s3:ObjectCreated:*",
        "s3:ObjectRemoved:*",
        "s3:ObjectRestore:Post",
        "s3:ObjectRestore:Completed",
        "s3:ObjectRestore:Delete",
        "s3:LifecycleTransition",
        "s3:LifecycleExpiration:*",
        "s3:IntelligentTiering",
    }
    assert len(configurations) == len(CATALOG_EVENT_TYPES)
    queues = s3_app.main.find_resources("AWS::SQS::Queue")
    # The catalog's dead-letter queue (the account events have their own queue).
    (failed_events,) = [queue for logical_id, queue in queues.items() if logical_id.startswith("Catalog")]
    assert failed_events["Properties"]["SqsManagedSseEnabled"] is True


def test_custom_origin_deployment_has_no_catalog(custom_app: SynthesizedApp) -> None:
    variables = _credits_function(custom_app)["Environment"]["Variables"]
    assert "EDGEMETER_CATALOG" not in variables
    assert not custom_app.main.find_resources("Custom::S3BucketNotifications")
    assert json.dumps(custom_app.main.to_json()).count("functions.catalog.s3_events.handler") == 0
