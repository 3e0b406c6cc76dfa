"""Requests and checks shared by the tests."""

import base64
import json
import os
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update

from service.models import AuthEvent, Login, User
from service.security import TYPES
from service.signing_keys import hmac_key

STRONG_PASSWORD = "correct-horse-battery-9"
OTHER_PASSWORD = "staple-orbit-lantern-42"
ACCESS_TOKEN_SECONDS = 15 * 60
ENTRY_KEYS = {"code", "message", "field"}
ANY_FIELD = object()
TOKEN_ENDPOINTS = {"/login", "/refresh"}
OAUTH_ERRORS = {400: "unsupported_grant_type", 401: "invalid_grant", 422: "invalid_request"}
# A Redis database of the test pass's own: .ci/run runs the SQLite and the
# PostgreSQL pass at once, and tests empty the one they use.
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL") or (
    "redis://127.0.0.1:6379/"
    + ("14" if os.environ.get("TEST_DATABASE_URL", "").startswith("postgres") else "15")
)


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return auth_headers(self.access_token)


def auth_headers(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


def signup(
    client: TestClient,
    email: str = "ada@example.com",
    password: str = STRONG_PASSWORD,
    **fields: Any,
) -> httpx.Response:
    return client.post("/users", json={"email": email, "password": password, **fields})


def login_response(
    client: TestClient, username: str | None, password: str | None, **form: str
) -> httpx.Response:
    data = dict(form)
    if username is not None:
        data["username"] = username
    if password is not None:
        data["password"] = password
    return client.post("/login", data=data)


def login(client: TestClient, email: str, password: str) -> dict[str, Any]:
    response = login_response(client, email, password)
    assert response.status_code == 200, response.text
    return response.json()


def refresh(client: TestClient, refresh_token: str) -> httpx.Response:
    return client.post("/refresh", json={"refresh_token": refresh_token})


def logout(client: TestClient, refresh_token: str) -> httpx.Response:
    return client.post("/logout", json={"refresh_token": refresh_token})


def me(client: TestClient, access_token: str) -> httpx.Response:
    return client.get("/users/me", headers=auth_headers(access_token))


def register(
    client: TestClient, email: str = "ada@example.com", password: str = STRONG_PASSWORD
) -> Account:
    """Sign up and log in."""
    response = signup(client, email=email, password=password)
    assert response.status_code == 201, response.text
    tokens = login(client, email, password)
    return Account(
        id=response.json()["id"],
        email=response.json()["email"],
        password=password,
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
    )


def assert_envelope(response: httpx.Response, *, oauth_error: str | None = None) -> list[dict]:
    """The error body has the one shape of the contract; returns its entries.

    The token endpoints' errors must also carry RFC 6749's `error`, so it is
    expected there even when the caller does not name it.
    """
    if oauth_error is None and response.request.url.path in TOKEN_ENDPOINTS:
        oauth_error = OAUTH_ERRORS.get(response.status_code)
    body = response.json()
    expected_keys = {"errors", "error"} if oauth_error else {"errors"}
    assert set(body) == expected_keys, body
    if oauth_error:
        assert body["error"] == oauth_error, body
    assert isinstance(body["errors"], list)
    assert body["errors"], body
    for entry in body["errors"]:
        assert set(entry) == ENTRY_KEYS, entry
        assert isinstance(entry["code"], str)
        assert isinstance(entry["message"], str)
        assert entry["message"]
        assert entry["field"] is None or isinstance(entry["field"], str)
    if response.status_code == 401:
        assert response.headers.get("www-authenticate", "").startswith("Bearer")
    return body["errors"]


def assert_error(
    response: httpx.Response,
    status: int,
    code: str,
    field: object = ANY_FIELD,
    *,
    oauth_error: str | None = None,
) -> list[dict]:
    """`response` is an error of `status` with an entry of `code` (and `field`, when given)."""
    assert response.status_code == status, response.text
    entries = assert_envelope(response, oauth_error=oauth_error)
    matching = [
        entry
        for entry in entries
        if entry["code"] == code and (field is ANY_FIELD or entry["field"] == field)
    ]
    assert matching, entries
    return entries


def codes(entries: list[dict]) -> list[tuple[str, str | None]]:
    return [(entry["code"], entry["field"]) for entry in entries]


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def header_of(token: str) -> dict[str, Any]:
    return jwt.get_unverified_header(token)


def sign(
    claims: dict[str, Any],
    key: Any,
    algorithm: str = "HS256",
    *,
    headers: dict[str, Any] | None = None,
) -> str:
    """`claims` signed with the secret `key` under the header the service would
    give them: the kid of that secret and the typ of the claims' type, so a
    test changes only what it names (`headers` overrides or adds members)."""
    header = {"kid": hmac_key(key, algorithm).kid} if algorithm.startswith("HS") else {}
    if claims.get("type") in TYPES:
        header["typ"] = TYPES[claims["type"]]
    return jwt.encode(claims, key, algorithm=algorithm, headers={**header, **(headers or {})})


def forged_token(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A JWT assembled by hand, as an attacker would, whatever its header says."""
    signed = f"{_b64(header)}.{_b64(claims)}"
    return f"{signed}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unsigned_token(claims: dict[str, Any]) -> str:
    """A JWT with `alg: none` and no signature, as an attacker would send it."""
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


def count_users(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(User))


def count_sessions(engine: Engine, user_id: int | None = None) -> int:
    statement = select(func.count()).select_from(Login)
    if user_id is not None:
        statement = statement.where(Login.user_id == user_id)
    with engine.connect() as connection:
        return connection.scalar(statement)


def set_user(engine: Engine, user_id: int, **values: Any) -> None:
    with engine.begin() as connection:
        connection.execute(update(User).where(User.id == user_id).values(**values))


def promote(client: TestClient, engine: Engine, account: Account) -> Account:
    """`account` made an admin in the database, as an operator would, and
    logged in again: its old login was granted a user's scopes only."""
    set_user(engine, account.id, is_superuser=True)
    tokens = login(client, account.email, account.password)
    return Account(
        id=account.id,
        email=account.email,
        password=account.password,
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
    )


def stored_user(engine: Engine, email: str) -> Any:
    """The user's row, with `is_superuser` (a view of its role) beside its columns."""
    with engine.connect() as connection:
        return connection.execute(
            select(User, User.is_superuser.label("is_superuser")).where(User.email == email)
        ).first()


def events_of(client: TestClient | httpx.Client, headers: dict[str, str], **params: Any) -> Any:
    """The caller's audit trail, newest first: GET /users/me/events."""
    response = client.get("/users/me/events", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()["events"]


def kinds_of(client: TestClient | httpx.Client, headers: dict[str, str]) -> list[str]:
    return [event["kind"] for event in events_of(client, headers)]


def stored_events(client: TestClient, engine: Engine) -> list[Any]:
    """Every row of auth_events, oldest first, once the app's trail has written what it holds."""
    assert client.app.state.audit.flush()  # type: ignore[attr-defined]
    with engine.connect() as connection:
        return list(connection.execute(select(AuthEvent).order_by(AuthEvent.id)).all())
