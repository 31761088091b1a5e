from __future__ import annotations

import hashlib
import io
import json
import logging
import subprocess
import sys

from functions.credits.ids import new_account_id, new_entry_id, new_key_id
from functions.observability.logs import REDACTED, build_service_logger, redact
from functions.shared.api_keys import generate_api_key


def test_keys_and_digests_are_redacted_and_ids_are_kept() -> None:
    key = generate_api_key()
    digest = hashlib.sha256(key.encode()).hexdigest()
    ids = [
        new_account_id(),
        new_key_id(),
        new_entry_id(),
        "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ==",
    ]
    text = f"key={key} digest={digest} upper={digest.upper()} pk=keydigest#{digest} ids={' '.join(ids)}"
    cleaned = redact(text)
    assert key not in cleaned
    assert digest not in cleaned.lower()
    assert cleaned.count(REDACTED) == 4
    for identifier in ids:
        assert identifier in cleaned


def test_a_link_token_is_redacted() -> None:
    token = "eml_" + "A" * 43
    assert redact(f"link={token}") == f"link={REDACTED}"


def test_catalog_logs_inside_the_credits_lambda_share_its_json_correlation_id_and_redaction() -> None:
    stream = io.StringIO()
    service_logger = build_service_logger(
        "credits-routing-test", routed_packages=("tests.routed_catalog",), stream=stream
    )
    service_logger.set_correlation_id("api-request-1")
    digest = hashlib.sha256(b"secret").hexdigest()

    logging.getLogger("tests.routed_catalog.access").warning("catalog unavailable for %s", digest)

    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["message"] == f"catalog unavailable for {REDACTED}"
    assert line["correlation_id"] == "api-request-1"
    assert line["service"] == "credits-routing-test"
    assert digest not in stream.getvalue()


def test_the_cdk_app_can_read_the_names_without_building_powertools() -> None:
    probe = (
        "import sys, functions.observability.names as names; "
        "assert names.CREDITS_SERVICE_NAME == 'credits'; "
        "assert not any(module.startswith('aws_lambda_powertools') for module in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
