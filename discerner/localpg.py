"""A local PostgreSQL server in a folder, for trying Discerner, tests and benchmarks.

`LocalPostgres(folder).start()` creates a cluster in `folder/data` on first use (`initdb`),
starts it with its Unix socket in `folder` (and, if asked, a TCP port on 127.0.0.1), and
returns a URL such as `postgresql://postgres@/postgres?host=/path/to/folder` that psycopg,
libpq and `DISCERNER_STORE` accept. `stop()` shuts it down (`fast`, or `immediate` to simulate
a crash); the data stays in the folder for the next start.

PostgreSQL refuses to run as root, so as root every server binary runs as the `postgres`
system user through `runuser -u postgres --`, and the folder is handed over to that user;
otherwise the binaries run as the current user. The server's superuser is always `postgres`,
so the URL is the same either way. From the shell:

    python -m discerner.localpg start DIR [--port P]    # prints the URL
    python -m discerner.localpg url DIR
    python -m discerner.localpg stop DIR
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

logger = logging.getLogger(__name__)

SUPERUSER = "postgres"  # the server's superuser, and the system user that runs it as root
DEFAULT_PORT = 5432  # names the socket file (.s.PGSQL.<port>) even without TCP
MIN_VERSION = 15
SOCKET_PATH_MAX = 107  # sun_path is 108 bytes on Linux, one for the final NUL


class PostgresNotFoundError(RuntimeError):
    """No PostgreSQL server binaries (initdb, pg_ctl, postgres) were found."""


def find_bindir() -> Path:
    """Return the folder of the newest PostgreSQL server binaries (version 15 or later).

    Looks at `$DISCERNER_PG_BINDIR`, then `/usr/lib/postgresql/*/bin` (Debian, Ubuntu), then
    `pg_config --bindir`, then the folder of `initdb` on `PATH`.

    Raises:
        PostgresNotFoundError: when no folder holds `initdb`, `pg_ctl` and `postgres`.
    """
    for folder in _candidate_bindirs():
        binaries = all((folder / name).is_file() for name in ("initdb", "pg_ctl", "postgres"))
        if binaries and _major_version(folder) >= MIN_VERSION:
            return folder
    raise PostgresNotFoundError(
        f"PostgreSQL {MIN_VERSION}+ server binaries (initdb, pg_ctl, postgres) were not found; "
        "install them (Debian/Ubuntu: apt-get install -y postgresql) or set DISCERNER_PG_BINDIR"
    )


def _candidate_bindirs() -> list[Path]:
    candidates = []
    if os.environ.get("DISCERNER_PG_BINDIR"):
        candidates.append(Path(os.environ["DISCERNER_PG_BINDIR"]))
    debian = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(map(Path, debian), key=lambda p: _version_key(p.parent.name), reverse=True)
    if shutil.which("pg_config"):
        result = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if result.returncode == 0:
            candidates.append(Path(result.stdout.strip()))
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).resolve().parent)
    return candidates


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _major_version(bindir: Path) -> int:
    # "postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)"
    result = subprocess.run([bindir / "postgres", "--version"], capture_output=True, text=True)
    words = result.stdout.split()
    return int(words[2].split(".")[0]) if len(words) > 2 and words[2][0].isdigit() else 0


def available() -> bool:
    """Whether PostgreSQL server binaries can be found on this machine."""
    try:
        find_bindir()
    except PostgresNotFoundError:
        return False
    return True


class LocalPostgres:
    """A PostgreSQL server whose data (`data/`), log (`postgres.log`) and socket live in a folder.

    Args:
        folder: The folder (created when missing; absolute after resolving).
        port: A TCP port on 127.0.0.1 to listen on as well, or None for the socket alone.
        settings: Extra server settings (`-c name=value`), e.g. `{"fsync": "off"}` for tests
            that never survive a machine crash anyway.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        port: int | None = None,
        settings: dict[str, str] | None = None,
    ):
        self.folder = Path(folder).expanduser().resolve()
        self.port = port
        self.settings = dict(settings or {})
        self.bindir = find_bindir()
        self.as_other_user = os.geteuid() == 0

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def log_file(self) -> Path:
        return self.folder / "postgres.log"

    @property
    def url(self) -> str:
        """The connection URL: superuser `postgres`, database `postgres`, through the socket."""
        url = f"postgresql://{SUPERUSER}@/postgres?host={quote(str(self.folder), safe='/')}"
        if self.port is not None:
            url += f"&port={self.port}"
        return url

    def running(self) -> bool:
        """Whether a server runs on this folder's data (`pg_ctl status`)."""
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        return self._run("pg_ctl", "status", "-D", self.data_dir, check=False).returncode == 0

    def start(self, timeout: int = 60) -> str:
        """Create the cluster if needed and start the server unless it runs; return the URL.

        Raises:
            RuntimeError: when the server does not start (the message ends with its log).
        """
        self._prepare_folder()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        if not self.running():
            started = self._run(
                "pg_ctl", "start", "-D", self.data_dir, "-l", self.log_file, "-w",
                "-t", str(timeout), "-o", self._server_options(), check=False,
            )  # fmt: skip
            if started.returncode != 0:
                raise RuntimeError(f"PostgreSQL did not start in {self.folder}:\n{self._tail()}")
            logger.info("PostgreSQL started in %s", self.folder)
        return self.url

    def stop(self, mode: str = "fast") -> None:
        """Stop the server if it runs. `mode`: smart, fast, or immediate (a simulated crash)."""
        if self.running():
            self._run("pg_ctl", "stop", "-D", self.data_dir, "-m", mode, "-w")
            logger.info("PostgreSQL stopped in %s (%s)", self.folder, mode)

    def __enter__(self) -> LocalPostgres:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _server_options(self) -> str:
        settings = {
            "listen_addresses": "127.0.0.1" if self.port is not None else "",
            "port": str(self.port or DEFAULT_PORT),
            "unix_socket_directories": str(self.folder),
            **self.settings,
        }
        # pg_ctl hands these to /bin/sh, hence the quoting.
        return " ".join(f"-c {name}={shlex.quote(value)}" for name, value in settings.items())

    def _initdb(self) -> None:
        self._run(
            "initdb", "-D", self.data_dir, "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
            "--locale=C.UTF-8", "--no-instructions",
        )  # fmt: skip
        logger.info("PostgreSQL cluster created in %s", self.data_dir)

    def _prepare_folder(self) -> None:
        socket = self.folder / f".s.PGSQL.{self.port or DEFAULT_PORT}"
        if len(str(socket)) > SOCKET_PATH_MAX:
            raise ValueError(f"the folder's path is too long for a Unix socket: {socket}")
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.as_other_user:
            shutil.chown(self.folder, SUPERUSER, SUPERUSER)
            self._grant_traversal()

    def _grant_traversal(self) -> None:
        """Let the `postgres` user reach the folder: add o+x (search, not list) where missing."""
        for parent in reversed(self.folder.parents):
            mode = parent.stat().st_mode
            if not mode & 0o001:
                os.chmod(parent, mode | 0o001)
                logger.warning(
                    "added o+x to %s so that PostgreSQL can reach %s", parent, self.folder
                )

    def _run(self, tool: str, *args: object, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(self.bindir / tool), *map(str, args)]
        if self.as_other_user:
            command = ["runuser", "-u", SUPERUSER, "--", *command]
        # The server inherits no pipes: pg_ctl start returns while it keeps running.
        result = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd="/"
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stderr.strip()}")
        return result

    def _tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def main(argv: list[str] | None = None) -> int:
    """`python -m discerner.localpg start|stop|url DIR [--port P]`."""
    parser = argparse.ArgumentParser(prog="python -m discerner.localpg", description=__doc__)
    parser.add_argument("action", choices=["start", "stop", "url", "status"])
    parser.add_argument("folder", help="the server's folder (data, log and socket)")
    parser.add_argument("--port", type=int, help="also listen on 127.0.0.1:PORT")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        server = LocalPostgres(args.folder, port=args.port)
        if args.action == "start":
            print(server.start())
        elif args.action == "stop":
            server.stop()
        elif args.action == "url":
            print(server.url)
        else:
            running = server.running()
            print("running" if running else "stopped")
            return 0 if running else 3
    except (PostgresNotFoundError, RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
