"""`make run --credits-regions`: every local credits server is told the regions (issue 15 wiring)."""

from __future__ import annotations

from pathlib import Path

from functions.credits.regions.topology import RegionsTopology, topology_from_environment
from functions.shared.environment_variables import EDGEMETER_CREDITS_REGIONS, EDGEMETER_CREDITS_TABLE
from local.config import LocalConfig
from local.credits_environment import credits_handler_environment
from local.multi_region import regional_banner_lines, regional_configs, with_regional_topology


def test_home_and_each_region_get_the_same_topology_with_their_own_credits_table(tmp_path: Path) -> None:
    config = with_regional_topology(
        LocalConfig(data_dir=tmp_path, credits_regions=["eu-west-1", "ap-northeast-1"])
    )
    home_environment = credits_handler_environment(config)
    topology = topology_from_environment(home_environment)
    assert topology == RegionsTopology(
        home="us-east-1",
        credits_tables={
            "eu-west-1": "edgemeter-credits-eu-west-1",
            "ap-northeast-1": "edgemeter-credits-ap-northeast-1",
        },
        home_credits_table="edgemeter-credits",
    )
    for region, regional in regional_configs(config).items():
        environment = credits_handler_environment(regional)
        assert environment[EDGEMETER_CREDITS_REGIONS] == home_environment[EDGEMETER_CREDITS_REGIONS]
        assert environment[EDGEMETER_CREDITS_TABLE] == topology.credits_tables[region]
        assert environment["AWS_REGION"] == region


def test_without_credits_regions_nothing_is_added(tmp_path: Path) -> None:
    config = LocalConfig(data_dir=tmp_path)
    assert with_regional_topology(config) is config
    assert EDGEMETER_CREDITS_REGIONS not in credits_handler_environment(config)


def test_the_banner_says_how_to_send_a_request_from_a_region_and_audit_them_all(tmp_path: Path) -> None:
    config = with_regional_topology(
        LocalConfig(data_dir=tmp_path, credits_regions=["eu-west-1", "ap-northeast-1"])
    )
    text = "\n".join(regional_banner_lines(config))
    assert "x-edgemeter-local-edge-region: ap-northeast-1" in text
    assert f"EDGEMETER_CREDITS_REGIONS='{config.credits_environment[EDGEMETER_CREDITS_REGIONS]}'" in text
    assert regional_banner_lines(LocalConfig(data_dir=tmp_path)) == []
