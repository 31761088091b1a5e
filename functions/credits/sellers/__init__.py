"""Sellers' features of the credits service (issue 16): the account list, the account lifecycle,
key scopes and spend limits, signed download links and low-balance alert thresholds.

The rules are plain functions and dataclasses here (unit-tested without storage); the store
methods and routes that use them live in their own marked blocks of the credits service.
"""
