"""cdk-nag AwsSolutions: nothing unsuppressed, and no suppression without a finding behind it."""

from __future__ import annotations

import re
import types
from pathlib import Path
from typing import Any

import aws_cdk
import pytest

from stacks import nag
from tests.infra.conftest import CUSTOM_ORIGIN_CONTEXT, synthesize

# One finding of the validation failure message (errors and warnings alike):
#   ERROR <description> (AwsSolutions)
#      <construct path> <construct type>
#      Acknowledge with 'AwsSolutions::<finding id>'
FINDING = re.compile(
    r"(?:ERROR|WARNING) .*\(AwsSolutions\)\n\s+(?P<path>\S+) \S+\n"
    r"\s+Acknowledge with 'AwsSolutions::(?P<id>[^']+)'",
)


class _ValidationsWithoutAcknowledgments:
    """Validations whose acknowledge() does nothing: the synth then reports every finding."""

    @staticmethod
    def of(scope: Any) -> types.SimpleNamespace:
        validations = aws_cdk.Validations.of(scope)
        return types.SimpleNamespace(add_plugins=validations.add_plugins, acknowledge=lambda *_rules: None)


@pytest.mark.parametrize(
    ("overrides", "account"),
    [({}, None), (CUSTOM_ORIGIN_CONTEXT, None), ({}, "123456789012")],
    # With credentials (cdk deploy) the CLI sets CDK_DEFAULT_ACCOUNT and ARNs carry the literal account.
    ids=["s3", "custom", "s3-with-account"],
)
def test_every_suppression_matches_a_finding_and_every_finding_is_suppressed(
    overrides: dict[str, Any], account: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if account is None:
        monkeypatch.delenv("CDK_DEFAULT_ACCOUNT", raising=False)
    else:
        monkeypatch.setenv("CDK_DEFAULT_ACCOUNT", account)
    monkeypatch.setattr(nag, "Validations", _ValidationsWithoutAcknowledgments)
    first_new = len(nag.ACKNOWLEDGED_FINDINGS)
    with pytest.raises(RuntimeError, match="ValidationFailed") as raised:
        synthesize(overrides, tmp_path)
    acknowledged = nag.ACKNOWLEDGED_FINDINGS[first_new:]
    findings = [(match["id"], match["path"]) for match in FINDING.finditer(str(raised.value))]
    assert len(findings) >= 20

    def covers(acknowledgment: tuple[str, str, str], finding: tuple[str, str]) -> bool:
        scope_path, finding_id, _reason = acknowledgment
        rule, construct_path = finding
        return finding_id == rule and (construct_path + "/").startswith(scope_path + "/")

    unsuppressed = [finding for finding in findings if not any(covers(ack, finding) for ack in acknowledged)]
    assert unsuppressed == []
    unused = [ack for ack in acknowledged if not any(covers(ack, finding) for finding in findings)]
    assert unused == [], "\n".join(f"{path} {finding}" for path, finding, _reason in unused)
    assert all(len(reason) >= 20 for _path, _finding, reason in acknowledged)


def test_acknowledging_without_a_reason_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a real reason"):
        nag.acknowledge(aws_cdk.App(), "AwsSolutions-S1", "because")
