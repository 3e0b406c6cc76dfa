"""Bearer tokens: their claims, and every way a token can be refused."""

import time
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete

from service.config import Settings
from service.models import USER_RECORD_COLUMNS, Login, User
from service.schemas import UserPublic
from tests.helpers import (
    ACCESS_TOKEN_SECONDS,
    Account,
    assert_error,
    claims_of,
    header_of,
    me,
    refresh,
    set_user,
    sign,
    unsigned_token,
)

WRONG_KEY = "an-entirely-different-signing-key-0123456789"


def bearer(client: TestClient, token: str) -> Any:
    return client.get("/users/me", headers={"Authorization": f"Bearer {token}"})


def test_access_token_carries_the_documented_claims(client: TestClient, user: Account) -> None:
    claims = claims_of(user.access_token)

    assert claims["type"] == "access"
    assert claims["sub"] == str(user.id)
    assert {"sid", "ver", "iat", "exp", "jti"} <= set(claims)
    assert claims["exp"] - claims["iat"] == ACCESS_TOKEN_SECONDS


def test_refresh_token_carries_the_documented_claims(client: TestClient, user: Account) -> None:
    claims = claims_of(user.refresh_token)

    assert claims["type"] == "refresh"
    assert claims["sub"] == str(user.id)
    assert {"sid", "gen", "iat", "exp", "jti"} <= set(claims)
    assert claims["exp"] - claims["iat"] == pytest.approx(30 * 24 * 3600, abs=5)


def test_access_and_refresh_token_of_a_login_share_its_session(
    client: TestClient, user: Account
) -> None:
    assert claims_of(user.access_token)["sid"] == claims_of(user.refresh_token)["sid"]


def test_tokens_are_signed_with_hs256(client: TestClient, user: Account) -> None:
    assert header_of(user.access_token)["alg"] == "HS256"
    assert header_of(user.refresh_token)["alg"] == "HS256"


def test_tokens_never_contain_the_password_or_hash(client: TestClient, user: Account) -> None:
    for token in (user.access_token, user.refresh_token):
        text = str(claims_of(token))
        assert user.password not in text
        assert "$2" not in text


def test_refresh_token_used_as_access_token_is_401_invalid_token(
    client: TestClient, user: Account
) -> None:
    assert_error(bearer(client, user.refresh_token), 401, "invalid_token", None)


def test_token_without_type_claim_is_401(
    client: TestClient, user: Account, settings: Settings
) -> None:
    claims = claims_of(user.access_token)
    del claims["type"]

    assert_error(bearer(client, sign(claims, settings.signing_key)), 401, "invalid_token")


def test_token_with_alg_none_is_401(client: TestClient, user: Account) -> None:
    forged = unsigned_token(claims_of(user.access_token))

    assert_error(bearer(client, forged), 401, "invalid_token")


def test_refresh_token_with_alg_none_is_401(client: TestClient, user: Account) -> None:
    forged = unsigned_token(claims_of(user.refresh_token))

    assert_error(refresh(client, forged), 401, "invalid_token")


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_token_signed_with_another_algorithm_is_401(
    client: TestClient, user: Account, settings: Settings, algorithm: str
) -> None:
    forged = sign(claims_of(user.access_token), settings.signing_key, algorithm)

    assert_error(bearer(client, forged), 401, "invalid_token")


def test_token_signed_with_another_key_is_401(client: TestClient, user: Account) -> None:
    forged = sign(claims_of(user.access_token), WRONG_KEY)

    assert_error(bearer(client, forged), 401, "invalid_token")


def test_token_with_tampered_payload_is_401(
    client: TestClient, user: Account, other_user: Account
) -> None:
    header, _payload, signature = user.access_token.split(".")
    _, other_payload, _ = other_user.access_token.split(".")

    tampered = f"{header}.{other_payload}.{signature}"

    assert_error(bearer(client, tampered), 401, "invalid_token")


