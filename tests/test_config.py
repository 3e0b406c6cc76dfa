"""Settings: defaults, environment variables, and refusing unsafe production values."""

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Engine, update

from service.config import Settings, load_settings
from service.main import create_app
from service.models import Login
from tests.helpers import (
    STRONG_PASSWORD,
    claims_of,
    header_of,
    login,
    me,
    signup,
    stored_user,
)

pytestmark = pytest.mark.sqlite_only

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SETTING_VARIABLES = [
    "DATABASE_URL",
    "SECRET_KEY",
    "ENVIRONMENT",
    "ACCESS_TOKEN_EXPIRE_MINUTES",
    "REFRESH_TOKEN_EXPIRE_DAYS",
    "SESSION_MAX_LIFETIME_DAYS",
    "BCRYPT_ROUNDS",
    "PASSWORD_MIN_LENGTH",
    "CORS_ORIGINS",
    "MAX_BODY_BYTES",
    "ALGORITHM",
    "SECRET_KEY_FILE",
]
GOOD_KEY = "k" * 32


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No setting variables and no `.env`, so Settings() shows its own defaults."""
    for name in SETTING_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.usefixtures("clean_environment")
def test_defaults_match_the_contract() -> None:
    settings = Settings(secret_key=GOOD_KEY)

    assert settings.access_token_expire_minutes == 15
    assert settings.refresh_token_expire_days == 30
    assert settings.session_max_lifetime_days == 90
    assert settings.bcrypt_rounds == 12
    assert settings.password_min_length == 8
    assert settings.max_body_bytes == 65536
    assert settings.algorithm == "HS256"


@pytest.mark.usefixtures("clean_environment")
def test_default_database_is_an_sqlite_file() -> None:
    url = Settings(secret_key=GOOD_KEY).database_url

    assert url.startswith("sqlite:///")
    assert ":memory:" not in url


@pytest.mark.usefixtures("clean_environment")
def test_settings_read_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCESS_TOKEN_EXPIRE_MINUTES", "7")
    monkeypatch.setenv("BCRYPT_ROUNDS", "5")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///elsewhere.db")

    settings = Settings(secret_key=GOOD_KEY)

    assert settings.access_token_expire_minutes == 7
    assert settings.bcrypt_rounds == 5
    assert settings.database_url == "sqlite:///elsewhere.db"


def test_settings_read_a_dot_env_file(clean_environment: Path) -> None:
    (clean_environment / ".env").write_text("ACCESS_TOKEN_EXPIRE_MINUTES=9\n")

    assert Settings(secret_key=GOOD_KEY).access_token_expire_minutes == 9


@pytest.mark.usefixtures("clean_environment")
def test_heroku_postgres_url_is_rewritten_for_sqlalchemy() -> None:
    settings = Settings(database_url="postgres://u:p@db.example.com:5432/accounts")

    assert settings.database_url == "postgresql+psycopg2://u:p@db.example.com:5432/accounts"


@pytest.mark.usefixtures("clean_environment")
def test_heroku_postgres_url_from_the_environment_is_rewritten(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db.example.com/accounts")

    assert Settings().database_url == "postgresql+psycopg2://u:p@db.example.com/accounts"


@pytest.mark.usefixtures("clean_environment")
@pytest.mark.parametrize(
    "url", ["sqlite:///./accounts.db", "postgresql+psycopg2://u:p@db.example.com/accounts"]
)
def test_other_database_urls_are_kept(url: str) -> None:
    assert Settings(database_url=url).database_url == url


@pytest.mark.usefixtures("clean_environment")
def test_production_without_secret_key_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(environment="production", secret_key=None)


@pytest.mark.usefixtures("clean_environment")
def test_production_with_secret_key_under_32_bytes_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(environment="production", secret_key="k" * 31)


@pytest.mark.usefixtures("clean_environment")
def test_production_with_secret_key_of_32_bytes_is_accepted() -> None:
    assert Settings(environment="production", secret_key=GOOD_KEY).signing_key == GOOD_KEY


@pytest.mark.usefixtures("clean_environment")
def test_production_secret_key_length_is_counted_in_bytes() -> None:
    key = "€" * 11
    assert len(key) < 32 <= len(key.encode())

    assert Settings(environment="production", secret_key=key).signing_key == key


@pytest.mark.usefixtures("clean_environment")
def test_production_from_environment_without_secret_key_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")

    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize("secret_key", [None, "too-short"])
def test_service_refuses_to_start_in_production_without_a_safe_key(
    tmp_path: Path, secret_key: str | None
) -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in SETTING_VARIABLES and not name.startswith("TEST_")
    }
    env.update(ENVIRONMENT="production", PYTHONPATH=str(PROJECT_ROOT), PORT="0")
    if secret_key is not None:
        env["SECRET_KEY"] = secret_key

    result = subprocess.run(
        [sys.executable, "-m", "service"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.usefixtures("clean_environment")
def test_development_without_key_generates_a_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / ".secret_key"

    key = Settings(environment="development", secret_key_file=str(key_file)).signing_key

    assert key_file.exists()
    assert key_file.read_text().strip() == key
    assert len(key.encode()) >= 32


@pytest.mark.usefixtures("clean_environment")
def test_development_key_is_reused_by_the_next_start(tmp_path: Path) -> None:
    key_file = str(tmp_path / ".secret_key")
    first = Settings(environment="development", secret_key_file=key_file).signing_key

    second = Settings(environment="development", secret_key_file=key_file).signing_key

    assert second == first


@pytest.mark.usefixtures("clean_environment")
def test_explicit_secret_key_is_the_signing_key_and_writes_no_file(tmp_path: Path) -> None:
    key_file = tmp_path / ".secret_key"

    settings = Settings(
        environment="development", secret_key=GOOD_KEY, secret_key_file=str(key_file)
    )

    assert settings.signing_key == GOOD_KEY
    assert not key_file.exists()


def test_get_settings_is_cached() -> None:
    assert load_settings() is load_settings()


def test_bcrypt_rounds_sets_the_hash_cost(
    make_client: Callable[..., TestClient], db_engine: Engine
) -> None:
    signup(make_client(bcrypt_rounds=5), email="ada@example.com")

    assert stored_user(db_engine, "ada@example.com").hashed_password.startswith("$2b$05$")


def test_access_token_expire_minutes_sets_the_access_lifetime(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(access_token_expire_minutes=5)
    signup(client)

    tokens = login(client, "ada@example.com", STRONG_PASSWORD)

    assert tokens["expires_in"] == 300
    claims = claims_of(tokens["access_token"])
    assert claims["exp"] - claims["iat"] == 300


def test_refresh_token_expire_days_sets_the_refresh_lifetime(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(refresh_token_expire_days=2)
    signup(client)

    claims = claims_of(login(client, "ada@example.com", STRONG_PASSWORD)["refresh_token"])

    assert claims["exp"] - claims["iat"] == pytest.approx(2 * 24 * 3600, abs=5)


def test_session_max_lifetime_days_bounds_a_login(
    make_client: Callable[..., TestClient], db_engine: Engine
) -> None:
    client = make_client(session_max_lifetime_days=2)
    signup(client)
    tokens = login(client, "ada@example.com", STRONG_PASSWORD)
    with db_engine.begin() as connection:
        connection.execute(update(Login).values(created_at=datetime.now(UTC) - timedelta(days=3)))

    response = client.post("/refresh", json={"refresh_token": tokens["refresh_token"]})

    assert response.status_code == 401


def test_algorithm_setting_signs_and_checks_tokens(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(algorithm="HS512")
    signup(client)

    tokens = login(client, "ada@example.com", STRONG_PASSWORD)

    assert header_of(tokens["access_token"])["alg"] == "HS512"
    assert me(client, tokens["access_token"]).status_code == 200


def test_tokens_of_another_algorithm_are_refused(make_client: Callable[..., TestClient]) -> None:
    hs256 = make_client()
    signup(hs256)
    tokens = login(hs256, "ada@example.com", STRONG_PASSWORD)

    assert me(make_client(algorithm="HS512"), tokens["access_token"]).status_code == 401


def test_cors_allows_listed_origins(make_client: Callable[..., TestClient]) -> None:
    client = make_client(cors_origins="https://app.example.com,https://admin.example.com")

    for origin in ("https://app.example.com", "https://admin.example.com"):
        response = client.options(
            "/users",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        assert response.headers["access-control-allow-origin"] == origin


def test_cors_origins_are_read_comma_separated_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://app.example.com, https://admin.example.com")
    app = create_app(Settings(database_url=database_url, bcrypt_rounds=4))

    with TestClient(app) as client:
        response = client.get("/health", headers={"Origin": "https://admin.example.com"})

    assert response.headers["access-control-allow-origin"] == "https://admin.example.com"


def test_cors_ignores_unlisted_origins(make_client: Callable[..., TestClient]) -> None:
    client = make_client(cors_origins="https://app.example.com")

    response = client.get("/health", headers={"Origin": "https://evil.example.com"})

    assert "access-control-allow-origin" not in response.headers


def test_no_cors_headers_without_cors_origins(client: TestClient) -> None:
    response = client.get("/health", headers={"Origin": "https://app.example.com"})

    assert "access-control-allow-origin" not in response.headers


def test_app_accepts_an_in_memory_sqlite_url(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings(database_url="sqlite://"))

    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
