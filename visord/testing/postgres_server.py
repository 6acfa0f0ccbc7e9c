"""A throwaway PostgreSQL server on 127.0.0.1 for tests: Debian's postgresql binaries, a cluster in
a temporary folder.

`PostgresServer().start()` runs initdb (trust authentication, no password), starts `postgres` on a
free port of 127.0.0.1 with its socket in the folder, and creates one database; `url` is what
Optuna's RDBStorage takes. PostgreSQL refuses to run as root, so under root the cluster belongs to
the `postgres` user the Debian package creates, and the server runs as that user; its folder is a
fresh one under /tmp (pytest's own temporary folders are private to root, so that user could not
enter them), removed by `stop()`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from visord.testing.rtsp_server import free_port


def server_binaries() -> Path | None:
    """Debian's /usr/lib/postgresql/<version>/bin of the newest version installed, or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[-3])
    )
    return Path(found[-1]).parent if found else None


class PostgresServer:
    def __init__(self, database: str = "optuna"):
        self.bin = server_binaries()
        if self.bin is None:
            raise RuntimeError(
                "PostgreSQL server binaries not found: apt-get install postgresql (make test does)"
            )
        self.folder = Path(tempfile.mkdtemp(prefix="visord-pg-"))
        self.database = database
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _as_owner(self, command: list[str]) -> list[str]:
        return ["runuser", "-u", self.user, "--", *command] if os.geteuid() == 0 else command

    def start(self) -> PostgresServer:
        data = self.folder / "data"
        if os.geteuid() == 0:
            shutil.chown(self.folder, self.user)
        subprocess.run(
            self._as_owner(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    self.user,
                    "--auth=trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        self.process = subprocess.Popen(
            self._as_owner(
                [
                    str(self.bin / "postgres"),
                    "-D",
                    str(data),
                    "-p",
                    str(self.port),
                    "-h",
                    "127.0.0.1",
                    "-k",
                    str(self.folder),
                    "-c",
                    "fsync=off",
                ]
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while (
            subprocess.run(
                [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            ).returncode
            != 0
        ):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start on 127.0.0.1:{self.port}")
            time.sleep(0.2)
        subprocess.run(
            [
                str(self.bin / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.user,
                self.database,
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None
        shutil.rmtree(self.folder, ignore_errors=True)
