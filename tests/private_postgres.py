"""A PostgreSQL server of a test's own, from the binaries on the PATH, that the test may stop and start.

The suite's shared server must never go down, so outage tests run their own. PostgreSQL refuses
to run as root, so under root its binaries run as the `postgres` user (runuser).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SERVER_USER = "postgres"


class PrivatePostgres:
    """One throwaway cluster on 127.0.0.1:`port`, trust authentication for user postgres."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port
        self._data = folder / "data"
        self._log = folder / "server.log"

    def url(self, database: str = "postgres") -> str:
        """An asyncpg SQLAlchemy URL of `database` on this server."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def dsn(self) -> str:
        """A libpq DSN of the maintenance database (for asyncpg.connect)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def initialise(self) -> None:
        """Creates the cluster's data folder."""
        self._run("initdb", "-D", str(self._data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        """Starts the server; returns once it accepts connections."""
        self._start()

    def start_without_accepting(self) -> None:
        """Starts the server as a standby with hot standby off, which is how a server looks while it starts up:
        running, and refusing every connection with 57P03 (CannotConnectNowError) until promote().
        """
        _owned_by_server(self._data / "standby.signal")
        self._start("-c hot_standby=off")

    def promote(self) -> None:
        """Ends the standby's recovery; returns once the server accepts connections."""
        self._run("pg_ctl", "-D", str(self._data), "-w", "promote")

    def stop(self) -> None:
        """Stops the server the way an operator restarts it: open sessions end with AdminShutdown."""
        self._run("pg_ctl", "-D", str(self._data), "-m", "fast", "-w", "stop")

    def kill(self) -> None:
        """Stops the server as a crash would, if it runs; never fails (for clean-up)."""
        self._run("pg_ctl", "-D", str(self._data), "-m", "immediate", "-w", "stop", check=False)

    def _start(self, *options: str) -> None:
        settings = " ".join((f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off", *options))
        self._run("pg_ctl", "-D", str(self._data), "-l", str(self._log), "-o", settings, "-w", "start")

    def _run(self, program: str, *args: str, check: bool = True) -> None:
        executable = shutil.which(program)
        assert executable is not None, f"{program} is not on the PATH"
        command = [executable, *args]
        if os.geteuid() == 0:  # PostgreSQL will not run as root
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        subprocess.run(command, check=check, capture_output=True, timeout=120)


def _owned_by_server(path: Path, directory: bool = False) -> Path:
    """Creates `path` (a file, or a folder), owned by the server's user when running as root."""
    if not directory:
        path.touch()
    if os.geteuid() == 0:
        account = pwd.getpwnam(SERVER_USER)
        os.chown(path, account.pw_uid, account.pw_gid)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started private server on a free loopback port; stopped and removed on exit."""
    folder = _owned_by_server(Path(tempfile.mkdtemp(prefix="paygrant-pg-")), directory=True)
    server = PrivatePostgres(folder, _free_port())
    try:
        server.initialise()
        server.start()
        yield server
    finally:
        server.kill()
        shutil.rmtree(folder, ignore_errors=True)
