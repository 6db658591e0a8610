"""propertyd: the Python client of propertyd (RPC over nng's SP protocol, without nng).

The package promises:

- ``connect(urls, token=..., timeout=...)`` -> :class:`Channel`, thread-safe, multiplexed,
  with deadlines, reconnection, and client-side balancing over several URLs or every
  address of a ``dns+tcp://`` name: round robin over the instances that are connected and
  healthy, with the safe-retry rule of the C clients (modules ``channel``, ``balance``);
- one stub class per service of the .proto files, generated at build time
  (``PropertyServiceStub``, ``EventServiceStub``, ``HealthStub``...; module ``_services``);
- the generated message modules re-exported by short name (``property_pb2``,
  ``events_pb2``, ``rpc_pb2``, ``health_pb2``);
- :class:`RpcError` for every failed call, with ``code``, ``code_name``, ``message``,
  ``violations``, ``request_id`` (module ``errors``);
- ``subscribe(event_urls, channel=...)`` -> :class:`Subscription`, events exactly once in
  seq order with gaps filled through ReadEvents (module ``subscribe``);
- ``mint_token(secret, sub, ttl)`` for development and tests (module ``token``).

It runs on Python 3.11 with the python3-protobuf runtime and nothing else.
"""

from . import balance, errors, sp
from ._messages import *  # noqa: F403 - generated: every *_pb2 module by short name
from ._messages import __all__ as _message_modules
from ._services import *  # noqa: F403 - generated: every service stub
from ._services import __all__ as _stubs
from .channel import Channel, connect
from .errors import CODE_NAMES, RpcError, code_name
from .subscribe import Stats, Subscription, subscribe
from .token import mint_token

__all__ = [
    "Channel", "connect", "RpcError", "CODE_NAMES", "code_name", "Subscription", "Stats",
    "subscribe", "mint_token", "balance", "errors", "sp", *_message_modules, *_stubs,
]
