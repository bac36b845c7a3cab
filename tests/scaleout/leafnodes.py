"""A national hub and regional leaf nodes as real nats-server processes, with a link that can be cut.

The leaf reaches the hub through ``LinkProxy``, a TCP forwarder standing for the WAN line to the
capital: ``cut()`` drops the line (every connection reset, new ones refused) while both servers keep
running, as a fibre cut or a dead VPN would; ``restore()`` brings it back. The hub advertises the
proxy as its leafnode address, so the leaf never learns a way around it.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
from pathlib import Path

from tests.conftest import free_port, wait_port
from tests.scaleout.servers import NatsServer

# What the leaf's remote keeps on its side of the line (as docs/deploy.md configures it): the
# region's event subjects and its KV buckets. JetStream's own traffic (the hub sourcing the region's
# stream through $JS.<domain>.API) still crosses.
LEAF_DENY = ["koopsuz.>", "$KV.>"]


class LinkProxy:
    """Forward 127.0.0.1:<port> to the target port until cut."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.up = True
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="link-proxy", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                near, _ = self._listener.accept()
            except OSError:
                return  # closed
            if not self.up:
                near.close()
                continue
            try:
                far = socket.create_connection(self.target, timeout=2)
                far.settimeout(None)
            except OSError:
                near.close()
                continue
            with self._lock:
                self._open += [near, far]
            for a, b in ((near, far), (far, near)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up = False
        with self._lock:
            conns, self._open = self._open, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self._listener.close()


class JetStreamNode(NatsServer):
    """nats-server from a config file: a JetStream domain, and either a leafnode listener (the hub) or a
    leafnode remote (a regional leaf)."""

    def __init__(
        self,
        base: Path,
        name: str,
        domain: str,
        *,
        leaf_listen: bool = False,
        remote_port: int | None = None,
    ) -> None:
        super().__init__(base / name / "jetstream")
        self.name = name
        self.domain = domain
        self.conf = base / name / "nats.conf"
        self.leaf_port = free_port() if leaf_listen else None
        self.link = LinkProxy(self.leaf_port) if self.leaf_port else None  # the line leaves connect through
        self.remote_port = remote_port

    def _config(self) -> str:
        lines = [
            f"server_name: {self.name}",
            f"listen: 127.0.0.1:{self.port}",
            f'jetstream {{ store_dir: "{self.store_dir}", domain: {self.domain} }}',
        ]
        if self.leaf_port is not None:
            assert self.link is not None
            listen, advertise = f"127.0.0.1:{self.leaf_port}", f"127.0.0.1:{self.link.port}"
            lines.append(f'leafnodes {{ listen: "{listen}", advertise: "{advertise}" }}')
        if self.remote_port is not None:
            deny = ", ".join(f'"{s}"' for s in LEAF_DENY)
            lines.append(
                f'leafnodes {{ reconnect: 1, remotes: [ {{ url: "nats-leaf://127.0.0.1:{self.remote_port}",'
                f" deny_imports: [{deny}], deny_exports: [{deny}] }} ] }}"
            )
        return "\n".join(lines) + "\n"

    def start(self) -> JetStreamNode:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(self._config())
        log = open(self.conf.parent / "nats.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT)
        wait_port(self.port, 15, self.proc)
        return self

    def close(self) -> None:
        self.stop()
        if self.link is not None:
            self.link.close()
