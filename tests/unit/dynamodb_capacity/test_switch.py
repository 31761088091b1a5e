"""The environment switch ``make run``'s credits workers read: off unless asked for."""

from __future__ import annotations

import botocore.session
import pytest

from local.dynamodb_capacity import layer as capacity_layer
from local.dynamodb_capacity.layer import BURST_VARIABLE, SCALE_VARIABLE, install_from_environment


@pytest.mark.parametrize("environment", [{}, {SCALE_VARIABLE: ""}, {SCALE_VARIABLE: "off"}])
def test_the_layer_is_off_unless_a_scale_is_given(environment: dict[str, str]) -> None:
    create_client = botocore.session.Session.create_client
    assert install_from_environment(environment) is None
    assert botocore.session.Session.create_client is create_client


def test_a_scale_switches_it_on_for_the_process() -> None:
    create_client = botocore.session.Session.create_client
    layer = install_from_environment({SCALE_VARIABLE: "1/100", BURST_VARIABLE: "0.5"})
    try:
        assert layer is not None
        assert layer.limits is not None
        assert (layer.limits.write_units_per_second, layer.limits.burst_seconds) == (10.0, 0.5)
        assert botocore.session.Session.create_client is not create_client
    finally:
        capacity_layer._installed.pop().__exit__(None, None, None)
    assert botocore.session.Session.create_client is create_client
