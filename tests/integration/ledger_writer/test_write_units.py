"""Write units per allowed download on a split account, counted (issue 14 §4: ≤ 3.0, today 6)."""

from __future__ import annotations

import pytest

from functions.credits.settings import Settings
from local.ledger_writer import measure_write_units_per_download

pytestmark = pytest.mark.dynamodb


def test_a_split_accounts_download_costs_at_most_three_write_units(writer_settings: Settings) -> None:
    measured = measure_write_units_per_download(writer_settings, downloads=40, shards=4)
    # Debit (1) + charge record (1) + the writer's ledger entry (1); the layer counts every write,
    # so a ledger entry left out, a transaction (2 per item) or a compensation would show.
    assert measured.per_download == 3.0
    assert measured.write_units == 3 * 40
