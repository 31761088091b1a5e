"""The credits service: accounts, API keys, atomic charging, the ledger and the billing API.

An API Gateway Lambda (``handler.lambda_handler``); see docs/decisions.md, "Credits service".
"""
