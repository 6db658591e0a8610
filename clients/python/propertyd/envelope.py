"""The rpc.v1 envelope (contract §2.3-2.5): building requests, reading replies.

This module promises: :func:`encode_request` gives the serialized ``rpc.v1.Request``
(deterministic: fields in number order, metadata sorted by key, so equal inputs give equal
bytes); :func:`decode_response` returns the payload and metadata of an OK reply and raises
:class:`~propertyd.errors.RpcError` for any other code or an undecodable reply. Metadata is
checked against the server's limits before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping

from .errors import INTERNAL, INVALID_ARGUMENT, OK, RpcError
from .rpc.v1 import rpc_pb2

# Server limits (contract §2.5, §2.4).
MAX_METADATA_ENTRIES = 64
MAX_METADATA_KEY = 128
MAX_METADATA_VALUE = 4096
DEFAULT_TIMEOUT_MS = 5000
MAX_TIMEOUT_MS = 300000

# Reserved metadata keys.
AUTHORIZATION = "authorization"
REQUEST_ID = "x-request-id"
TRACEPARENT = "traceparent"
IDEMPOTENCY_KEY = "idempotency-key"


def check_metadata(md: Mapping[str, str]) -> None:
    """Raises ValueError when `md` would be refused by the server (§2.5 limits, upper case)."""
    if len(md) > MAX_METADATA_ENTRIES:
        raise ValueError(f"{len(md)} metadata entries; at most {MAX_METADATA_ENTRIES}")
    for k, v in md.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise ValueError("metadata keys and values must be str")
        if k != k.lower():
            raise ValueError(f"metadata key {k!r} must be lower case")
        if len(k.encode()) > MAX_METADATA_KEY:
            raise ValueError(f"metadata key longer than {MAX_METADATA_KEY} bytes")
        if len(v.encode()) > MAX_METADATA_VALUE:
            raise ValueError(f"metadata value of {k!r} longer than {MAX_METADATA_VALUE} bytes")


def clamp_timeout_ms(seconds: float) -> int:
    """The timeout_ms to send for `seconds` left: rounded up, 1..300000 (0 is the server's 5 s)."""
    ms = int(-(-seconds * 1000 // 1))
    return max(1, min(MAX_TIMEOUT_MS, ms))


def encode_request(method: str, payload: bytes, metadata: Mapping[str, str], timeout_ms: int) -> bytes:
    """The serialized rpc.v1.Request."""
    req = rpc_pb2.Request(method=method, payload=payload, timeout_ms=timeout_ms)
    for k, v in metadata.items():
        req.metadata[k] = v
    return req.SerializeToString(deterministic=True)


def decode_response(body: bytes, method: str = "") -> tuple[bytes, dict[str, str]]:
    """(payload, metadata) of an OK reply; raises RpcError otherwise."""
    rsp = rpc_pb2.Response()
    try:
        rsp.ParseFromString(body)
    except Exception as e:  # protobuf's DecodeError, or worse
        raise RpcError(INTERNAL, f"undecodable reply from server: {e}", method=method, local=True) from None
    md = dict(rsp.metadata)
    if rsp.code != OK:
        raise RpcError(rsp.code, rsp.message,
                       violations=[(v.field, v.description) for v in rsp.violations],
                       request_id=md.get(REQUEST_ID, ""), method=method)
    return rsp.payload, md


def bad_argument(message: str, method: str = "") -> RpcError:
    """A locally raised INVALID_ARGUMENT (nothing was sent)."""
    return RpcError(INVALID_ARGUMENT, message, method=method, local=True)
