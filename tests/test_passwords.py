"""The password rules: each broken rule is its own `weak_password` entry."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.helpers import (
    STRONG_PASSWORD,
    assert_error,
    codes,
    login_response,
    signup,
)

pytestmark = pytest.mark.sqlite_only

# 36 two-byte characters: exactly bcrypt's 72-byte limit.
SEVENTY_TWO_BYTES = "é" * 36


def weak_entries(client: TestClient, password: str, email: str = "ada@example.com") -> list:
    response = signup(client, email=email, password=password)
    entries = assert_error(response, 422, "weak_password", "password")
    assert set(codes(entries)) == {("weak_password", "password")}
    return entries


def test_strong_password_is_accepted(client: TestClient) -> None:
    assert signup(client, password=STRONG_PASSWORD).status_code == 201


def test_password_shorter_than_8_characters_is_one_weak_password_entry(
    client: TestClient,
) -> None:
    assert len(weak_entries(client, "Zq9-xw7")) == 1


def test_password_of_exactly_8_characters_is_accepted(client: TestClient) -> None:
    assert signup(client, password="Zq9-xw7!").status_code == 201


def test_minimum_length_follows_password_min_length(
    make_client: Callable[..., TestClient],
) -> None:
    strict = make_client(password_min_length=12)

    response = signup(strict, password="Zq9-xw7!kp4")

    entries = assert_error(response, 422, "weak_password", "password")
    assert len(entries) == 1
    assert "12" in entries[0]["message"]


def test_minimum_length_setting_accepts_passwords_of_that_length(
    make_client: Callable[..., TestClient],
) -> None:
    strict = make_client(password_min_length=12)

    assert signup(strict, password="Zq9-xw7!kp4m").status_code == 201


def test_password_over_72_bytes_is_one_weak_password_entry(client: TestClient) -> None:
    assert len(weak_entries(client, "correct-horse-battery-9" * 4)) == 1


def test_password_of_73_bytes_in_multibyte_characters_is_422_not_500(
    client: TestClient,
) -> None:
    password = SEVENTY_TWO_BYTES + "x"
    assert len(password.encode()) == 73

    assert len(weak_entries(client, password)) == 1


def test_password_limit_counts_utf8_bytes_not_characters(client: TestClient) -> None:
    password = "😀" * 19
    assert len(password) < 72 < len(password.encode())

    assert len(weak_entries(client, password)) == 1


def test_password_of_exactly_72_bytes_is_accepted(client: TestClient) -> None:
    assert signup(client, password=SEVENTY_TWO_BYTES).status_code == 201


def test_password_of_exactly_72_bytes_logs_in(client: TestClient) -> None:
    signup(client, password=SEVENTY_TWO_BYTES)

    assert login_response(client, "ada@example.com", SEVENTY_TWO_BYTES).status_code == 200


def test_login_with_password_over_72_bytes_is_401_invalid_credentials(
    client: TestClient,
) -> None:
    signup(client)

    response = login_response(client, "ada@example.com", "é" * 40)

    assert_error(response, 401, "invalid_credentials", None, oauth_error="invalid_grant")


def test_login_with_a_72_byte_password_plus_more_is_refused(client: TestClient) -> None:
    signup(client, password=SEVENTY_TWO_BYTES)

    response = login_response(client, "ada@example.com", SEVENTY_TWO_BYTES + "extra")

    assert_error(response, 401, "invalid_credentials", None)


def test_login_of_unknown_email_with_password_over_72_bytes_is_401(client: TestClient) -> None:
    response = login_response(client, "nobody@example.com", "x" * 500)

    assert_error(response, 401, "invalid_credentials", None)


def test_entirely_numeric_password_is_one_weak_password_entry(client: TestClient) -> None:
    assert len(weak_entries(client, "8301957264")) == 1


def test_password_with_digits_and_a_letter_is_not_numeric(client: TestClient) -> None:
    assert signup(client, password="8301957264q").status_code == 201


@pytest.mark.parametrize("password", ["password1", "sunshine", "iloveyou", "qwerty123"])
def test_common_password_is_one_weak_password_entry(client: TestClient, password: str) -> None:
    assert len(weak_entries(client, password)) == 1


def test_common_password_check_ignores_case(client: TestClient) -> None:
    assert len(weak_entries(client, "SunShine")) == 1


def test_password_containing_the_email_local_part_is_one_weak_password_entry(
    client: TestClient,
) -> None:
    entries = weak_entries(client, "mercator-projection", email="mercator@example.com")

    assert len(entries) == 1


def test_password_equal_to_the_email_address_is_weak(client: TestClient) -> None:
    entries = weak_entries(client, "zebra.crossing@example.org", email="zebra.crossing@example.org")

    assert len(entries) == 1


def test_password_close_to_the_email_address_is_weak(client: TestClient) -> None:
    entries = weak_entries(client, "adalovelace@example.com", email="ada.lovelace@example.com")

    assert len(entries) == 1


def test_similarity_to_the_email_ignores_case(client: TestClient) -> None:
    entries = weak_entries(client, "MERCATOR-projection", email="mercator@example.com")

    assert len(entries) == 1


def test_password_unrelated_to_the_email_is_accepted(client: TestClient) -> None:
    assert signup(client, email="mercator@example.com", password=STRONG_PASSWORD).status_code == 201


def test_short_numeric_password_gives_two_entries(client: TestClient) -> None:
    entries = weak_entries(client, "4821")

    assert len(entries) == 2
    assert len({entry["message"] for entry in entries}) == 2


def test_short_numeric_common_password_gives_three_entries(client: TestClient) -> None:
    entries = weak_entries(client, "12345")

    assert len(entries) == 3
    assert len({entry["message"] for entry in entries}) == 3


def test_short_password_similar_to_email_gives_two_entries(client: TestClient) -> None:
    entries = weak_entries(client, "quix77", email="quix@example.com")

    assert len(entries) == 2


def test_weak_password_creates_no_account(client: TestClient) -> None:
    signup(client, password="12345")

    assert login_response(client, "ada@example.com", "12345").status_code == 401


def test_similarity_is_judged_against_a_new_email_in_the_same_request(client: TestClient) -> None:
    user_id = signup(client).json()["id"]
    tokens = login_response(client, "ada@example.com", STRONG_PASSWORD).json()

    response = client.patch(
        f"/users/{user_id}",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        json={
            "email": "mercator@example.com",
            "password": "mercator-projection",
            "current_password": STRONG_PASSWORD,
        },
    )

    assert_error(response, 422, "weak_password", "password")
