"""The HTTP methods edgemeter knows, and which of them are uploads: the one home of both.

Standard library only (the edge imports it). The edge prices an upload by its
Content-Length, the local CDN forwards an upload's body, the credits service
counts upload bytes in usage, and the origin signer signs an upload's payload:
all four read these sets, so they cannot disagree.
"""

from __future__ import annotations

from typing import Final, Literal

HttpMethod = Literal["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"]

HTTP_METHODS: Final[tuple[HttpMethod, ...]] = ("GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS")
# Requests that carry a body to store: priced by Content-Length.
UPLOAD_METHODS: Final[frozenset[str]] = frozenset({"PUT", "POST", "PATCH"})
# Requests that read an object: priced by the bytes they serve (0 for HEAD).
DOWNLOAD_METHODS: Final[frozenset[str]] = frozenset({"GET", "HEAD"})
