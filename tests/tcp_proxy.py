"""A small threaded TCP forwarder on 127.0.0.1 that can be switched off and on,
to cut an application off from its database and give it back."""

import contextlib
import select
import socket
import threading

POLL_SECONDS = 0.05
CHUNK = 65536


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target`.

    Switched off, it closes its listening socket (new connections are refused)
    and every open connection (those in use fail at once); switched on again,
    it listens on the same port, so the client's URL stays valid.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self._running = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._pumps: list[threading.Thread] = []

    def __enter__(self) -> "TcpProxy":
        self.switch_on()
        return self

    def __exit__(self, *_: object) -> None:
        self.switch_off()

    @property
    def is_on(self) -> bool:
        return self._running.is_set()

    def switch_on(self) -> None:
        if self.is_on:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._running.set()
        self._accepting = threading.Thread(
            target=self._accept, name="tcp-proxy-accept", daemon=True
        )
        self._accepting.start()

    def switch_off(self) -> None:
        self._running.clear()
        if self._accepting is not None:
            self._accepting.join(timeout=5)
            self._accepting = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            connections, self._connections = self._connections, set()
            pumps, self._pumps = self._pumps, []
        for connection in connections:
            _close(connection)
        for pump in pumps:
            pump.join(timeout=5)

    def _accept(self) -> None:
        listener = self._listener
        assert listener is not None
        while self._running.is_set():
            readable, _, _ = select.select([listener], [], [], POLL_SECONDS)
            if not readable or not self._running.is_set():
                continue
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            with self._lock:
                if not self._running.is_set():
                    _close(client)
                    _close(upstream)
                    return
                self._connections |= {client, upstream}
                pump = threading.Thread(
                    target=self._pump, args=(client, upstream), name="tcp-proxy-pump", daemon=True
                )
                self._pumps.append(pump)
            pump.start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        """Copy both ways until either side closes or the proxy is switched off."""
        peers = {client: upstream, upstream: client}
        try:
            while self._running.is_set():
                readable, _, _ = select.select(list(peers), [], [], POLL_SECONDS)
                for source in readable:
                    data = source.recv(CHUNK)
                    if not data:
                        return
                    peers[source].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            _close(client)
            _close(upstream)
            with self._lock:
                self._connections -= {client, upstream}


def _close(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        connection.close()
