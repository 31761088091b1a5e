"""An archive-capable local S3 origin: moto's S3, with restores that take time.

moto emulates S3's archive classes (a GET of a GLACIER/DEEP_ARCHIVE object is 403
InvalidObjectState until restored) but its RestoreObject finishes at once. This WSGI
middleware sits in front of moto's own application and makes a restore take a configured
time, so the in-progress state is exercised for real:

* RestoreObject (``POST /bucket/key?restore``) of an archived object that is neither restored
  nor being restored answers 202 and starts the clock; moto is only told (and the copy becomes
  readable) once the delay has passed;
* while it runs: another RestoreObject answers 409 ``RestoreAlreadyInProgress``; GET stays 403
  InvalidObjectState (moto's own answer); HEAD carries ``x-amz-restore: ongoing-request="true"``;
* afterwards moto answers as S3 does: GET 200, HEAD ``ongoing-request="false", expiry-date=...``,
  RestoreObject 200.

Every S3 request is counted per method and key (tests prove that requests did *not* reach the
origin). Counters and restores are read and driven under ``/_archive_origin/`` (an invalid bucket
name, so it never shadows S3): ``GET stats``, ``POST reset``, ``POST complete-restores``.

HTTP is handled by werkzeug (request parsing, the threaded server) and moto; this module
only decides. The local runtime serves it through local/origin_server.py; tests start
``ArchiveOriginServer``.
"""

from __future__ import annotations

import io
import json
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from xml.etree import ElementTree

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.datastructures import Headers
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.test import EnvironBuilder, run_wsgi_app
from werkzeug.wrappers import Request, Response

from functions.catalog.entries import ARCHIVE_STORAGE_CLASSES
from local.processes import LOOPBACK, free_port

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

CONTROL_PREFIX = "/_archive_origin/"
# moto picks the emulated service from the SigV4 credential scope; internal calls carry one that
# names s3 (moto does not verify signatures, so nothing is signed).
_INTERNAL_AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0"
)
_DEFAULT_RESTORE_DAYS = 1


@dataclass
class PendingRestore:
    bucket: str
    key: str
    tier: str
    days: int
    started_at: float
    ready_at: float


@dataclass
class OriginRequestCounts:
    """Requests that reached the origin (S3 operations only, not the control endpoints)."""

    total: int = 0
    by_method: Counter[str] = field(default_factory=Counter)
    by_key: Counter[str] = field(default_factory=Counter)
    restore_requests: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "by_method": dict(self.by_method),
            "by_key": dict(self.by_key),
            "restore_requests": dict(self.restore_requests),
        }


def _s3_error(status: int, code: str, message: str, resource: str) -> Response:
    error = ElementTree.Element("Error")
    for name, text in (("Code", code), ("Message", message), ("Resource", resource)):
        ElementTree.SubElement(error, name).text = text
    body = ElementTree.tostring(error, encoding="utf-8", xml_declaration=True)
    return Response(body, status=status, content_type="application/xml")