def test_token_with_truncated_signature_is_401(client: TestClient, user: Account) -> None:
    assert_error(bearer(client, user.access_token[:-4]), 401, "invalid_token")


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "", "Bearer", "e30.e30.e30"])
def test_malformed_bearer_token_is_401(client: TestClient, token: str) -> None:
    response = client.get("/users/me", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_expired_access_token_is_401_token_expired(
    client: TestClient, user: Account, settings: Settings
) -> None:
    past = int(time.time()) - 60
    expired = sign(
        {**claims_of(user.access_token), "iat": past - 900, "exp": past}, settings.signing_key
    )

    assert_error(bearer(client, expired), 401, "token_expired", None)


def test_well_signed_token_of_unknown_session_is_401(
    client: TestClient, user: Account, settings: Settings
) -> None:
    claims = {**claims_of(user.access_token), "sid": uuid.uuid4().hex}

    assert_error(bearer(client, sign(claims, settings.signing_key)), 401, "invalid_token")


def test_well_signed_token_of_another_users_session_is_401(
    client: TestClient, user: Account, other_user: Account, settings: Settings
) -> None:
    claims = {**claims_of(user.access_token), "sid": claims_of(other_user.access_token)["sid"]}

    assert_error(bearer(client, sign(claims, settings.signing_key)), 401, "invalid_token")


@pytest.mark.parametrize("sub", ["abc", "-1", "1.5", "", "99999999999999999999999"])
def test_well_signed_token_with_invalid_subject_is_401(
    client: TestClient, user: Account, settings: Settings, sub: str
) -> None:
    claims = {**claims_of(user.access_token), "sub": sub}

    assert_error(bearer(client, sign(claims, settings.signing_key)), 401, "invalid_token")


def test_well_signed_token_with_another_credential_version_is_401(
    client: TestClient, user: Account, settings: Settings
) -> None:
    claims = claims_of(user.access_token)
    claims["ver"] = claims["ver"] + 1

    assert_error(bearer(client, sign(claims, settings.signing_key)), 401, "invalid_token")


def test_token_of_deleted_user_is_401(
    client: TestClient, superuser: Account, user: Account
) -> None:
    client.delete(f"/users/{user.id}", headers=superuser.headers)

    assert_error(bearer(client, user.access_token), 401, "invalid_token")


def test_token_of_user_deleted_in_the_database_is_401(
    client: TestClient, user: Account, db_engine: Engine
) -> None:
    with db_engine.begin() as connection:
        connection.execute(delete(Login).where(Login.user_id == user.id))
        connection.execute(delete(User).where(User.id == user.id))

    assert_error(bearer(client, user.access_token), 401, "invalid_token")


def test_token_of_inactive_user_is_401(
    client: TestClient, user: Account, db_engine: Engine
) -> None:
    set_user(db_engine, user.id, is_active=False)

    assert_error(bearer(client, user.access_token), 401, "invalid_token")


def test_refresh_token_of_inactive_user_is_401(
    client: TestClient, user: Account, db_engine: Engine
) -> None:
    set_user(db_engine, user.id, is_active=False)

    assert_error(refresh(client, user.refresh_token), 401, "invalid_token")


def test_token_from_an_app_with_another_secret_is_401(
    client: TestClient, user: Account, make_client: Any
) -> None:
    other_app = make_client(secret_key=WRONG_KEY)

    assert_error(bearer(other_app, user.access_token), 401, "invalid_token")


def test_token_from_an_app_with_the_same_secret_is_accepted(
    client: TestClient, user: Account, make_client: Any
) -> None:
    other_app = make_client()

    assert me(other_app, user.access_token).status_code == 200


def test_the_principal_query_reads_every_field_of_the_public_user() -> None:
    # is_superuser is a view of the role, not a column of its own.
    shown = [name for name in UserPublic.model_fields if name != "is_superuser"]
    assert sorted(column.name for column in USER_RECORD_COLUMNS) == sorted(shown)
