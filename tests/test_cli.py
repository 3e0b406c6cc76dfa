"""The command line (`create-superuser`, `prune`), run as an operator would, on the test db."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.helpers import (
    STRONG_PASSWORD,
    Account,
    auth_headers,
    count_users,
    login,
    login_response,
    set_user,
    signup,
    stored_user,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_superuser(
    database_url: str,
    email: str,
    password: str | None = STRONG_PASSWORD,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if name != "SUPERUSER_PASSWORD"}
    env["DATABASE_URL"] = database_url
    if password is not None:
        env["SUPERUSER_PASSWORD"] = password
    # The arguments are the tests' own literals, never outside input.
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "service", "create-superuser", "--email", email],
        cwd=PROJECT_ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        # No controlling terminal, so a password prompt reads stdin instead of hanging.
        start_new_session=True,
    )


def test_create_superuser_exits_0(database_url: str) -> None:
    result = create_superuser(database_url, "root@example.com")

    assert result.returncode == 0, result.stderr


def test_created_superuser_logs_in_and_lists_users(client: TestClient, database_url: str) -> None:
    create_superuser(database_url, "root@example.com")

    tokens = login(client, "root@example.com", STRONG_PASSWORD)
    response = client.get("/users", headers=auth_headers(tokens["access_token"]))

    assert response.status_code == 200
    assert [user["email"] for user in response.json()] == ["root@example.com"]
    assert response.json()[0]["is_superuser"] is True


def test_create_superuser_normalizes_the_email(database_url: str, db_engine: Engine) -> None:
    create_superuser(database_url, " Root@Example.COM ")

    assert stored_user(db_engine, "root@example.com").is_superuser is True


def test_create_superuser_promotes_an_existing_user(
    client: TestClient, database_url: str, db_engine: Engine
) -> None:
    signup(client, email="ada@example.com")

    result = create_superuser(database_url, "ADA@example.com")

    assert result.returncode == 0, result.stderr
    assert stored_user(db_engine, "ada@example.com").is_superuser is True
    assert count_users(db_engine) == 1


def test_promoting_an_existing_user_ends_its_logins(
    client: TestClient, user: Account, database_url: str
) -> None:
    # They were granted a user's scopes; the next login is an admin's.
    create_superuser(database_url, user.email)

    assert client.get("/users/me", headers=user.headers).status_code == 401
    tokens = login(client, user.email, user.password)
    assert "users:write" in tokens["scope"].split()


def test_create_superuser_of_an_existing_admin_ends_no_login(
    client: TestClient, superuser: Account, database_url: str
) -> None:
    create_superuser(database_url, superuser.email)

    assert client.get("/users/me", headers=superuser.headers).status_code == 200


def test_create_superuser_reads_the_password_from_a_prompt(
    client: TestClient, database_url: str
) -> None:
    result = create_superuser(
        database_url, "root@example.com", password=None, stdin=STRONG_PASSWORD + "\n"
    )

    assert result.returncode == 0, result.stderr
    assert login_response(client, "root@example.com", STRONG_PASSWORD).status_code == 200


def test_create_superuser_with_weak_password_fails_with_one_line(
    database_url: str, db_engine: Engine
) -> None:
    result = create_superuser(database_url, "root@example.com", password="12345")

    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert count_users(db_engine) == 0


def test_create_superuser_with_password_similar_to_email_fails(
    database_url: str, db_engine: Engine
) -> None:
    result = create_superuser(database_url, "mercator@example.com", password="mercator-projection")

    assert result.returncode != 0
    assert count_users(db_engine) == 0


def test_create_superuser_with_invalid_email_fails_with_one_line(
    database_url: str, db_engine: Engine
) -> None:
    result = create_superuser(database_url, "not-an-email")

    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert count_users(db_engine) == 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_service_serves_on_the_port_from_the_environment(tmp_path: Path) -> None:
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("TEST_")}
    env.update(
        PORT=str(port),
        WEB_CONCURRENCY="1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'served.db'}",
        PYTHONPATH=str(PROJECT_ROOT),
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "service"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        response = None
        while response is None and time.monotonic() < deadline:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            except httpx.TransportError:
                time.sleep(0.2)
        assert response is not None, "nothing answered on $PORT"
        assert response.json() == {"status": "ok"}
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_prune_deletes_revoked_sessions_and_keeps_live_ones(
    client: TestClient, user: Account, database_url: str, db_engine: Engine
) -> None:
    signed_out = login(client, user.email, user.password)
    client.post("/logout", json={"refresh_token": signed_out["refresh_token"]})

    result = subprocess.run(
        [sys.executable, "-m", "service", "prune"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    with db_engine.connect() as connection:
        remaining = connection.execute(text("SELECT count(*) FROM refresh_sessions")).scalar()
    assert remaining == 1
    assert client.post("/refresh", json={"refresh_token": user.refresh_token}).status_code == 200


def test_created_superuser_has_a_verified_address(database_url: str, db_engine: Engine) -> None:
    create_superuser(database_url, "root@example.com")

    assert stored_user(db_engine, "root@example.com").is_verified is True


def run_prune(database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", "prune"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def mailed_token_count(db_engine: Engine) -> int:
    with db_engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM account_tokens")).scalar_one())


def test_prune_deletes_expired_mailed_tokens_and_keeps_live_ones(
    client: TestClient, user: Account, database_url: str, db_engine: Engine
) -> None:
    for _ in range(2):
        assert client.post("/users/me/verify", headers=user.headers).status_code == 202
    with db_engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE account_tokens SET expires_at = :past WHERE digest = "
                "(SELECT min(digest) FROM account_tokens)"
            ),
            {"past": "2000-01-01 00:00:00+00:00"},
        )

    result = run_prune(database_url)

    assert result.returncode == 0, result.stderr
    assert mailed_token_count(db_engine) == 1


def test_prune_deletes_mailed_tokens_of_an_address_changed_since(
    client: TestClient, user: Account, database_url: str, db_engine: Engine
) -> None:
    assert client.post("/users/me/verify", headers=user.headers).status_code == 202
    # Behind the service's back: its own address changes discard the tokens at once.
    set_user(db_engine, user.id, email="ada.new@example.com")

    run_prune(database_url)

    assert mailed_token_count(db_engine) == 0
