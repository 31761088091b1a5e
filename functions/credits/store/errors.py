"""Failures of the credits store, as a small hierarchy callers match by meaning.

A store never lets a pynamodb or botocore exception out: the DynamoDB store translates
them here, and the in-memory twin raises the same types, so the service and the API map
failures to replies once, whatever holds the data.
"""

from __future__ import annotations


class CreditsStoreError(Exception):
    """Base of every credits-store failure."""


class StoreUnavailable(CreditsStoreError):
    """The store could not answer now (throttled, conflicting transactions outlasted the
    retries, timed out, unreachable): the same call may succeed shortly."""


class InvalidCursor(CreditsStoreError, ValueError):
    """A paging cursor that this store did not hand out (or not for this account)."""


class DataIntegrityError(CreditsStoreError):
    """Stored data breaks an invariant (a key whose account has no balance, an id collision).

    A bug or corruption, not a request's fault: answered as an internal error and logged.
    """
