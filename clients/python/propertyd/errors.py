"""Status codes and the exception every failed call raises.

This module promises: the gRPC status numbers propertyd uses (contract §2.8) as constants
and names, and :class:`RpcError`, raised for a reply with a non-zero code and for outcomes
decided locally (no reply before the deadline, no connection), told apart by ``.local``.
"""

from __future__ import annotations

OK = 0
CANCELLED = 1
UNKNOWN = 2
INVALID_ARGUMENT = 3
DEADLINE_EXCEEDED = 4
NOT_FOUND = 5
ALREADY_EXISTS = 6
PERMISSION_DENIED = 7
RESOURCE_EXHAUSTED = 8
FAILED_PRECONDITION = 9
ABORTED = 10
OUT_OF_RANGE = 11
UNIMPLEMENTED = 12
INTERNAL = 13
UNAVAILABLE = 14
DATA_LOSS = 15
UNAUTHENTICATED = 16

CODE_NAMES: dict[int, str] = {
    OK: "OK",
    CANCELLED: "CANCELLED",
    UNKNOWN: "UNKNOWN",
    INVALID_ARGUMENT: "INVALID_ARGUMENT",
    DEADLINE_EXCEEDED: "DEADLINE_EXCEEDED",
    NOT_FOUND: "NOT_FOUND",
    ALREADY_EXISTS: "ALREADY_EXISTS",
    PERMISSION_DENIED: "PERMISSION_DENIED",
    RESOURCE_EXHAUSTED: "RESOURCE_EXHAUSTED",
    FAILED_PRECONDITION: "FAILED_PRECONDITION",
    ABORTED: "ABORTED",
    OUT_OF_RANGE: "OUT_OF_RANGE",
    UNIMPLEMENTED: "UNIMPLEMENTED",
    INTERNAL: "INTERNAL",
    UNAVAILABLE: "UNAVAILABLE",
    DATA_LOSS: "DATA_LOSS",
    UNAUTHENTICATED: "UNAUTHENTICATED",
}

# Codes worth retrying with backoff (contract §2.8): CreateProperty only with an
# idempotency key.
RETRYABLE = frozenset({DEADLINE_EXCEEDED, UNAVAILABLE, RESOURCE_EXHAUSTED})


def code_name(code: int) -> str:
    """The name of a status code; codes outside 0-16 are UNKNOWN, as the server counts them."""
    return CODE_NAMES.get(code, "UNKNOWN")


class RpcError(Exception):
    """A call that did not succeed.

    code: status number; code_name: its name; message: text for a person;
    violations: [(field, description)] with INVALID_ARGUMENT; request_id: the reply's
    x-request-id ("" when no reply came); method: the method path; local: True when the
    outcome was decided by this client (deadline passed, connection down or lost), False
    when the server answered it.
    """

    def __init__(self, code: int, message: str, *, violations: list[tuple[str, str]] | None = None,
                 request_id: str = "", method: str = "", local: bool = False) -> None:
        self.code = code
        self.code_name = code_name(code)
        self.message = message
        self.violations = list(violations or [])
        self.request_id = request_id
        self.method = method
        self.local = local
        super().__init__(str(self))

    def __str__(self) -> str:
        s = f"{self.code} {self.code_name}: {self.message}"
        if self.violations:
            s += " [" + "; ".join(f"{f}: {d}" for f, d in self.violations) + "]"
        return s

    def __repr__(self) -> str:
        return (f"RpcError(code={self.code}, code_name={self.code_name!r}, message={self.message!r}, "
                f"violations={self.violations!r}, request_id={self.request_id!r}, local={self.local})")
