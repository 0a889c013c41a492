"""The rating app's waitress server, with a guard against slow and piled-up connections.

Waitress closes a connection only when it has been *idle* for ``channel_timeout``; a client that
trickles one header byte every few seconds is never idle, and a few hundred such sockets fill
``connection_limit`` so that no participant gets in (slowloris). The guard adds two bounds that
waitress lacks, both checked on waitress's own event loop:

- **request time**: a request (headers and body) must arrive in full within ``request_timeout``
  seconds of its first byte, else the connection is closed;
- **connections per address**: one client network (an IPv4 address or an IPv6 /64, as the claim
  limit counts it) holds at most ``connections_per_address`` open connections; more are closed
  at once. The trusted proxy's own address is exempt: behind a proxy every connection is its.

Everything else is waitress's (``threads``, ``connection_limit``, ``channel_timeout``, the body
limit, the trusted-proxy settings), passed through unchanged.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

from empathy_task.study.app import network_of

log = logging.getLogger(__name__)


class _GuardedChannel(HTTPChannel):
    """A waitress channel that remembers when its current request began, and counts itself."""

    request_started = 0.0
    got_data = False
    counted: str | None = None

    def __init__(self, server: GuardedServer, sock: Any, addr: Any, adj: Any, map: Any = None):
        super().__init__(server, sock, addr, adj, map=map)
        self.request_started = time.time()  # the first request's clock starts at connect
        host = addr[0] if isinstance(addr, tuple) and addr else ""
        if host in server.exempt:
            return
        key = network_of(str(host))
        held = server.per_address.get(key, 0)
        if server.connections_per_address and held >= server.connections_per_address:
            server.refused += 1
            if not server.warned_refusal:
                server.warned_refusal = True
                log.warning(
                    "a client network holds %d connections: refusing more from it "
                    "(--connections-per-address)",
                    held,
                )
            self.will_close = True
            self.handle_close()
            return
        server.per_address[key] = held + 1
        self.counted = key

    def received(self, data: bytes) -> bool:
        if self.request is None and not self.requests:
            # A new request begins with these bytes: its clock starts now.
            self.request_started = time.time()
        self.got_data = True
        return bool(super().received(data))

    def del_channel(self, map: Any = None) -> None:
        # Every way a channel closes ends here (waitress's own hook for its channel count).
        key, self.counted = self.counted, None
        if key is not None:
            server: GuardedServer = self.server
            left = server.per_address.get(key, 1) - 1
            if left > 0:
                server.per_address[key] = left
            else:
                server.per_address.pop(key, None)
        super().del_channel(map)


class GuardedServer(TcpWSGIServer):
    """waitress's TCP server with the guard's two bounds (see the module doc)."""

    channel_class = _GuardedChannel

    def __init__(
        self,
        *args: Any,
        request_timeout: float,
        connections_per_address: int,
        exempt: frozenset[str],
        **kw: Any,
    ) -> None:
        # Set before waitress's __init__, which may already accept.
        self.request_timeout = request_timeout
        self.connections_per_address = connections_per_address
        self.exempt = exempt
        self.per_address: dict[str, int] = {}
        self.refused = 0
        self.slow_closed = 0
        self.warned_refusal = False
        super().__init__(*args, **kw)

    def maintenance(self, now: float) -> None:
        super().maintenance(now)
        cutoff = now - self.request_timeout
        for channel in list(self.active_channels.values()):
            # A request still arriving (not yet with a worker) for too long, or a connection
            # that never sent a byte; an idle keep-alive connection is channel_timeout's.
            started = getattr(channel, "request_started", now)
            if channel.requests or channel.will_close or started >= cutoff:
                continue
            if channel.request is not None or not getattr(channel, "got_data", True):
                self.slow_closed += 1
                channel.will_close = True


def make_server(
    app: Any,
    *,
    request_timeout: float,
    connections_per_address: int,
    **waitress_options: Any,
) -> GuardedServer:
    """A listening :class:`GuardedServer` for ``app`` (``waitress_options`` as waitress's
    ``create_server`` takes them: host, port, threads, connection_limit, trusted_proxy, ...).

    ``connections_per_address`` 0 means no per-address bound.
    """
    if request_timeout <= 0:
        raise ValueError("the request timeout must be a positive number of seconds")
    if connections_per_address < 0:
        raise ValueError("connections per address must be 0 (no limit) or more")
    adj = Adjustments(**waitress_options)
    if len(adj.listen) != 1:
        raise ValueError("serve listens on one address: give one --host")
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    trusted = adj.trusted_proxy
    exempt = frozenset() if not trusted or trusted == "*" else frozenset({trusted})
    return GuardedServer(
        app,
        {},
        True,
        None,
        dispatcher=dispatcher,
        adj=adj,
        sockinfo=adj.listen[0],
        request_timeout=request_timeout,
        connections_per_address=connections_per_address,
        exempt=exempt,
    )
