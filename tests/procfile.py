"""The service started as a platform starts it (the Procfile's `web` line) and as a
newcomer does (`python -m service`)."""

import os
import subprocess
import sys
from pathlib import Path

from tests.servers import PROJECT_ROOT, ServerProcess, free_port

PROCFILE = PROJECT_ROOT / "Procfile"


def web_command() -> str:
    for line in PROCFILE.read_text().splitlines():
        if line.startswith("web:"):
            return line.removeprefix("web:").strip()
    raise AssertionError("the Procfile has no web process")


class ProcfileServer(ServerProcess):
    """The Procfile's web command, run by a shell as a platform runs it, on a free port."""

    def spawn(self) -> None:
        self.port = free_port()
        env = self.environment()
        env["PORT"] = str(self.port)
        # `exec env` so a leading VAR=value works under exec and signals reach uvicorn.
        # The platform puts the app's tools first on PATH; here, this interpreter's.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 (our own Procfile)
                ["/bin/sh", "-c", f"exec env {web_command()}"],
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )


class ModuleServer(ServerProcess):
    """`python -m service`, serving on a free port of 127.0.0.1."""

    def spawn(self) -> None:
        self.port = free_port()
        env = {**self.environment(), "PORT": str(self.port), "HOST": "127.0.0.1"}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "service"],
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
