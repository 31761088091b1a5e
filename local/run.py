"""`make run`: the whole edgemeter system on this machine, bound to 127.0.0.1.

Starts, in order, each as a child process in its own session (Ctrl-C reaches
only this supervisor, which stops them in reverse order; Linux also stops them
if the supervisor is killed):

1. DynamoDB Local, data kept under ``<data-dir>/dynamodb`` (``--in-memory`` to opt out);
2. the S3 origin: moto's S3 server with bucket ``edgemeter-local`` (``--origin URL`` for any
   S3-compatible server instead);
3. the credits API (the real credits Lambda behind a local API Gateway);
4. the CDN (CloudFront's lifecycle around the real Lambda@Edge handlers).

Then it creates the tables, seeds (idempotently) a demo account, key, credits and objects,
writes ``<data-dir>/run-state.json`` and prints the endpoints and curl lines to try.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import boto3
import typer
from botocore.config import Config
from botocore.exceptions import ClientError

from cli.client import CreditsApiClient, CreditsApiError
from functions.shared.environment_variables import EDGEMETER_ORIGIN_ACCESS_KEY, EDGEMETER_ORIGIN_SECRET_KEY
from functions.shared.sigv4 import static_credentials
from local.catalog_environment import create_local_objects_table, local_catalog_settings
from local.config import LocalConfig, build_config
from local.credits_environment import credits_settings
from local.dynamodb_local import PROJECT_ROOT, DynamoDBLocal
from local.events import AccountEventsPump, local_events_destination, start_local_events
from local.ledger_writer import LocalLedgerWriter, start_local_ledger_writer
from local.multi_region import (
    regional_banner_lines,
    regional_configs,
    regional_credits_table,
    validate_regions,
    with_regional_topology,
)
from local.processes import port_is_open, start_child, stop_process_group, wait_until
from local.regional_upkeep import start_regional_upkeep

STARTUP_TIMEOUT_SECONDS = 120.0
MIB = 1024 * 1024


class StartupError(RuntimeError):
    """The local system could not start; the message says what to do."""


@dataclass(frozen=True)
class DemoObject:
    key: str
    body: bytes
    content_type: str


def demo_objects() -> list[DemoObject]:
    # Deterministic bytes, so a restart re-seeds identical objects (same ETags).
    one_mib = bytes(range(256)) * (MIB // 256)
    return [
        DemoObject("hello.txt", b"Hello from edgemeter! This download cost 1 credit.\n", "text/plain"),
        DemoObject(
            "data/sample.json",
            json.dumps({"edgemeter": "demo", "items": list(range(10))}).encode(),
            "application/json",
        ),
        DemoObject("media/1mib.bin", one_mib, "application/octet-stream"),
    ]


@dataclass
class LocalSystem:
    """The running children, in start order."""

    config: LocalConfig
    dynamodb: DynamoDBLocal | None = None
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # The account-events thread (local/events.py); it reads DynamoDB Local, so it stops before it.
    account_events: AccountEventsPump | None = None
    # The ledger writer thread (local/ledger_writer.py, issue 14): split accounts' ledger entries.
    ledger_writer: LocalLedgerWriter | None = None

    @property
    def log_dir(self) -> Path:
        return self.config.data_dir / "logs"

    def child_environment(self, config: LocalConfig | None = None) -> dict[str, str]:
        environment = {
            **os.environ,
            **(config or self.config).to_env(),
            "PYTHONUNBUFFERED": "1",
            # The children never need real AWS credentials; make sure they cannot find any.
            "AWS_ACCESS_KEY_ID": self.config.credentials.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.config.credentials.secret_access_key,
            "AWS_DEFAULT_REGION": self.config.region,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        environment.pop("AWS_SESSION_TOKEN", None)
        environment.pop("AWS_PROFILE", None)
        return environment

    def start_python_child(
        self, name: str, module: str, port: int, config: LocalConfig | None = None
    ) -> None:
        """``config``: the child's own config when it differs from the runtime's (a credits region)."""
        log_path = self.log_dir / f"{name}.log"
        process = start_child(
            [sys.executable, "-m", module],
            env=self.child_environment(config),
            log_path=log_path,
            cwd=PROJECT_ROOT,
        )
        self.children[name] = process
        try:
            wait_until(
                lambda: port_is_open(port), timeout=STARTUP_TIMEOUT_SECONDS, what=name, process=process
            )
        except (RuntimeError, TimeoutError) as error:
            raise StartupError(f"{error}\n--- last lines of {log_path} ---\n{_tail(log_path)}") from error

    def start(self) -> None:
        config = self.config
        ports = {
            "CDN": config.cdn_port,
            "credits API": config.credits_port,
            "DynamoDB Local": config.dynamodb_port,
        }
        if config.uses_local_origin:
            ports["S3 origin"] = config.origin_port
        for what, port in ports.items():
            if port_is_open(port):
                raise StartupError(
                    f"port {port} ({what}) is already in use on 127.0.0.1: is another `make run` running? "
                    "Stop it, or choose other ports (see `make run ARGS=--help`)."
                )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.dynamodb = DynamoDBLocal(
            port=config.dynamodb_port,
            data_dir=config.dynamodb_data_dir,
            log_path=self.log_dir / "dynamodb.log",
            startup_timeout=STARTUP_TIMEOUT_SECONDS,
        )
        self.dynamodb.start()
        _create_tables(config)
        self.account_events = start_local_events(config)
        self.ledger_writer = start_local_ledger_writer(config)
        create_local_objects_table(config)
        if config.uses_local_origin:
            self.start_python_child("origin", "local.origin_server", config.origin_port)
        _ensure_bucket(config)
        self.start_python_child("credits", "local.credits_server", config.credits_port)
        # Regional credits (issue 15): one more credits server per region, its own credits table.
        for region, regional in regional_configs(config).items():
            self.start_python_child(
                f"credits-{region}", "local.credits_server", regional.credits_port, regional
            )
        if config.credits_regions:
            # Home's regional upkeep (issue 15): what an EventBridge rule runs every minute in AWS.
            self.children["regional-upkeep"] = start_regional_upkeep(
                self.child_environment(), self.log_dir / "regional-upkeep.log"
            )
        self.start_python_child("cdn", "local.cdn", config.cdn_port)

    def stop(self) -> None:
        for name in reversed(list(self.children)):
            stop_process_group(self.children.pop(name))
        if self.account_events is not None:
            self.account_events.stop()
            self.account_events = None
        if self.ledger_writer is not None:
            self.ledger_writer.stop()
            self.ledger_writer = None
        if self.dynamodb is not None:
            self.dynamodb.stop()
            self.dynamodb = None
        self.config.run_state_file.unlink(missing_ok=True)

    def dead_child(self) -> str | None:
        for name, process in self.children.items():
            if process.poll() is not None:
                return name
        # By exit status, not by probing the port: a busy JVM may be slow to accept a connection.
        if self.dynamodb is not None and not self.dynamodb.running:
            return "dynamodb"
        return None

    def pids(self) -> dict[str, int]:
        pids = {name: process.pid for name, process in self.children.items()}
        if self.dynamodb is not None and self.dynamodb.pid is not None:
            pids["dynamodb"] = self.dynamodb.pid
        return pids


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _create_tables(config: LocalConfig) -> None:
    from functions.credits.data.tables import create_tables  # noqa: PLC0415 - pynamodb is slow to import

    os.environ.setdefault("AWS_ACCESS_KEY_ID", config.credentials.access_key_id)
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", config.credentials.secret_access_key)
    create_tables(credits_settings(config))
    for regional in regional_configs(config).values():
        create_tables(
            credits_settings(regional).model_copy(
                update={"credits_table": regional_credits_table(regional.region)}
            )
        )


def _s3_client(config: LocalConfig) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=config.effective_origin_url,
        aws_access_key_id=config.origin_credentials.access_key_id,
        aws_secret_access_key=config.origin_credentials.secret_access_key,
        region_name=config.region,
        config=Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"max_attempts": 3, "mode": "standard"},
        ),
    )


def _ensure_bucket(config: LocalConfig) -> None:
    s3 = _s3_client(config)
    try:
        s3.head_bucket(Bucket=config.bucket)
    except ClientError:
        s3.create_bucket(Bucket=config.bucket)


def seed_demo(config: LocalConfig) -> dict[str, Any]:
    """The demo account, key and objects; reused across restarts when the account still exists."""
    s3 = _s3_client(config)
    for demo_object in demo_objects():
        s3.put_object(
            Bucket=config.bucket,
            Key=demo_object.key,
            Body=demo_object.body,
            ContentType=demo_object.content_type,
        )
    client = CreditsApiClient(
        base_url=config.credits_url,
        credentials=static_credentials(
            config.credentials.access_key_id, config.credentials.secret_access_key
        ),
        region=config.region,
    )
    state: dict[str, Any] = {}
    if config.demo_state_file.exists():
        state = json.loads(config.demo_state_file.read_text())
        try:
            client.get_account(state["account_id"])
        except (CreditsApiError, KeyError):
            state = {}  # the data dir was reset (or --in-memory): seed afresh
    if not state:
        account = client.create_account(config.demo.account_name)
        key = client.issue_key(account["account_id"], name="demo")
        state = {"account_id": account["account_id"], "key_id": key["key_id"], "api_key": key["api_key"]}
        config.demo_state_file.write_text(json.dumps(state, indent=2))
        config.demo_state_file.chmod(0o600)
    if config.demo.credits > 0:
        # The idempotency key makes this a one-time grant however often `make run` starts.
        client.grant(
            state["account_id"],
            amount=config.demo.credits,
            reason="demo credits seeded by make run",
            idempotency_key=f"demo-seed-{state['account_id']}",
        )
    state["balance"] = client.get_account(state["account_id"])["balance"]
    return state


def banner(config: LocalConfig, demo: dict[str, Any] | None) -> str:
    lines = [
        "",
        "edgemeter is running locally (Ctrl-C stops everything).",
        "",
        f"  CDN              {config.cdn_url}",
        f"  credits API      {config.credits_url}   (OpenAPI: {config.credits_url}/openapi.json, "
        f"try it: {config.credits_url}/docs)",
        f"  billing console  {config.credits_url}/console   "
        f"(read-only: {config.credits_url}/console?principal=reader)",
        f"  S3 origin        {config.effective_origin_url}   bucket {config.bucket}",
        f"  DynamoDB Local   {config.dynamodb_url}   data: "
        + ("in memory" if config.in_memory else str(config.dynamodb_data_dir)),
        f"  logs             {config.data_dir / 'logs'}",
        f"  account events   {local_events_destination(config)}",
    ]
    if demo is not None:
        key, account = demo["api_key"], demo["account_id"]
        access, secret = config.credentials.access_key_id, config.credentials.secret_access_key
        lines += [
            "",
            f"Demo account {account} (balance {demo['balance']} credits), demo key:",
            f"  export EDGEMETER_KEY={key}",
            "",
            "Download (1 credit):",
            f'  curl -i -H "x-api-key: $EDGEMETER_KEY" {config.cdn_url}/hello.txt',
            "Upload (1 credit + 1 per started MiB):",
            f'  curl -i -X PUT -H "x-api-key: $EDGEMETER_KEY" --data-binary @README.md '
            f"{config.cdn_url}/uploads/README.md",
            "Balance (the credits API is IAM-signed; these are the local credentials):",
            f'  curl -s --aws-sigv4 "aws:amz:{config.region}:execute-api" --user {access}:{secret} '
            f"{config.credits_url}/v1/accounts/{account}",
            f"  .venv/bin/edgemeter balance {account}",
        ]
    # Regional credits (issue 15): the regions, a request "from" one, the audit across them.
    lines += regional_banner_lines(config)
    return "\n".join(lines)


class _StopRequested(Exception):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _StopRequested


def run(config: LocalConfig) -> int:
    system = LocalSystem(config)
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    try:
        print(f"Starting edgemeter locally (data in {config.data_dir}) ...", flush=True)
        system.start()
        demo = seed_demo(config) if config.demo.enabled else None
        state = {
            "supervisor_pid": os.getpid(),
            "pids": system.pids(),
            "endpoints": {
                "cdn": config.cdn_url,
                "credits": config.credits_url,
                "origin": config.effective_origin_url,
                "dynamodb": config.dynamodb_url,
            },
            "bucket": config.bucket,
            "demo": demo,
        }
        config.run_state_file.write_text(json.dumps(state, indent=2))
        print(banner(config, demo), flush=True)
        while (dead := system.dead_child()) is None:
            time.sleep(0.25)
        log_path = config.data_dir / "logs" / f"{dead}.log"
        print(f"\n{dead} stopped unexpectedly; stopping everything.\n{_tail(log_path)}", file=sys.stderr)
        return 1
    except _StopRequested:
        print("\nStopping edgemeter ...", flush=True)
        return 0
    except (StartupError, CreditsApiError) as error:
        print(f"\nedgemeter could not start: {error}", file=sys.stderr)
        return 1
    finally:
        # Ignore a second Ctrl-C while stopping: leaving children behind is worse than waiting.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        system.stop()
        print("Stopped.", flush=True)


cli = typer.Typer(add_completion=False, help="Run the whole edgemeter system locally (what `make run` does).")


@cli.command()
def main(  # noqa: PLR0917 - typer maps each command-line option to one parameter
    config_file: Annotated[
        Path | None,
        typer.Option("--config", help="TOML config file (default: edgemeter.local.toml if present)"),
    ] = None,
    cdn_port: Annotated[int | None, typer.Option(help="CDN port (default: 8080)")] = None,
    credits_port: Annotated[int | None, typer.Option(help="credits API port (default: 8081)")] = None,
    origin_port: Annotated[int | None, typer.Option(help="local S3 origin port (default: 9000)")] = None,
    dynamodb_port: Annotated[int | None, typer.Option(help="DynamoDB Local port (default: 8000)")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="where data and logs live (default: .local-data)")
    ] = None,
    in_memory: Annotated[bool, typer.Option("--in-memory", help="keep DynamoDB data in memory only")] = False,
    origin: Annotated[
        str | None,
        typer.Option("--origin", help="an S3-compatible endpoint URL to use instead of the local one"),
    ] = None,
    origin_access_key: Annotated[
        str | None, typer.Option(envvar=EDGEMETER_ORIGIN_ACCESS_KEY, help="access key for --origin")
    ] = None,
    origin_secret_key: Annotated[
        str | None,
        typer.Option(envvar=EDGEMETER_ORIGIN_SECRET_KEY, help="secret key for --origin (prefer the env var)"),
    ] = None,
    bucket: Annotated[str | None, typer.Option(help="origin bucket (default: edgemeter-local)")] = None,
    events_webhook: Annotated[
        str | None,
        typer.Option("--events-webhook", help="POST account events here instead of the events log"),
    ] = None,
    credits_regions: Annotated[
        str | None,
        typer.Option(
            "--credits-regions",
            help="regional credits: credits regions besides home, comma-separated (us-east-1,ap-northeast-1)",
        ),
    ] = None,
    no_demo: Annotated[
        bool, typer.Option("--no-demo", help="do not seed the demo account and objects")
    ] = False,
) -> None:
    overrides: dict[str, Any] = {
        "cdn_port": cdn_port,
        "credits_port": credits_port,
        "origin_port": origin_port,
        "dynamodb_port": dynamodb_port,
        "data_dir": data_dir.resolve() if data_dir else None,
        "in_memory": True if in_memory else None,
        "origin_url": origin,
        "bucket": bucket,
        "events_webhook_url": events_webhook,
        "credits_regions": [r.strip() for r in credits_regions.split(",") if r.strip()]
        if credits_regions
        else None,
    }
    if origin_access_key or origin_secret_key:
        overrides["origin_credentials"] = {
            "access_key_id": origin_access_key or "",
            "secret_access_key": origin_secret_key or "",
        }
    if no_demo:
        overrides["demo"] = {"enabled": False}
    try:
        config = build_config(config_file, overrides)
        local_catalog_settings(config)  # fail at start, not in a child
        validate_regions(config)
        # Every credits server (home's, each region's) is told the regions (issue 15 wiring).
        config = with_regional_topology(config)
    except (ValueError, OSError) as error:
        typer.echo(f"invalid local configuration: {error}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(run(config))


if __name__ == "__main__":
    cli()
