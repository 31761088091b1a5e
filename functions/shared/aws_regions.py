"""What an AWS region name looks like, spelled once (standard library only).

``us-east-1``, ``ap-southeast-2``, ``us-gov-west-1``, ``us-isob-east-1``, ``il-central-1``:
two letters, one or more dash-separated words, a one- or two-digit number. A shape check
only: it refuses typos and injected text, not regions AWS has yet to open.
"""

from __future__ import annotations

import re

# Anchored, for pydantic's ``Field(pattern=...)`` as well as ``re``.
AWS_REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$"
_AWS_REGION = re.compile(AWS_REGION_PATTERN)


def is_aws_region(name: str) -> bool:
    """Whether ``name`` has the shape of an AWS region name."""
    return _AWS_REGION.fullmatch(name) is not None
