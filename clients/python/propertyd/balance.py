"""The pure decisions of client-side balancing, apart from sockets and threads.

This module promises (every function is pure, or only calls the resolver it is given):

- the safe-retry rule: :func:`retry_safe` and :func:`may_retry`, the same rule and the
  same method list as the C library's ``include/nrpc/retry.h`` (``src/rpc/retry.c``);
- round robin over instances in rotation: :func:`pick`, and :func:`pending` to tell
  whether waiting may still bring one;
- the health check: :func:`probe_request` builds ``/grpc.health.v1.Health/Check`` of ""
  in an envelope, :func:`probe_serving` reads its reply;
- the DNS form ``dns+tcp://HOST:PORT`` / ``dns+tls+tcp://HOST:PORT`` (as the C clients
  spell it): :func:`parse_dns_url`, :func:`addr_url`, :func:`expand` (every A/AAAA
  address through a resolver that can be injected) and :func:`merge` (a refresh's diff).

The model is gRPC's round_robin with health checking: an instance is CONNECTING (no
verdict yet: dialing, or connected and not yet checked), READY (connected and its last
check on this connection said SERVING) or DOWN; calls go round robin over the READY ones.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from .grpc.health.v1 import health_pb2
from .rpc.v1 import rpc_pb2

# Instance states, as the C library's lb_state.
CONNECTING = "connecting"
READY = "ready"
DOWN = "down"

HEALTH_CHECK = "/grpc.health.v1.Health/Check"
CREATE_PROPERTY = "/property.v1.PropertyService/CreateProperty"
IDEMPOTENCY_KEY = "idempotency-key"
_UNIMPLEMENTED = 12

# The methods whose call may be sent again to another instance after the instance it was
# sent to died with it in flight: reads, where doing it twice changes nothing.
# THIS LIST AND retry_safe() MUST MATCH include/nrpc/retry.h (src/rpc/retry.c), the rule
# the gateway and the C, Python and TypeScript clients share. Change them together.
RETRY_SAFE_METHODS = frozenset({
    "/property.v1.PropertyService/GetProperty",
    "/property.v1.PropertyService/ListPropertiesByOwner",
    "/property.v1.PropertyService/SearchProperties",
    "/property.v1.EventService/ReadEvents",
    "/grpc.health.v1.Health/Check",
    "/rpc.v1.Reflection/ListServices",
    "/rpc.v1.Reflection/GetFileDescriptorSet",
})


def retry_safe(method: str, has_idempotency_key: bool) -> bool:
    """True when a call of `method` may be sent again after an instance died with it in flight.

    Reads, and a CreateProperty carrying an idempotency-key (the second one replays the
    first's outcome). Must match nrpc_retry_safe() of include/nrpc/retry.h.
    """
    if method in RETRY_SAFE_METHODS:
        return True
    return has_idempotency_key and method == CREATE_PROPERTY


def may_retry(sent: bool, method: str, has_idempotency_key: bool) -> bool:
    """Whether a call whose instance was lost may go to another one: always when it was
    never sent (the server cannot have seen it), else per :func:`retry_safe`."""
    return not sent or retry_safe(method, has_idempotency_key)


def has_idempotency_key(md: Mapping[str, str]) -> bool:
    """True when metadata `md` carries a non-empty idempotency-key (keys match exactly)."""
    return bool(md.get(IDEMPOTENCY_KEY))


def pick(states: Sequence[str], tried: Sequence[bool], cursor: int) -> tuple[int, int]:
    """Round robin: the first READY index at or after `cursor` (mod n) not marked in `tried`.

    Returns (index, next cursor), or (-1, cursor) when there is none.
    """
    n = len(states)
    for k in range(n):
        i = (cursor + k) % n
        if states[i] == READY and not tried[i]:
            return i, (i + 1) % n
    return -1, cursor


def pending(states: Sequence[str], tried: Sequence[bool]) -> bool:
    """True when waiting may still produce a READY instance outside `tried` (some such
    instance is CONNECTING); False means fail fast."""
    return any(s == CONNECTING and not t for s, t in zip(states, tried))


def probe_request(timeout_ms: int) -> bytes:
    """The health check request: Health/Check of "" (the whole server) in an rpc.v1.Request,
    without metadata (Health needs no token)."""
    return rpc_pb2.Request(method=HEALTH_CHECK, timeout_ms=timeout_ms).SerializeToString()


def probe_serving(reply: bytes) -> bool:
    """The verdict of a health check's reply (an rpc.v1.Response): True for code 0 with
    status SERVING, and for 12 UNIMPLEMENTED (a server without the health service counts
    as serving, as in gRPC); False for anything else, undecodable bytes included."""
    try:
        rsp = rpc_pb2.Response()
        rsp.ParseFromString(reply)
        if rsp.code == _UNIMPLEMENTED:
            return True
        if rsp.code != 0:
            return False
        h = health_pb2.HealthCheckResponse()
        h.ParseFromString(rsp.payload)
        return h.status == health_pb2.HealthCheckResponse.SERVING
    except Exception:  # noqa: BLE001 - protobuf's DecodeError and friends
        return False


@dataclass(frozen=True)
class DnsTarget:
    """A dns+ URL: every A/AAAA record of `host`, dialed with `scheme` on `port`."""

    scheme: str  # "tcp" or "tls+tcp"
    host: str
    port: int

    def __str__(self) -> str:
        return f"dns+{self.scheme}://{self.host}:{self.port}"


_DNS_FORMS = (("dns+tls+tcp://", "tls+tcp"), ("dns+tcp://", "tcp"))


def parse_dns_url(url: str) -> DnsTarget | None:
    """The target of "dns+tcp://HOST:PORT" or "dns+tls+tcp://HOST:PORT"; None when `url` is
    not a dns+ URL. Raises ValueError for a malformed one (no port, a port outside
    1..65535, an empty, bracketed or IPv6 host, a path)."""
    for prefix, scheme in _DNS_FORMS:
        if url.startswith(prefix):
            rest = url[len(prefix):]
            break
    else:
        if url.startswith("dns+"):
            raise ValueError(f"URL {url!r}: unsupported dns+ form (dns+tcp://HOST:PORT, dns+tls+tcp://HOST:PORT)")
        return None
    host, sep, port_s = rest.rpartition(":")
    if (not sep or not host or host.startswith("[") or ":" in host or "/" in rest
            or not port_s.isdigit() or not 0 < int(port_s) < 65536):
        raise ValueError(f"URL {url!r}: want dns+{scheme}://HOST:PORT")
    return DnsTarget(scheme, host, int(port_s))


def addr_url(scheme: str, addr: str, port: int) -> str:
    """"scheme://addr:port", with [brackets] around an IPv6 address."""
    return f"{scheme}://[{addr}]:{port}" if ":" in addr else f"{scheme}://{addr}:{port}"


Resolver = Callable[[str, int], Sequence[str]]


def default_resolver(host: str, port: int) -> list[str]:
    """Every A and AAAA address of `host` (getaddrinfo), in the resolver's order, once each.
    Raises OSError (socket.gaierror) when the name does not resolve."""
    out: list[str] = []
    for family, _, _, _, sa in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        if family in (socket.AF_INET, socket.AF_INET6) and sa[0] not in out:
            out.append(str(sa[0]))
    return out


def expand(target: DnsTarget, resolver: Resolver = default_resolver) -> list[str]:
    """The endpoint URL of every address `resolver` gives for the target, once each, in
    order. Raises what the resolver raises; an empty answer gives []."""
    out: list[str] = []
    for a in resolver(target.host, target.port):
        a = a[1:-1] if a.startswith("[") and a.endswith("]") else a
        u = addr_url(target.scheme, a, target.port)
        if u not in out:
            out.append(u)
    return out


def merge(have: Sequence[str], got: Sequence[str]) -> tuple[list[bool], list[str]]:
    """A DNS refresh: `have` are the URLs dialed now, `got` the new answer. Returns (keep,
    add): keep[i] tells whether have[i] is still in the answer; add lists the URLs of the
    answer not dialed yet (once each, in order)."""
    keep = [u in got for u in have]
    add: list[str] = []
    for u in got:
        if u not in have and u not in add:
            add.append(u)
    return keep, add
