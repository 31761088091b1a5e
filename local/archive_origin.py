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

Like S3, it sends event notifications (to an ``event_sink``: locally, the objects catalog's own
S3-event handler code, functions/catalog/s3_events.py): ``ObjectCreated:Put``/``Copy``/
``CompleteMultipartUpload`` and ``ObjectRemoved:Delete`` after a successful write,
``ObjectRestore:Post`` when a simulated restore starts, ``ObjectRestore:Completed`` when it
finishes (a timer: no request has to arrive for it) and ``ObjectRestore:Delete`` when the
restored copy's days are over. Events are delivered in order on one background thread, as
S3 delivers them asynchronously.

Every S3 request is counted per method and key (tests prove that requests did *not* reach the
origin). Counters and restores are read and driven under ``/_archive_origin/`` (an invalid bucket
name, so it never shadows S3): ``GET stats``, ``POST reset``, ``POST complete-restores``.

HTTP is handled by werkzeug (request parsing, the threaded server) and moto; this module
only decides. The local runtime serves it through local/origin_server.py; tests start
``ArchiveOriginServer``.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import queue
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
# Receives one S3 event notification document, ``{"Records": [...]}``.
S3EventSink = Callable[[dict[str, Any]], Any]

logger = logging.getLogger("edgemeter.local.origin")

CONTROL_PREFIX = "/_archive_origin/"
# moto picks the emulated service from the SigV4 credential scope; internal calls carry one that
# names s3 (moto does not verify signatures, so nothing is signed).
_INTERNAL_AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0"
)
_DEFAULT_RESTORE_DAYS = 1
_SECONDS_PER_DAY = 86_400
# Query parameters that make a PUT something other than a new object (a part, an ACL, tags...).
_SUBRESOURCES = frozenset({"acl", "tagging", "retention", "legal-hold", "partNumber", "uploadId", "restore"})


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


def s3_event_record(
    event_name: str,
    bucket: str,
    key: str,
    *,
    sequencer: str,
    size: int | None = None,
    etag: str | None = None,
    restore_expires_at: datetime | None = None,
) -> dict[str, Any]:
    """One record of an S3 event notification, in S3's documented shape (event version 2.1)."""
    s3_object: dict[str, Any] = {"key": urllib.parse.quote_plus(key, safe="/"), "sequencer": sequencer}
    if size is not None:
        s3_object["size"] = size
    if etag is not None:
        s3_object["eTag"] = etag
    record: dict[str, Any] = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "eventName": event_name,
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": s3_object,
        },
    }
    if restore_expires_at is not None:
        expiry = restore_expires_at.isoformat(timespec="seconds").replace("+00:00", "Z")
        record["glacierEventData"] = {
            "restoreEventData": {
                "lifecycleRestorationExpiryTime": expiry,
                "lifecycleRestoreStorageClass": "Standard",
            }
        }
    return record


class S3EventNotifier:
    """Delivers event notifications to a sink in order, on one background thread."""

    def __init__(self, sink: S3EventSink) -> None:
        self._sink = sink
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self._sequencer = itertools.count(1)
        self._thread = threading.Thread(target=self._deliver, name="s3-events", daemon=True)
        self._thread.start()

    def next_sequencer(self) -> str:
        # S3's sequencers are hex strings that only compare within a key; one counter suffices.
        return f"{next(self._sequencer):016X}"

    def publish(self, record: dict[str, Any]) -> None:
        self._queue.put({"Records": [record]})

    def wait_until_delivered(self) -> None:
        """Block until every published event went to the sink (tests, orderly shutdown)."""
        self._queue.join()

    def _deliver(self) -> None:
        while True:
            event = self._queue.get()
            try:
                self._sink(event)
            except Exception:
                logger.exception("s3 event delivery failed for %s", event["Records"][0]["eventName"])
            finally:
                self._queue.task_done()


