"""The us-east-1 stack that holds the Lambda@Edge functions (Lambda@Edge is only created there)."""

from __future__ import annotations

from aws_cdk import Environment, Stack
from constructs import Construct

from stacks.settings import EDGE_REGION


class EdgemeterEdgeStack(Stack):
    """Filled by ``EdgeFunction``s of the main stack (their ``stack_id`` names this stack).

    Deployed before the main stack, which reads the functions' version ARNs across regions.
    """

    def __init__(self, scope: Construct, construct_id: str, *, account: str | None, stack_name: str) -> None:
        super().__init__(
            scope,
            construct_id,
            stack_name=stack_name,
            env=Environment(account=account, region=EDGE_REGION),
            description="edgemeter Lambda@Edge functions (us-east-1)",
        )
