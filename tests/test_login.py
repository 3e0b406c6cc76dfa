"""POST /login: the OAuth2 token endpoint (password and refresh_token grants)."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import (
    ACCESS_TOKEN_SECONDS,
    STRONG_PASSWORD,
    Account,
    assert_envelope,
    assert_error,
    claims_of,
    login_response,
    me,
    refresh,
    set_user,
    signup,
)

TOKEN_PAIR_FIELDS = {"access_token", "refresh_token", "token_type", "expires_in", "scope"}


@pytest.fixture
def signed_up(client: TestClient) -> None:
    assert signup(client, email="ada@example.com").status_code == 201


@pytest.mark.usefixtures("signed_up")
def test_login_is_200_with_a_token_pair(client: TestClient) -> None:
    response = login_response(client, "ada@example.com", STRONG_PASSWORD)

    assert response.status_code == 200, response.text
    assert set(response.json()) == TOKEN_PAIR_FIELDS


@pytest.mark.usefixtures("signed_up")
def test_login_token_type_is_bearer(client: TestClient) -> None:
    body = login_response(client, "ada@example.com", STRONG_PASSWORD).json()

    assert body["token_type"] == "bearer"


@pytest.mark.usefixtures("signed_up")
def test_login_expires_in_is_the_access_token_lifetime_in_seconds(client: TestClient) -> None:
    body = login_response(client, "ada@example.com", STRONG_PASSWORD).json()

    assert body["expires_in"] == ACCESS_TOKEN_SECONDS
    claims = claims_of(body["access_token"])
    assert claims["exp"] - claims["iat"] == ACCESS_TOKEN_SECONDS


@pytest.mark.usefixtures("signed_up")
def test_login_response_is_not_cacheable(client: TestClient) -> None:
    response = login_response(client, "ada@example.com", STRONG_PASSWORD)

    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


@pytest.mark.usefixtures("signed_up")
def test_login_access_token_opens_the_protected_routes(client: TestClient) -> None:
    body = login_response(client, "ada@example.com", STRONG_PASSWORD).json()

    response = me(client, body["access_token"])

    assert response.status_code == 200
    assert response.json()["email"] == "ada@example.com"


@pytest.mark.usefixtures("signed_up")
def test_login_username_is_case_insensitive_and_trimmed(client: TestClient) -> None:
    response = login_response(client, "  ADA@Example.COM ", STRONG_PASSWORD)

    assert response.status_code == 200, response.text


@pytest.mark.usefixtures("signed_up")
def test_login_with_explicit_password_grant_type_succeeds(client: TestClient) -> None:
    response = login_response(client, "ada@example.com", STRONG_PASSWORD, grant_type="password")

    assert response.status_code == 200, response.text


@pytest.mark.usefixtures("signed_up")
def test_login_with_a_scope_of_ours_succeeds(client: TestClient) -> None:
    response = login_response(
        client, "ada@example.com", STRONG_PASSWORD, grant_type="password", scope="profile:read"
    )

    assert response.status_code == 200, response.text


@pytest.mark.usefixtures("signed_up")
def test_login_with_a_scope_we_do_not_have_is_400_invalid_scope(client: TestClient) -> None:
    # Once accepted and ignored; since scopes exist, a name we lack is an error, not a guess.
    response = login_response(
        client, "ada@example.com", STRONG_PASSWORD, grant_type="password", scope="me users"
    )

    assert_error(response, 400, "invalid_scope", "scope", oauth_error="invalid_scope")


@pytest.mark.usefixtures("signed_up")
def test_login_ignores_client_credentials_of_public_clients(client: TestClient) -> None:
    response = login_response(
        client,
        "ada@example.com",
        STRONG_PASSWORD,
        grant_type="password",
        client_id="swagger-ui",
        client_secret="",
    )

    assert response.status_code == 200, response.text


@pytest.mark.usefixtures("signed_up")
def test_each_login_gives_different_tokens(client: TestClient) -> None:
    first = login_response(client, "ada@example.com", STRONG_PASSWORD).json()
    second = login_response(client, "ada@example.com", STRONG_PASSWORD).json()

    assert first["access_token"] != second["access_token"]
    assert first["refresh_token"] != second["refresh_token"]


def test_login_with_unknown_email_is_401_invalid_credentials(client: TestClient) -> None:
    response = login_response(client, "nobody@example.com", STRONG_PASSWORD)

    assert_error(response, 401, "invalid_credentials", None, oauth_error="invalid_grant")


@pytest.mark.usefixtures("signed_up")
def test_login_with_wrong_password_is_401_invalid_credentials(client: TestClient) -> None:
    response = login_response(client, "ada@example.com", "wrong-horse-battery-9")

    assert_error(response, 401, "invalid_credentials", None, oauth_error="invalid_grant")


def test_login_of_inactive_account_is_401_invalid_credentials(
    client: TestClient, db_engine: Engine
) -> None:
    user_id = signup(client, email="ada@example.com").json()["id"]
    set_user(db_engine, user_id, is_active=False)

    response = login_response(client, "ada@example.com", STRONG_PASSWORD)

    assert_error(response, 401, "invalid_credentials", None, oauth_error="invalid_grant")


def test_login_failures_are_indistinguishable(client: TestClient, db_engine: Engine) -> None:
    signup(client, email="ada@example.com")
    inactive_id = signup(client, email="bob@example.com").json()["id"]
    set_user(db_engine, inactive_id, is_active=False)

    unknown = login_response(client, "nobody@example.com", STRONG_PASSWORD)
    wrong = login_response(client, "ada@example.com", "wrong-horse-battery-9")
    inactive = login_response(client, "bob@example.com", STRONG_PASSWORD)

    assert unknown.status_code == wrong.status_code == inactive.status_code == 401
    assert unknown.json() == wrong.json() == inactive.json()
    assert (
        unknown.headers["www-authenticate"]
        == wrong.headers["www-authenticate"]
        == inactive.headers["www-authenticate"]
    )


def test_login_without_username_is_422_invalid_request(client: TestClient) -> None:
    response = login_response(client, None, STRONG_PASSWORD)

    assert_error(response, 422, "field_required", "username", oauth_error="invalid_request")


def test_login_without_password_is_422_invalid_request(client: TestClient) -> None:
    response = login_response(client, "ada@example.com", None)

    assert_error(response, 422, "field_required", "password", oauth_error="invalid_request")


def test_login_with_json_instead_of_form_is_422_invalid_request(client: TestClient) -> None:
    signup(client, email="ada@example.com")

    response = client.post(
        "/login", json={"username": "ada@example.com", "password": STRONG_PASSWORD}
    )

    assert response.status_code == 422
    assert_envelope(response, oauth_error="invalid_request")


def test_login_with_unsupported_grant_type_is_400(client: TestClient) -> None:
    response = login_response(client, "ada@example.com", STRONG_PASSWORD, grant_type="foo")

    assert_error(
        response, 400, "unsupported_grant_type", "grant_type", oauth_error="unsupported_grant_type"
    )


def test_login_refresh_token_grant_returns_a_new_pair(client: TestClient, user: Account) -> None:
    response = client.post(
        "/login", data={"grant_type": "refresh_token", "refresh_token": user.refresh_token}
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == TOKEN_PAIR_FIELDS
    assert body["refresh_token"] != user.refresh_token
    assert me(client, body["access_token"]).status_code == 200


def test_login_refresh_token_grant_is_not_cacheable(client: TestClient, user: Account) -> None:
    response = client.post(
        "/login", data={"grant_type": "refresh_token", "refresh_token": user.refresh_token}
    )

    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


def test_login_refresh_token_grant_spends_the_token(client: TestClient, user: Account) -> None:
    client.post("/login", data={"grant_type": "refresh_token", "refresh_token": user.refresh_token})

    response = refresh(client, user.refresh_token)

    assert_error(response, 401, "invalid_token", oauth_error="invalid_grant")


def test_login_refresh_token_grant_without_token_is_422_invalid_request(
    client: TestClient,
) -> None:
    response = client.post("/login", data={"grant_type": "refresh_token"})

    assert_error(response, 422, "field_required", "refresh_token", oauth_error="invalid_request")


def test_login_refresh_token_grant_with_garbage_is_401_invalid_grant(client: TestClient) -> None:
    response = client.post(
        "/login", data={"grant_type": "refresh_token", "refresh_token": "not-a-token"}
    )

    assert_error(response, 401, "invalid_token", oauth_error="invalid_grant")


def test_login_refresh_token_grant_with_access_token_is_401(
    client: TestClient, user: Account
) -> None:
    response = client.post(
        "/login", data={"grant_type": "refresh_token", "refresh_token": user.access_token}
    )

    assert_error(response, 401, "invalid_token", oauth_error="invalid_grant")


@pytest.mark.usefixtures("signed_up")
def test_login_repeated_failures_are_throttled_with_429_and_retry_after(
    client: TestClient,
) -> None:
    responses = [
        login_response(client, "ada@example.com", f"wrong-horse-battery-{attempt}")
        for attempt in range(50)
    ]

    throttled = [response for response in responses if response.status_code == 429]
    assert throttled, "50 wrong passwords in a row were never throttled"
    assert int(throttled[0].headers["retry-after"]) > 0
    assert_envelope(throttled[0], oauth_error=throttled[0].json().get("error"))
