"""The edge's credits client with the HTTP API's URL (issue 14 §6).

The HTTP API serves the edge routes on its ``$default`` stage, at the API's root: the baked URL has
no stage segment, and the URL the edge signs and sends is the route's path on the bare host.
"""

from __future__ import annotations

import pytest

from functions.edge_auth.credits_client import AUTHORIZE_PATH, REFUNDS_PATH, HttpCreditsTransport


@pytest.mark.parametrize(
    ("base_url", "path", "expected"),
    [
        (
            "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/",
            AUTHORIZE_PATH,
            "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/v1/authorize",
        ),
        (
            "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
            REFUNDS_PATH,
            "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/v1/refunds",
        ),
        # A REST stage URL (the billing API, or an edge baked before the move) keeps its stage.
        (
            "https://f6g7h8i9j0.execute-api.eu-west-1.amazonaws.com/live/",
            AUTHORIZE_PATH,
            "https://f6g7h8i9j0.execute-api.eu-west-1.amazonaws.com/live/v1/authorize",
        ),
    ],
)
def test_the_signed_url_is_the_route_on_the_apis_root(base_url: str, path: str, expected: str) -> None:
    assert HttpCreditsTransport(base_url).url_for(path) == expected
