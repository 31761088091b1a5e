"""cdk-nag (AwsSolutions) wiring and the one helper every suppression goes through.

cdk-nag 3 runs as a CDK validation plugin: an unsuppressed finding fails the synth.
Each suppression names one finding (``AwsSolutions-IAM5[Resource::...]`` for a
single wildcard) on the narrowest construct, with the reason it is acceptable.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Stack, Token, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

# Every acknowledgment made during this synth: (construct path, finding id, reason).
ACKNOWLEDGED_FINDINGS: list[tuple[str, str, str]] = []


def acknowledge(scope: IConstruct, finding_id: str, reason: str) -> None:
    """Suppress one cdk-nag finding on ``scope`` (and its children) with a written reason."""
    if len(reason) < 20:
        raise ValueError(f"suppression of {finding_id} needs a real reason, got {reason!r}")
    Validations.of(scope).acknowledge(Acknowledgment(id=finding_id, reason=reason))
    ACKNOWLEDGED_FINDINGS.append((scope.node.path, finding_id, reason))


def enable_aws_solutions_checks(app: App) -> None:
    """Run the AwsSolutions pack during synth; any unsuppressed finding stops it."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def nag_partition(stack: Stack) -> str:
    """The partition as cdk-nag writes it in finding ids: a literal when CDK knows it."""
    return "<AWS::Partition>" if Token.is_unresolved(stack.partition) else stack.partition


def nag_account(stack: Stack) -> str:
    """The account as cdk-nag writes it: literal when the CLI has credentials (cdk deploy), else a Ref."""
    return "<AWS::AccountId>" if Token.is_unresolved(stack.account) else stack.account