class ArchiveRestoreSimulator:
    """WSGI middleware in front of moto's S3 application (see the module docstring)."""

    def __init__(
        self,
        app: WsgiApp,
        *,
        restore_seconds: float | Mapping[str, float],
        clock: Callable[[], float] = time.monotonic,
        event_sink: S3EventSink | None = None,
    ) -> None:
        self._app = app
        self._restore_seconds = restore_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], PendingRestore] = {}
        self.counts = OriginRequestCounts()
        self.notifier = S3EventNotifier(event_sink) if event_sink is not None else None

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
        event_name = _write_event_name(request) if self.notifier is not None else None
        if event_name is not None:
            return self._app(environ, self._notifying(start_response, event_name, bucket, key, request))
        return self._app(environ, start_response)

    def _notifying(
        self, start_response: StartResponse, event_name: str, bucket: str, key: str, request: Request
    ) -> StartResponse:
        """``start_response`` that publishes ``event_name`` once the write succeeded."""

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if status.startswith("2") and self.notifier is not None:
                etag = next((value for name, value in headers if name.lower() == "etag"), None)
                size = request.content_length if event_name == "ObjectCreated:Put" else None
                self.notifier.publish(
                    s3_event_record(
                        event_name,
                        bucket,
                        key,
                        sequencer=self.notifier.next_sequencer(),
                        size=size,
                        etag=etag.strip('"') if etag else None,
                    )
                )
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        return start

    def _publish(self, event_name: str, pending: PendingRestore, expires_at: datetime | None = None) -> None:
        if self.notifier is None:
            return
        self.notifier.publish(
            s3_event_record(
                event_name,
                pending.bucket,
                pending.key,
                sequencer=self.notifier.next_sequencer(),
                restore_expires_at=expires_at,
            )
        )

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
        self._finish_restore(pending)

    def _complete_on_time(self, pending: PendingRestore) -> None:
        """The restore's timer: S3 finishes a restore whether or not anyone asks for the object."""
        with self._lock:
            if self._pending.get((pending.bucket, pending.key)) is not pending:
                return  # completed by a request, or replaced by a new object, in the meantime
            del self._pending[(pending.bucket, pending.key)]
        self._finish_restore(pending)

    def _finish_restore(self, pending: PendingRestore) -> None:
        self._tell_moto_restored(pending)
        if self.notifier is None:
            return
        expires_at = datetime.now(UTC) + timedelta(days=pending.days)
        self._publish("ObjectRestore:Completed", pending, expires_at)
        # The restored copy lasts ``days``; then S3 says ObjectRestore:Delete.
        _start_timer(pending.days * _SECONDS_PER_DAY, self._publish, ("ObjectRestore:Delete", pending))

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
                pending = PendingRestore(
                    bucket=bucket, key=key, tier=tier, days=days, started_at=now, ready_at=now + delay
                )
                self._pending[(bucket, key)] = pending
        if simulate:
            self._publish("ObjectRestore:Post", pending)
            _start_timer(delay, self._complete_on_time, (pending,))
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


def _write_event_name(request: Request) -> str | None:
    """The ObjectCreated/ObjectRemoved event a successful request would cause, if any."""
    subresources = _SUBRESOURCES & set(request.args)
    if request.method == "PUT" and not subresources:
        return "ObjectCreated:Copy" if "x-amz-copy-source" in request.headers else "ObjectCreated:Put"
    if request.method == "POST" and subresources == {"uploadId"}:
        return "ObjectCreated:CompleteMultipartUpload"
    if request.method == "DELETE" and not subresources:
        return "ObjectRemoved:Delete"
    return None


def _start_timer(seconds: float, function: Callable[..., Any], arguments: tuple[Any, ...]) -> None:
    timer = threading.Timer(seconds, function, arguments)
    timer.daemon = True  # a restore still running when the origin stops simply never finishes
    timer.start()


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


def build_archive_origin_app(
    restore_seconds: float | Mapping[str, float], event_sink: S3EventSink | None = None
) -> ArchiveRestoreSimulator:
    """moto's S3 application behind the restore simulator, notifying ``event_sink`` of changes."""
    moto_app: WsgiApp = DomainDispatcherApplication(create_backend_app)
    return ArchiveRestoreSimulator(moto_app, restore_seconds=restore_seconds, event_sink=event_sink)


class ArchiveOriginServer:
    """The archive origin on a background thread, bound to loopback; a context manager for tests."""

    def __init__(
        self,
        *,
        restore_seconds: float | Mapping[str, float] = 0.0,
        port: int = 0,
        event_sink: S3EventSink | None = None,
    ) -> None:
        self.app = build_archive_origin_app(restore_seconds, event_sink)
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
