"""Locally, signed links point at the local CDN on whatever host and port it was given."""

from __future__ import annotations

from functions.credits.settings import settings_from_env
from local.config import LocalConfig
from local.credits_environment import credits_handler_environment


def test_the_local_credits_handler_makes_links_for_the_local_cdn() -> None:
    config = LocalConfig.model_validate({"cdn_port": 18080})
    settings = settings_from_env(credits_handler_environment(config))
    assert settings.cdn_base_url == "http://127.0.0.1:18080"
