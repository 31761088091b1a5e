"""A partition-faithful layer over DynamoDB Local: capacity metered and limited per partition key.

DynamoDB Local never throttles; this layer makes it behave as DynamoDB does at scale, through
botocore's event hooks on every DynamoDB client of the process (see ``layer``). Parts:
``item_size`` (DynamoDB's item-size rules), ``metering`` (units per partition for one request),
``limits`` (per-partition buckets at a scale), ``layer`` (the botocore handlers, the switch) and
``client_hook`` (the one hook on DynamoDB client creation, shared with the bench and the fault tests).
"""

from local.dynamodb_capacity.layer import (
    CapacityLayer,
    CapacitySnapshot,
    install_from_environment,
    partition_capacity,
)
from local.dynamodb_capacity.limits import PartitionLimits

__all__ = [
    "CapacityLayer",
    "CapacitySnapshot",
    "PartitionLimits",
    "install_from_environment",
    "partition_capacity",
]
