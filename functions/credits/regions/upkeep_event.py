"""The scheduled event that runs home's regional upkeep (issue 15): one constant the stacks and the
handler share. Kept apart from the runtime, so the CDK app imports no service code to name it."""

from __future__ import annotations

# An EventBridge rule's constant input: invoke home's credits function with it once a minute.
REGIONAL_UPKEEP_EVENT: dict[str, str] = {"edgemeter": "regional_upkeep"}


def is_regional_upkeep_event(event: object) -> bool:
    return isinstance(event, dict) and event.get("edgemeter") == REGIONAL_UPKEEP_EVENT["edgemeter"]
