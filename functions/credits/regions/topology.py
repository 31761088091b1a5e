"""Where every region's credits live, as one credits Lambda is told (issue 15 wiring).

``EDGEMETER_CREDITS_REGIONS`` (JSON, set by the stacks and the local runtime) names home, each
credits region's credits table, and where a credits region finds home's credits table:

    {"home": "eu-west-1",
     "credits_tables": {"us-east-1": "edgemeter-credits-us-east-1", ...},
     "home_credits_table": "<name>"              # known: home itself, the local runtime
     "home_credits_table_parameter": "/edgemeter/<deployment>/home-credits-table"}  # deployed regions

Deployed, a credits region cannot be told home's table name at synth: home's stack is deployed
after the regions (it bakes their API URLs into the edge settings), so the name would be a cycle.
Home writes it into an SSM parameter of a fixed name in its own region; a region reads it once,
on its first cross-region call.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from functions.credits.settings import CreditsSettingsError
from functions.shared.aws_regions import AWS_REGION_PATTERN
from functions.shared.environment_variables import EDGEMETER_CREDITS_REGIONS

_REGION = Annotated[str, Field(pattern=AWS_REGION_PATTERN)]
_TABLE = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{3,255}$")]


class RegionsTopology(BaseModel):
    """Home and the credits regions; each credits region's credits table by name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    home: _REGION
    credits_tables: dict[_REGION, _TABLE] = Field(min_length=1, max_length=8)
    home_credits_table: _TABLE | None = None
    home_credits_table_parameter: str | None = Field(default=None, pattern=r"^/[A-Za-z0-9_.\-/]{1,1000}$")

    @model_validator(mode="after")
    def _home_is_not_a_credits_region(self) -> RegionsTopology:
        if self.home in self.credits_tables:
            raise ValueError("home is not listed among the credits regions")
        if self.home_credits_table is None and self.home_credits_table_parameter is None:
            raise ValueError("home's credits table needs a name or the parameter that holds it")
        return self

    @property
    def regions(self) -> tuple[str, ...]:
        """Home first, then the credits regions in the order given."""
        return (self.home, *self.credits_tables)


def topology_from_environment(environ: Mapping[str, str] | None = None) -> RegionsTopology | None:
    """None without regional credits; a clear ``CreditsSettingsError`` for a malformed value."""
    raw = (os.environ if environ is None else environ).get(EDGEMETER_CREDITS_REGIONS)
    if not raw:
        return None
    try:
        return RegionsTopology.model_validate(json.loads(raw))
    except (json.JSONDecodeError, ValidationError) as error:
        raise CreditsSettingsError(f"{EDGEMETER_CREDITS_REGIONS} is invalid: {error}") from None
