"""The local S3 origin: moto's S3 server, plus a fault-injection prefix for tests.

Run as a child of `local.run` (``python -m local.origin_server``). It is
moto's own WSGI application (what ``ThreadedMotoServer`` serves) behind the
restore simulator of local/archive_origin.py (restores of archived objects take
``restore_seconds``; S3 event notifications go to the local objects catalog), on a
threaded werkzeug server bound to loopback, wrapped in one more small middleware: a request
for ``/<bucket>/<fault_prefix><status>/...`` answers ``<status>`` with an S3
error document instead of reaching moto. That is how the refund-on-origin-5xx
path is exercised end to end without a second server. moto keeps objects in
memory, so `local.run` re-seeds the demo objects on every start.
"""

from __future__ import annotations

import re
import signal
import sys
from collections.abc import Callable, Iterable
from http import HTTPStatus
from types import FrameType
from typing import Any

from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.serving import make_server

from local.archive_origin import S3EventSink, build_archive_origin_app
from local.catalog_environment import local_catalog_settings
from local.config import LocalConfig, config_from_env

StartResponse = Callable[..., Any]
_FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class FaultInjectingOrigin:
    """WSGI middleware: keys under ``fault_prefix<status>/`` fail with that status."""

    def __init__(self, app: WsgiApp, *, bucket: str, fault_prefix: str) -> None:
        self._app = app
        self._pattern = re.compile(
            rf"^/{re.escape(bucket)}/{re.escape(fault_prefix)}(?P<status>[1-5]\d\d)(/|$)"
        )

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        match = self._pattern.match(environ.get("PATH_INFO", ""))
        if match is None:
            if environ.get("REQUEST_METHOD") == "PUT" and environ.get("CONTENT_TYPE", "").startswith(
                _FORM_CONTENT_TYPES
            ):
                # moto parses form-typed bodies as forms and stores an empty object; S3 stores the
                # bytes. curl --data-binary sends this type by default, so keep the bytes intact.
                environ["CONTENT_TYPE"] = "application/octet-stream"
            return self._app(environ, start_response)
        status = int(match["status"])
        # Drain the upload so the client sees the status, not a reset connection.
        body_stream = environ.get("wsgi.input")
        remaining = int(environ.get("CONTENT_LENGTH") or 0)
        while body_stream is not None and remaining > 0:
            chunk = body_stream.read(min(remaining, 1024 * 1024))
            if not chunk:
                break
            remaining -= len(chunk)
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Injected"
        document = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>InjectedFault</Code><Message>local origin fault injection: {status}</Message>"
            f"<Resource>{environ.get('PATH_INFO', '')}</Resource></Error>"
        ).encode()
        start_response(
            f"{status} {phrase}",
            [("Content-Type", "application/xml"), ("Content-Length", str(len(document)))],
        )
        return [document]


def build_app(config: LocalConfig) -> WsgiApp:
    """moto's S3, behind the restore simulator (archived objects take time to restore), behind faults.

    With the objects catalog on, the origin's event notifications go to the catalog's own
    S3-event handler code, as the bucket's notifications reach the catalog Lambda in AWS.
    """
    archive_origin: WsgiApp = build_archive_origin_app(config.restore_seconds, catalog_event_sink(config))
    return FaultInjectingOrigin(archive_origin, bucket=config.bucket, fault_prefix=config.fault_prefix)


def catalog_event_sink(config: LocalConfig) -> S3EventSink | None:
    """``CatalogEventApplier.handle`` on the local catalog (DynamoDB Local), or None when it is off."""
    settings = local_catalog_settings(config)
    if settings is None:
        return None
    # Imported here: pynamodb and boto3 are slow to import, and only the catalog needs them.
    from functions.catalog.dynamodb_store import DynamoObjectCatalog, bind_objects_table  # noqa: PLC0415
    from functions.catalog.origin import S3ArchiveOrigin  # noqa: PLC0415
    from functions.catalog.s3_events import CatalogEventApplier  # noqa: PLC0415

    bind_objects_table(settings)
    applier = CatalogEventApplier(DynamoObjectCatalog(), S3ArchiveOrigin(settings), settings)
    return applier.handle


def serve(config: LocalConfig) -> None:
    server = make_server(
        config.host, config.origin_port, build_app(config), threaded=True, request_handler=MotoRequestHandler
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()


def main() -> None:
    serve(config_from_env())
    sys.exit(0)


if __name__ == "__main__":
    main()
