"""Real uvicorn processes of the service, on free ports of 127.0.0.1, for tests
that need more than one instance sharing one database."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from service.config import Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 10
# Every variable the service reads, so nothing from the test runner's environment leaks in.
SETTING_VARIABLES = frozenset(name.upper() for name in Settings.model_fields) | {
    "WEB_CONCURRENCY",
    "PORT",
    "JWT_ALGORITHM",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerProcess:
    """One `uvicorn --factory service.main:create_app` process; stop() always ends it."""

    def __init__(self, *, database_url: str, workdir: Path, env: dict[str, str]) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.extra_env = env
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        env = {name: value for name, value in os.environ.items() if name not in SETTING_VARIABLES}
        env.update(
            DATABASE_URL=self.database_url,
            SECRET_KEY=os.environ["SECRET_KEY"],
            BCRYPT_ROUNDS="4",
            REFRESH_REUSE_GRACE_SECONDS="0",
            ENVIRONMENT="test",
            PYTHONPATH=str(PROJECT_ROOT),
        )
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        self.spawn()
        self.wait_until_started()

    def wait_until_started(self) -> None:
        # A port found free may be taken before uvicorn binds it: try again on another.
        for _attempt in range(3):
            if self._wait_until_healthy():
                return
            self.stop()
            self.spawn()
        raise RuntimeError(f"the server did not start; its log:\n{self.log()}")

    def spawn(self) -> None:
        self.port = free_port()
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "service.main:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-proxy-headers",
            "--log-level",
            "warning",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
                command,
                cwd=self.workdir,
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def _wait_until_healthy(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_SECONDS)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, **kwargs)  # type: ignore[arg-type]


def start_servers(
    count: int, *, database_url: str, workdir: Path, env: dict[str, str] | None = None
) -> list[ServerProcess]:
    """`count` running servers; on a failure to start, those already started are stopped."""
    servers: list[ServerProcess] = []
    try:
        for index in range(count):
            directory = workdir / f"server-{index}"
            directory.mkdir(parents=True, exist_ok=True)
            server = ServerProcess(database_url=database_url, workdir=directory, env=env or {})
            servers.append(server)
            server.spawn()
        # Spawned together, so the two imports of the service overlap.
        for server in servers:
            server.wait_until_started()
    except BaseException:
        stop_servers(servers)
        raise
    return servers


def client_of(servers: list[ServerProcess], index: int = 0) -> httpx.Client:
    """A client of the `index`-th server, round the list, patient enough for slow hashes."""
    return httpx.Client(base_url=servers[index % len(servers)].url, timeout=60)


def stop_servers(servers: list[ServerProcess]) -> None:
    for server in servers:
        server.stop()
