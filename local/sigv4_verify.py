"""Verify AWS SigV4 ``Authorization`` headers the way API Gateway's IAM auth does.

The local credits API accepts only requests signed with the local credentials,
so the CLI's and the edge function's signing code run for real. No crypto is
written here: botocore's own ``SigV4Auth`` recomputes the signature from the
received request (same canonical request, string to sign and key derivation
as the signer), and we compare the two in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

_AUTHORIZATION_PATTERN = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<access_key>[^/\s,]+)/(?P<date>\d{8})/(?P<region>[^/\s,]+)/"
    r"(?P<service>[^/\s,]+)/aws4_request,\s*SignedHeaders=(?P<signed_headers>[a-z0-9;._-]+),\s*"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)
# API Gateway refuses signatures whose X-Amz-Date is more than 5 minutes off its clock.
MAX_CLOCK_SKEW = timedelta(minutes=5)
_SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"


class SignatureError(Exception):
    """The request is not validly signed; ``message`` says why (safe to show the caller)."""

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.missing = missing


@dataclass(frozen=True)
class VerifiedCaller:
    access_key_id: str
    region: str
    service: str


@dataclass(frozen=True)
class SigV4Verifier:
    """Accepts requests signed with exactly these credentials for ``service`` (any region)."""

    access_key_id: str
    secret_access_key: str
    service: str = "execute-api"

    def verify(
        self,
        *,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        now: datetime | None = None,
    ) -> VerifiedCaller:
        """Raise SignatureError unless the request carries a valid signature."""
        lowered = [(name.lower(), value) for name, value in headers]
        authorization = next((value for name, value in lowered if name == "authorization"), None)
        if authorization is None:
            raise SignatureError("Missing Authentication Token", missing=True)
        match = _AUTHORIZATION_PATTERN.match(authorization.strip())
        if match is None:
            raise SignatureError("Authorization header is not a well-formed AWS4-HMAC-SHA256 signature")
        if match["service"] != self.service:
            raise SignatureError(f"Credential should be scoped to correct service: '{self.service}'")
        if not hmac.compare_digest(match["access_key"], self.access_key_id):
            raise SignatureError("The security token included in the request is invalid")
        timestamp = next((value for name, value in lowered if name == "x-amz-date"), None)
        if timestamp is None:
            raise SignatureError("X-Amz-Date header is missing")
        try:
            signed_at = datetime.strptime(timestamp, _SIGV4_TIMESTAMP).replace(tzinfo=UTC)
        except ValueError as error:
            raise SignatureError("X-Amz-Date is not a SigV4 timestamp") from error
        if abs((now or datetime.now(UTC)) - signed_at) > MAX_CLOCK_SKEW:
            raise SignatureError("Signature expired: X-Amz-Date is more than 5 minutes from now")
        if not timestamp.startswith(match["date"]):
            raise SignatureError("Credential date does not match X-Amz-Date")
        signed_names = match["signed_headers"].split(";")
        if "host" not in signed_names:
            raise SignatureError("SignedHeaders must include host")
        signed_headers = [(name, value) for name, value in lowered if name in signed_names]
        present = {name for name, _ in signed_headers}
        if missing_names := [name for name in signed_names if name not in present]:
            raise SignatureError(f"signed headers missing from the request: {', '.join(missing_names)}")
        declared_hash = next(
            (value for name, value in signed_headers if name == "x-amz-content-sha256"), None
        )
        if declared_hash is not None and declared_hash != hashlib.sha256(body).hexdigest():
            raise SignatureError("X-Amz-Content-SHA256 does not match the body")

        request = AWSRequest(method=method.upper(), url=url, data=body)
        for name, value in signed_headers:
            request.headers.add_header(name, value)
        request.context["timestamp"] = timestamp
        signer = SigV4Auth(
            Credentials(self.access_key_id, self.secret_access_key), self.service, match["region"]
        )
        canonical_request = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical_request), request)
        if not hmac.compare_digest(expected, match["signature"]):
            raise SignatureError(
                "The request signature we calculated does not match the signature you provided"
            )
        return VerifiedCaller(access_key_id=match["access_key"], region=match["region"], service=self.service)
