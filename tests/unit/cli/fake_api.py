"""A fake credits API behind httpx.MockTransport: canned replies by (method, path), requests kept."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from typer.testing import CliRunner, Result

from cli.main import app

Reply = tuple[int, dict[str, Any]] | Callable[[httpx.Request], tuple[int, dict[str, Any]]]


@dataclass
class FakeCreditsApi:
    replies: dict[tuple[str, str], Reply] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def reply(self, method: str, path: str, status: int, document: dict[str, Any]) -> None:
        self.replies[(method, path)] = (status, document)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        canned = self.replies.get((request.method, request.url.path))
        if canned is None:
            status, document = 404, {"error": {"code": "not_found", "message": "no such route"}}
        elif callable(canned):
            status, document = canned(request)
        else:
            status, document = canned
        return httpx.Response(status, json=document)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)

    def invoke(self, *arguments: str, input_text: str | None = None) -> Result:
        return CliRunner().invoke(app, list(arguments), obj=self.transport, input=input_text)


def error(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **details}}
