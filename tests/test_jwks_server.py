"""Another service verifies our access tokens with nothing but the JWKS URL,
against a real server; and `python -m service keys` makes the key it signs with."""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from tests.helpers import STRONG_PASSWORD
from tests.servers import PROJECT_ROOT, ServerProcess


def run_keys(*arguments: str) -> subprocess.CompletedProcess[str]:
    # The arguments are the tests' own literals, never outside input.
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "service", "keys", *arguments],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def settings_lines(output: str) -> dict[str, str]:
    """The NAME=value lines `keys` prints, a quoted value possibly over several lines."""
    lines: dict[str, str] = {}
    name = None
    for line in output.splitlines():
        if name is not None:
            lines[name] += "\n" + line
            if line.endswith('"'):
                lines[name] = lines[name].strip('"')
                name = None
        elif "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            lines[key] = value
            if value.startswith('"') and not value.endswith('"'):
                name = key
    return lines


@pytest.fixture(scope="module")
def eddsa_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    env = settings_lines(run_keys("--algorithm", "EdDSA").stdout)
    server = ServerProcess(
        database_url=database_url, workdir=tmp_path_factory.mktemp("eddsa"), env=env
    )
    server.start()
    yield server
    server.stop()


def test_keys_prints_a_key_and_the_settings_that_use_it() -> None:
    result = run_keys("--algorithm", "ES256")

    assert result.returncode == 0, result.stderr
    lines = settings_lines(result.stdout)
    assert lines["JWT_ALGORITHM"] == "ES256"
    assert lines["JWT_PRIVATE_KEYS"].startswith("-----BEGIN PRIVATE KEY-----")
    assert lines["JWT_SIGNING_KID"] in result.stdout.splitlines()[0]


def test_keys_writes_the_pem_to_a_new_private_file_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"

    result = run_keys("--out", str(path))

    assert result.returncode == 0, result.stderr
    assert settings_lines(result.stdout)["JWT_PRIVATE_KEYS"] == f"@{path}"
    assert "PRIVATE KEY" not in result.stdout
    assert path.stat().st_mode & 0o777 == 0o600
    assert run_keys("--out", str(path)).returncode == 1


def test_another_process_verifies_an_access_token_with_only_the_jwks_url(
    eddsa_server: ServerProcess,
) -> None:
    with eddsa_server.client() as client:
        created = client.post(
            "/users", json={"email": "jwks@example.com", "password": STRONG_PASSWORD}
        )
        assert created.status_code == 201, created.text
        tokens = client.post(
            "/login", data={"username": "jwks@example.com", "password": STRONG_PASSWORD}
        ).json()

    keys = jwt.PyJWKClient(f"{eddsa_server.url}/.well-known/jwks.json")
    signing_key = keys.get_signing_key_from_jwt(tokens["access_token"])
    claims = jwt.decode(
        tokens["access_token"],
        signing_key,
        algorithms=["EdDSA"],
        issuer="http://localhost:8000",
        audience="http://localhost:8000",
    )

    assert claims["sub"] == str(created.json()["id"])
    assert jwt.get_unverified_header(tokens["access_token"])["typ"] == "at+jwt"
