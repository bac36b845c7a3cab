"""Real servers for the scale-out tests: nats-server (JetStream) and PostgreSQL, each in a temp dir on
a free port, started and stopped by the tests themselves (nothing relies on a server left running)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.conftest import free_port, wait_port

PG_BIN_DIRS = [Path(f"/usr/lib/postgresql/{v}/bin") for v in (17, 16, 15, 14, 13)]


def nats_binary() -> str | None:
    return shutil.which("nats-server") or next(
        (p for p in ("/usr/sbin/nats-server", "/usr/bin/nats-server") if Path(p).exists()), None
    )


def pg_bin() -> Path | None:
    env = os.environ.get("KOOPSUZ_PG_BIN")
    if env:
        return Path(env)
    for d in PG_BIN_DIRS:
        if (d / "initdb").exists() and (d / "pg_ctl").exists():
            return d
    found = shutil.which("initdb")
    return Path(found).parent if found else None


class NatsServer:
    """``nats-server -js`` with its store in ``store_dir``; can be stopped and started again on the
    same port and store (a restart, as an operator or a crash would do it)."""

    def __init__(self, store_dir: Path, port: int | None = None) -> None:
        binary = nats_binary()
        if binary is None:
            raise RuntimeError("nats-server is not installed (apt-get install nats-server; make setup does it)")
        self.binary = binary
        self.store_dir = store_dir
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> NatsServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.store_dir.parent / f"nats-{self.port}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [self.binary, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_port(self.port, 15, self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


class PostgresServer:
    """A throw-away cluster: initdb + pg_ctl as the current user, unix socket and TCP on a free port.

    PostgreSQL refuses to run as root, so as root the cluster runs as the ``nobody`` user (via
    ``runuser``), with its directory handed to that user.
    """

    def __init__(self, base: Path) -> None:
        b = pg_bin()
        if b is None:
            raise RuntimeError("PostgreSQL binaries not found (apt-get install postgresql; make setup does it)")
        self.bin = b
        self._as: list[str] = []
        if os.geteuid() == 0:  # pytest's tmp dirs are root-only: the cluster gets its own dir in /tmp
            self._as = ["runuser", "-u", "nobody", "--"]
            base = Path(tempfile.mkdtemp(prefix="koopsuz-pg-"))
        self.base = base
        self.data = base / "data"
        self.port = free_port()

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, db: str) -> str:
        user = "nobody" if self._as else "postgres"
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{db}"

    def _run(self, *args: str) -> None:
        r = subprocess.run([*self._as, *args], capture_output=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed ({r.returncode}): {r.stderr.decode()[-2000:]}")

    def start(self) -> PostgresServer:
        self.base.mkdir(parents=True, exist_ok=True)
        if self._as:
            shutil.chown(self.base, "nobody")
            self.base.chmod(0o700)
        if not (self.data / "PG_VERSION").exists():
            user_args = [] if self._as else ["-U", "postgres"]
            self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-E", "UTF8", *user_args)
        # a server clock zone that is not UTC, as in Bishkek: the store must not depend on it
        opts = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.base} -c fsync=off -c full_page_writes=off"
            " -c timezone=Asia/Bishkek"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.base / "pg.log"), "-o", opts, "-w", "start"
        )
        wait_port(self.port, 20)
        return self

    def stop(self, mode: str = "fast", *, remove: bool = True) -> None:
        with contextlib.suppress(Exception):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")
        if remove and self._as:
            shutil.rmtree(self.base, ignore_errors=True)

    def create_database(self, name: str, template: str | None = None) -> str:
        import psycopg

        with psycopg.connect(self.url.replace("+psycopg", ""), autocommit=True) as conn:
            tmpl = f" TEMPLATE {template}" if template else ""
            conn.execute(f'CREATE DATABASE "{name}"{tmpl}')
        return self.url_for(name)


def wait_for(predicate, timeout: float, step: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())
