"""One-off migration: give accounts created before the account list existed their index keys.

``python -m functions.credits.sellers.backfill`` with the credits Lambda's environment
(``EDGEMETER_USERS_TABLE``, ``AWS_REGION``, ...) scans the users table once for account items
without ``list_pk`` and sets ``list_pk``/``list_sk`` on each, only where they are still missing
(so it can run again, or beside live traffic, safely). A scan is fine here: it runs once per
upgrade, never on a request path.
"""

from __future__ import annotations

import sys

from pynamodb.exceptions import UpdateError

from functions.credits.data.models import ACCOUNT_PROFILE_SK, AccountItem
from functions.credits.data.tables import bind_tables
from functions.credits.sellers.lifecycle import status_from_stored
from functions.credits.sellers.listing import list_partition_of, list_sort_key
from functions.credits.settings import Settings, settings_from_env


def backfill_account_list(settings: Settings) -> int:
    """Set the index keys of every account item lacking them; return how many were set."""
    bind_tables(settings)
    unlisted = AccountItem.scan(
        (AccountItem.sk == ACCOUNT_PROFILE_SK) & AccountItem.list_pk.does_not_exist(),
        page_size=500,
    )
    updated = 0
    for account in unlisted:
        partition = list_partition_of(account.account_id, status_from_stored(account.status))
        try:
            account.update(
                actions=[
                    AccountItem.list_pk.set(partition),
                    AccountItem.list_sk.set(list_sort_key(account.name, account.account_id)),
                ],
                condition=AccountItem.list_pk.does_not_exist(),
            )
        except UpdateError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            continue  # a status change set them meanwhile
        updated += 1
    return updated


def main() -> int:
    updated = backfill_account_list(settings_from_env())
    sys.stdout.write(f"account list: index keys set on {updated} account(s)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
