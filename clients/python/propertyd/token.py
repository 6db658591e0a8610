"""Minting HS256 bearer tokens (contract §3.1), for development and tests.

This module promises: :func:`mint_token` gives the same bytes as the C ``nrpc_jwt_sign``
(``propctl token``) for the same secret, subject and times: header
``{"alg":"HS256","typ":"JWT"}``, claims ``exp``, ``iat``, ``sub`` as compact JSON with
sorted keys, unpadded base64url parts, HMAC-SHA256 signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

HEADER = b'{"alg":"HS256","typ":"JWT"}'
MIN_SECRET_BYTES = 32  # the server refuses shorter secrets (contract §1.4)


def b64url(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mint_token(secret: str | bytes, sub: str, ttl: int = 3600, *, now: int | None = None,
               nbf: int | None = None) -> str:
    """A token for `sub` valid `ttl` seconds from `now` (default: the current time).

    The server refuses a token whose exp lies more than TOKEN_MAX_LIFETIME (24 h by default)
    ahead. `nbf`, when given, adds a not-before claim.
    """
    if isinstance(secret, str):
        secret = secret.encode()
    if not sub:
        raise ValueError("sub must not be empty")
    iat = int(time.time()) if now is None else int(now)
    claims: dict[str, object] = {"sub": sub, "exp": iat + int(ttl), "iat": iat}
    if nbf is not None:
        claims["nbf"] = int(nbf)
    body = json.dumps(claims, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()
    signing_input = b64url(HEADER) + "." + b64url(body)
    sig = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + b64url(sig)
