"""POST /users: sign-up."""

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import (
    STRONG_PASSWORD,
    assert_envelope,
    assert_error,
    codes,
    count_users,
    login_response,
    signup,
    stored_user,
)

USER_FIELDS = {
    "id",
    "email",
    "full_name",
    "is_active",
    "is_superuser",
    "role",
    "is_verified",
    "pending_email",
    "created_at",
    "updated_at",
}


def test_signup_is_201_with_the_user(client: TestClient) -> None:
    response = signup(client, email="ada@example.com", full_name="Ada Lovelace")

    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "ada@example.com"
    assert body["full_name"] == "Ada Lovelace"
    assert isinstance(body["id"], int)


def test_signup_location_header_points_at_the_new_user(client: TestClient) -> None:
    response = signup(client)

    assert response.headers["location"] == f"/users/{response.json()['id']}"


def test_signup_body_has_exactly_the_user_fields(client: TestClient) -> None:
    response = signup(client)

    assert set(response.json()) == USER_FIELDS


def test_signup_body_contains_no_password_or_hash(client: TestClient) -> None:
    response = signup(client)

    assert STRONG_PASSWORD not in response.text
    assert "$2" not in response.text
    assert not [key for key in response.json() if "password" in key or "hash" in key]


def test_signup_user_is_active_and_not_superuser(client: TestClient) -> None:
    body = signup(client).json()

    assert body["is_active"] is True
    assert body["is_superuser"] is False


def test_signup_without_full_name_gives_null_full_name(client: TestClient) -> None:
    assert signup(client).json()["full_name"] is None


def test_signup_timestamps_are_utc(client: TestClient) -> None:
    body = signup(client).json()

    for name in ("created_at", "updated_at"):
        stamp = datetime.fromisoformat(body[name])
        assert stamp.utcoffset() == timedelta(0), body[name]


def test_signup_trims_and_lowercases_email(client: TestClient) -> None:
    response = signup(client, email="  Ada.Lovelace@Example.COM  ")

    assert response.status_code == 201, response.text
    assert response.json()["email"] == "ada.lovelace@example.com"


def test_signup_stores_normalized_email(client: TestClient, db_engine: Engine) -> None:
    signup(client, email=" Ada@Example.com")

    assert stored_user(db_engine, "ada@example.com") is not None


def test_signup_stores_a_bcrypt_hash_not_the_password(
    client: TestClient, db_engine: Engine
) -> None:
    signup(client)

    row = stored_user(db_engine, "ada@example.com")
    assert row.hashed_password != STRONG_PASSWORD
    assert row.hashed_password.startswith("$2")


def test_signed_up_user_can_log_in(client: TestClient) -> None:
    signup(client)

    assert login_response(client, "ada@example.com", STRONG_PASSWORD).status_code == 200


def test_signup_with_taken_email_is_409_email_taken(client: TestClient) -> None:
    signup(client, email="ada@example.com")

    response = signup(client, email="ada@example.com")

    assert_error(response, 409, "email_taken", "email")


def test_signup_with_taken_email_differently_cased_is_409_email_taken(client: TestClient) -> None:
    signup(client, email="ada@example.com")

    response = signup(client, email="ADA@Example.Com")

    assert_error(response, 409, "email_taken", "email")


def test_signup_with_taken_email_padded_with_spaces_is_409_email_taken(
    client: TestClient,
) -> None:
    signup(client, email="ada@example.com")

    response = signup(client, email="  ada@example.com ")

    assert_error(response, 409, "email_taken", "email")


def test_signup_with_taken_email_keeps_a_single_account(
    client: TestClient, db_engine: Engine
) -> None:
    signup(client, email="ada@example.com")
    signup(client, email="Ada@example.com")

    assert count_users(db_engine) == 1


@pytest.mark.parametrize(
    "email",
    [
        "not-an-email",
        "ada@",
        "@example.com",
        "ada lovelace@example.com",
        "ada@@example.com",
        "",
        # Not a string at all is still not an email address.
        123,
        None,
        ["ada@example.com"],
    ],
)
def test_signup_with_invalid_email_is_422_invalid_email(client: TestClient, email: object) -> None:
    response = signup(client, email=email)

    assert_error(response, 422, "invalid_email", "email")


def test_signup_with_invalid_email_creates_no_user(client: TestClient, db_engine: Engine) -> None:
    signup(client, email="not-an-email")

    assert count_users(db_engine) == 0


def test_signup_without_email_is_422_field_required(client: TestClient) -> None:
    response = client.post("/users", json={"password": STRONG_PASSWORD})

    assert_error(response, 422, "field_required", "email")


def test_signup_without_password_is_422_field_required(client: TestClient) -> None:
    response = client.post("/users", json={"email": "ada@example.com"})

    assert_error(response, 422, "field_required", "password")


def test_signup_with_empty_object_lists_email_and_password(client: TestClient) -> None:
    response = client.post("/users", json={})

    entries = assert_error(response, 422, "field_required")
    assert sorted(codes(entries)) == [
        ("field_required", "email"),
        ("field_required", "password"),
    ]


def test_signup_with_invalid_email_and_weak_password_lists_both_fields(
    client: TestClient,
) -> None:
    response = signup(client, email="not-an-email", password="short")

    entries = assert_error(response, 422, "invalid_email", "email")
    assert ("weak_password", "password") in codes(entries)


def test_signup_with_unknown_field_is_422_invalid_value(client: TestClient) -> None:
    response = signup(client, full_nmae="Ada")

    assert_error(response, 422, "invalid_value", "full_nmae")


def test_signup_with_is_superuser_is_422_invalid_value_and_creates_nothing(
    client: TestClient, db_engine: Engine
) -> None:
    # Sign-up takes no flags: is_superuser is an unknown field there.
    response = signup(client, is_superuser=True)

    assert_error(response, 422, "invalid_value", "is_superuser")
    assert stored_user(db_engine, "ada@example.com") is None


def test_signup_with_full_name_over_200_characters_is_422_invalid_value(
    client: TestClient,
) -> None:
    response = signup(client, full_name="x" * 201)

    assert_error(response, 422, "invalid_value", "full_name")


def test_signup_with_full_name_of_200_characters_is_accepted(client: TestClient) -> None:
    response = signup(client, full_name="x" * 200)

    assert response.status_code == 201, response.text


def test_signup_with_email_of_wrong_type_is_422_on_email(client: TestClient) -> None:
    response = signup(client, email=12345)

    assert response.status_code == 422
    assert [entry["field"] for entry in assert_envelope(response)] == ["email"]


def test_signup_with_json_array_body_is_422(client: TestClient) -> None:
    response = client.post("/users", json=["ada@example.com", STRONG_PASSWORD])

    assert response.status_code == 422
    assert_envelope(response)
