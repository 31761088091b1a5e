"""Where `make run` sends account events: the events log by default, a webhook when configured."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from functions.account_events.publishers import JsonLinesPublisher, WebhookPublisher
from local.config import LocalConfig, build_config
from local.events import local_events_destination, local_publisher


def test_by_default_events_go_to_the_log_in_the_data_dir(tmp_path: Path) -> None:
    config = LocalConfig(data_dir=tmp_path)
    publisher = local_publisher(config)
    assert isinstance(publisher, JsonLinesPublisher)
    assert publisher.path == tmp_path / "events.jsonl"
    assert "edgemeter events --follow" in local_events_destination(config)


def test_the_webhook_flag_sends_them_to_the_url(tmp_path: Path) -> None:
    config = build_config(None, {"events_webhook_url": "http://127.0.0.1:9999/hook", "data_dir": tmp_path})
    assert isinstance(local_publisher(config), WebhookPublisher)
    assert local_events_destination(config) == "POST http://127.0.0.1:9999/hook"


@pytest.mark.parametrize("url", ["not a url", "ftp://example.com/hook"])
def test_a_webhook_that_is_not_an_http_url_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="events_webhook_url"):
        LocalConfig(events_webhook_url=url)
