"""Run the local CDN as a child of `local.run`: ``python -m local.cdn``."""

from __future__ import annotations

from functions.shared.sigv4 import static_credentials
from local.cdn.cache import ResponseCache
from local.cdn.containers import EdgeContainerPool
from local.cdn.server import LocalCdn, OriginSettings
from local.config import LocalConfig
from local.edge import container_setup, edge_triggers, origin_kind
from local.serving import run_service, serve_until_signalled


async def serve(config: LocalConfig) -> None:
    containers = EdgeContainerPool(container_setup(config), config.edge_workers)
    await containers.start()
    cdn = LocalCdn(
        origin=OriginSettings(
            endpoint_url=config.effective_origin_url,
            bucket=config.bucket,
            region=config.region,
            credentials=static_credentials(
                config.origin_credentials.access_key_id, config.origin_credentials.secret_access_key
            ),
            kind=origin_kind(config),
            timeout_seconds=config.origin_timeout_seconds,
        ),
        triggers=edge_triggers(config),
        cache=ResponseCache(config.cache),
        containers=containers,
        viewer_timeout_seconds=config.viewer_timeout_seconds,
        distribution_domain_name=f"{config.host}:{config.cdn_port}",
    )
    await serve_until_signalled(cdn.build_app(), config.host, config.cdn_port)


def main() -> None:
    run_service(serve)


if __name__ == "__main__":
    main()