class ArchiveRestoreSimulator:
    """WSGI middleware in front of moto's S3 application (see the module docstring)."""

    def __init__(
        self,
        app: WsgiApp,
        *,
        restore_seconds: float | Mapping[str, float],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._app = app
        self._restore_seconds = restore_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], PendingRestore] = {}
        self.counts = OriginRequestCounts()

    # ------------------------------------------------------------------ configuration

    def restore_delay(self, tier: str) -> float:
        if isinstance(self._restore_seconds, Mapping):
            return float(self._restore_seconds.get(tier, self._restore_seconds.get("Standard", 0.0)))
        return float(self._restore_seconds)

    # ------------------------------------------------------------------ WSGI

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        if request.path.startswith(CONTROL_PREFIX):
            return self._control(request)(environ, start_response)
        bucket, _, key = request.path.lstrip("/").partition("/")
        if not bucket or not key:
            return self._app(environ, start_response)
        self._count(request.method, key, is_restore="restore" in request.args)
        self._complete_if_due(bucket, key)
        if request.method == "POST" and "restore" in request.args:
            body = request.get_data()
            # The body was read here; moto must be able to read it again if it gets the request.
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            return self._restore_object(body, bucket, key)(environ, start_response)
        if request.method in {"PUT", "DELETE"}:
            with self._lock:
                # A new object (or none) under the key: the old one's restore no longer matters.
                self._pending.pop((bucket, key), None)
        if request.method == "HEAD" and self._is_pending(bucket, key):
            return self._app(environ, self._with_ongoing_restore(start_response))
        return self._app(environ, start_response)

    def _count(self, method: str, key: str, *, is_restore: bool) -> None:
        with self._lock:
            self.counts.total += 1
            self.counts.by_method[method] += 1
            self.counts.by_key[key] += 1
            if is_restore:
                self.counts.restore_requests[key] += 1

    def _is_pending(self, bucket: str, key: str) -> bool:
        with self._lock:
            return (bucket, key) in self._pending

    @staticmethod
    def _with_ongoing_restore(start_response: StartResponse) -> StartResponse:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if status.startswith("200"):
                headers = [(name, value) for name, value in headers if name.lower() != "x-amz-restore"]
                headers.append(("x-amz-restore", 'ongoing-request="true"'))
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        return start

    # ------------------------------------------------------------------ talking to moto directly

    def _call_moto(
        self, method: str, bucket: str, key: str, *, query: str = "", body: bytes = b""
    ) -> Response:
        builder = EnvironBuilder(
            method=method,
            path=f"/{bucket}/{urllib.parse.quote(key)}",
            query_string=query,
            data=body,
            headers=Headers({"Authorization": _INTERNAL_AUTHORIZATION, "Host": LOOPBACK}),
        )
        try:
            app_iter, status, headers = run_wsgi_app(self._app, builder.get_environ(), buffered=True)
            payload = b"".join(app_iter)
        finally:
            builder.close()
        return Response(payload, status=status, headers=Headers(headers))

    def _tell_moto_restored(self, pending: PendingRestore) -> None:
        restore = ElementTree.Element("RestoreRequest")
        ElementTree.SubElement(restore, "Days").text = str(pending.days)
        body = ElementTree.tostring(restore, encoding="utf-8")
        self._call_moto("POST", pending.bucket, pending.key, query="restore", body=body)

    def _complete_if_due(self, bucket: str, key: str, *, force: bool = False) -> None:
        with self._lock:
            pending = self._pending.get((bucket, key))
            if pending is None or (not force and self._clock() < pending.ready_at):
                return
            del self._pending[(bucket, key)]
        self._tell_moto_restored(pending)

    def complete_all_restores(self) -> int:
        with self._lock:
            due = list(self._pending)
        for bucket, key in due:
            self._complete_if_due(bucket, key, force=True)
        return len(due)

    # ------------------------------------------------------------------ RestoreObject

    def _restore_object(self, body: bytes, bucket: str, key: str) -> Response | WsgiApp:
        tier, days = _parse_restore_request(body)
        resource = f"/{bucket}/{key}"
        # A full-state check of the object, through moto: exists? archive class? restored copy?
        head = self._call_moto("HEAD", bucket, key)
        storage_class = head.headers.get("x-amz-storage-class", "STANDARD")
        already_restored = 'ongoing-request="false"' in head.headers.get("x-amz-restore", "")
        delay = self.restore_delay(tier)
        with self._lock:
            if (bucket, key) in self._pending:
                return _s3_error(
                    409, "RestoreAlreadyInProgress", "Object restore is already in progress", resource
                )
            simulate = (
                head.status_code == 200
                and storage_class in ARCHIVE_STORAGE_CLASSES
                and not already_restored
                and delay > 0
            )
            if simulate:
                now = self._clock()
                self._pending[(bucket, key)] = PendingRestore(
                    bucket=bucket, key=key, tier=tier, days=days, started_at=now, ready_at=now + delay
                )
        if simulate:
            return Response(b"", status=202)
        # Everything else is moto's to answer (404, InvalidObjectState, 200 already restored, 202).
        return self._app

    # ------------------------------------------------------------------ control endpoints

    def _control(self, request: Request) -> Response:
        action = request.path.removeprefix(CONTROL_PREFIX).strip("/")
        if action == "stats" and request.method == "GET":
            with self._lock:
                document = {
                    **self.counts.as_json(),
                    "pending_restores": sorted(f"{bucket}/{key}" for bucket, key in self._pending),
                }
            return Response(json.dumps(document), content_type="application/json")
        if action == "reset" and request.method == "POST":
            with self._lock:
                self.counts = OriginRequestCounts()
            return Response(b"{}", content_type="application/json")
        if action == "complete-restores" and request.method == "POST":
            completed = self.complete_all_restores()
            return Response(json.dumps({"completed": completed}), content_type="application/json")
        return Response(b'{"error":"unknown control action"}', status=404, content_type="application/json")


def _parse_restore_request(body: bytes) -> tuple[str, int]:
    """Tier and Days of a RestoreRequest document (S3's defaults when absent)."""
    tier, days = "Standard", _DEFAULT_RESTORE_DAYS
    if not body:
        return tier, days
    try:
        root = ElementTree.fromstring(body)  # noqa: S314 - loopback test server, the body comes from our own clients
    except ElementTree.ParseError:
        return tier, days
    for element in root.iter():
        name = element.tag.rsplit("}", 1)[-1]
        if name == "Tier" and element.text:
            tier = element.text.strip()
        elif name == "Days" and element.text and element.text.strip().isdigit():
            days = int(element.text.strip())
    return tier, days


def build_archive_origin_app(restore_seconds: float | Mapping[str, float]) -> ArchiveRestoreSimulator:
    """moto's S3 application behind the restore simulator."""
    moto_app: WsgiApp = DomainDispatcherApplication(create_backend_app)
    return ArchiveRestoreSimulator(moto_app, restore_seconds=restore_seconds)


class ArchiveOriginServer:
    """The archive origin on a background thread, bound to loopback; a context manager for tests."""

    def __init__(self, *, restore_seconds: float | Mapping[str, float] = 0.0, port: int = 0) -> None:
        self.app = build_archive_origin_app(restore_seconds)
        self.port = port or free_port()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> ArchiveOriginServer:
        self._server = make_server(
            LOOPBACK, self.port, self.app, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="archive-origin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> ArchiveOriginServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
