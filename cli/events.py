"""`edgemeter events [--follow]`: the local runtime's account events, from its JSON-lines log.

`make run` appends every event (functions/account_events/events.py has the shape) to
``.local-data/events.jsonl`` unless it posts them to a webhook instead. Deployed, events go to
the EventBridge bus: subscribe with a rule (README) rather than this command.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.api_session import options_of, stdout
from cli.common import EXIT_FAILED, fail
from functions.account_events.events import EVENTS_LOG_FILE_NAME, EventType
from functions.shared.environment_variables import EDGEMETER_EVENTS_LOG

EVENTS_LOG_ENV = EDGEMETER_EVENTS_LOG
# Where `make run` keeps its data by default (local/config.py: data_dir).
DEFAULT_EVENTS_LOG = Path(__file__).resolve().parent.parent / ".local-data" / EVENTS_LOG_FILE_NAME
FOLLOW_POLL_SECONDS = 0.25


def log_size(path: Path) -> int:
    """Bytes in the log now (0 when there is none yet): where following starts."""
    return path.stat().st_size if path.exists() else 0


def follow_lines(
    path: Path, *, start: int, stop: threading.Event, poll_seconds: float = FOLLOW_POLL_SECONDS
) -> Iterator[str]:
    """The lines written to ``path`` after byte ``start``, as they come, until ``stop`` is set.

    The file may not exist yet (no event so far): it is waited for. Only whole lines are
    returned: a line still being written is kept until its newline arrives.
    """
    position = start
    pending = b""
    while not stop.is_set():
        size = log_size(path)
        if size < position:
            position, pending = 0, b""  # the log was removed and started again (a new data dir)
        if size > position:
            with path.open("rb") as log:
                log.seek(position)
                pending += log.read(size - position)
            position = size
            *complete, pending = pending.split(b"\n")
            yield from (line.decode("utf-8") for line in complete if line.strip())
            continue
        stop.wait(poll_seconds)


def last_lines(path: Path, count: int, *, end: int) -> list[str]:
    """The last ``count`` lines before byte ``end``."""
    if count <= 0 or end <= 0:
        return []
    with path.open("rb") as log:
        head = log.read(end)
    lines = [line.decode("utf-8") for line in head.split(b"\n") if line.strip()]
    return list(deque(lines, maxlen=count))


def describe(document: dict[str, Any]) -> str:
    """One line for people: time, type, account, then the details."""
    detail = document.get("detail") or {}
    facts = " ".join(f"{name}={value}" for name, value in detail.items() if value is not None)
    occurred_at = str(document.get("occurred_at", ""))[:19].replace("T", " ")
    return f"{occurred_at}  {document.get('type', '?'):<17} {document.get('account_id', '?')}  {facts}"


class EventPrinter:
    """Prints the events that pass the filters; counts them."""

    def __init__(self, *, json_output: bool, event_type: str | None, account_id: str | None) -> None:
        self._json_output = json_output
        self._event_type = event_type
        self._account_id = account_id
        self.printed = 0

    def __call__(self, line: str) -> None:
        try:
            document = json.loads(line)
        except ValueError:
            return  # not an event (a foreign line): skip it rather than stop following
        if not isinstance(document, dict):
            return
        if self._event_type and document.get("type") != self._event_type:
            return
        if self._account_id and document.get("account_id") != self._account_id:
            return
        if self._json_output:
            print(json.dumps(document, separators=(",", ":")), flush=True)
        else:
            stdout.print(describe(document), highlight=False, markup=False, soft_wrap=True)
        self.printed += 1


def events(  # noqa: PLR0917 - typer maps each option to one parameter
    context: typer.Context,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="keep printing new events (Ctrl-C stops)")
    ] = False,
    lines: Annotated[int, typer.Option("--lines", "-n", min=0, help="earlier events to print first")] = 10,
    event_type: Annotated[
        str | None,
        typer.Option("--type", help=f"only this type ({', '.join(kind.value for kind in EventType)})"),
    ] = None,
    account_id: Annotated[str | None, typer.Option("--account", help="only this account (acct_...)")] = None,
    log_file: Annotated[
        Path, typer.Option("--file", envvar=EVENTS_LOG_ENV, help="the events log of `make run`")
    ] = DEFAULT_EVENTS_LOG,
    max_events: Annotated[
        int | None, typer.Option("--max-events", min=1, help="stop once this many are printed")
    ] = None,
) -> None:
    """Account events of the local runtime (balance.low, account and key changes)."""
    if event_type is not None and event_type not in {kind.value for kind in EventType}:
        raise typer.BadParameter(f"unknown event type {event_type!r}", param_hint="--type")
    if not follow and not log_file.exists():
        fail(EXIT_FAILED, f"no events log at {log_file} (is `make run` running, and without a webhook?)")
    printer = EventPrinter(
        json_output=options_of(context).json_output, event_type=event_type, account_id=account_id
    )
    # One starting point for both: nothing written meanwhile is printed twice or skipped.
    start = log_size(log_file)
    for line in last_lines(log_file, lines, end=start):
        printer(line)
    enough = max_events is not None and printer.printed >= max_events
    if not follow or enough:
        return
    try:
        for line in follow_lines(log_file, start=start, stop=threading.Event()):
            printer(line)
            if max_events is not None and printer.printed >= max_events:
                break
    except KeyboardInterrupt:
        pass  # Ctrl-C is how following ends


def register(app: typer.Typer) -> None:
    app.command("events")(events)
