"""Every ``EDGEMETER_*`` environment variable, spelled once.

Each constant is named as its value, so a grep for the variable finds this home and every
user. Standard library only (it imports nothing): the Lambdas, the CDK app, the local
runtime, the CLI and bench all import their names from here. Lambda@Edge has no
environment variables; the edge packages carry this module only because they ship
``functions/shared`` whole.
"""

from __future__ import annotations

# The credits Lambda (functions/credits/settings.py reads them; stacks/ and local/ set them).
EDGEMETER_USERS_TABLE = "EDGEMETER_USERS_TABLE"
EDGEMETER_CREDITS_TABLE = "EDGEMETER_CREDITS_TABLE"
EDGEMETER_DYNAMODB_ENDPOINT = "EDGEMETER_DYNAMODB_ENDPOINT"
EDGEMETER_PRICING = "EDGEMETER_PRICING"
EDGEMETER_MAX_BODY_BYTES = "EDGEMETER_MAX_BODY_BYTES"
EDGEMETER_CHARGE_RECORD_TTL_DAYS = "EDGEMETER_CHARGE_RECORD_TTL_DAYS"
EDGEMETER_TRANSACTION_ATTEMPTS = "EDGEMETER_TRANSACTION_ATTEMPTS"
EDGEMETER_DYNAMODB_MAX_POOL_CONNECTIONS = "EDGEMETER_DYNAMODB_MAX_POOL_CONNECTIONS"
EDGEMETER_KEY_CACHE_TTL_SECONDS = "EDGEMETER_KEY_CACHE_TTL_SECONDS"
EDGEMETER_KEY_CACHE_MAX_ENTRIES = "EDGEMETER_KEY_CACHE_MAX_ENTRIES"
# Signed download links: the CDN URL they point at and their longest lifetime.
EDGEMETER_CDN_BASE_URL = "EDGEMETER_CDN_BASE_URL"
EDGEMETER_LINK_MAX_EXPIRES_IN_SECONDS = "EDGEMETER_LINK_MAX_EXPIRES_IN_SECONDS"
# Deployed: the SSM parameter holding the distribution's URL (read on a container's first link).
EDGEMETER_CDN_BASE_URL_PARAMETER = "EDGEMETER_CDN_BASE_URL_PARAMETER"

# The objects catalog's settings document (JSON), in the credits and catalog event Lambdas.
EDGEMETER_CATALOG = "EDGEMETER_CATALOG"
# The account events Lambda: the EventBridge bus it publishes to.
EDGEMETER_EVENT_BUS_NAME = "EDGEMETER_EVENT_BUS_NAME"
# regional credits (issue 15): the void notices' global table, in home and every credits region.
EDGEMETER_VOID_NOTICES_TABLE = "EDGEMETER_VOID_NOTICES_TABLE"
# regional credits (issue 15): home, the credits regions and their credits tables (JSON; see
# functions/credits/regions/topology.py), in home's and every credits region's credits Lambda.
EDGEMETER_CREDITS_REGIONS = "EDGEMETER_CREDITS_REGIONS"
# The stream-derived ledger (issue 14): its table (credits Lambda: read only; ledger writer: PutItem
# only) and the ledger writer's delay queue of parked attempts.
EDGEMETER_LEDGER_TABLE = "EDGEMETER_LEDGER_TABLE"
EDGEMETER_LEDGER_RECHECK_QUEUE_URL = "EDGEMETER_LEDGER_RECHECK_QUEUE_URL"
# Deployed: the edge functions' IAM role names (comma-separated). The edge routes refuse an
# IAM caller that is none of them (functions/credits/routes/edge_callers.py; issue 14 §6).
EDGEMETER_EDGE_ROLES = "EDGEMETER_EDGE_ROLES"

# The CDK app: the interpreter that compiles the edge packages' bytecode (stacks/bundling.py).
EDGEMETER_LAMBDA_PYTHON = "EDGEMETER_LAMBDA_PYTHON"

# The local runtime: the supervisor's resolved config for its children, the origin's credentials,
# and the partition-faithful DynamoDB layer's scale and burst.
EDGEMETER_LOCAL_CONFIG = "EDGEMETER_LOCAL_CONFIG"
EDGEMETER_ORIGIN_ACCESS_KEY = "EDGEMETER_ORIGIN_ACCESS_KEY"
EDGEMETER_ORIGIN_SECRET_KEY = "EDGEMETER_ORIGIN_SECRET_KEY"  # noqa: S105 - a variable name, not a secret
EDGEMETER_DYNAMODB_CAPACITY_SCALE = "EDGEMETER_DYNAMODB_CAPACITY_SCALE"
EDGEMETER_DYNAMODB_CAPACITY_BURST_SECONDS = "EDGEMETER_DYNAMODB_CAPACITY_BURST_SECONDS"

# The edgemeter CLI: the credits API's base URL and region.
EDGEMETER_API = "EDGEMETER_API"
EDGEMETER_REGION = "EDGEMETER_REGION"
# `edgemeter events`: the local runtime's events log to read.
EDGEMETER_EVENTS_LOG = "EDGEMETER_EVENTS_LOG"
