"""One email address, many spellings: every route and command that takes an
address treats each spelling as the one account sign-up stored.

The spellings: an IDNA (punycode) domain and its Unicode form, a local part
in NFD and in NFC, fullwidth letters in the domain, any case, and spaces
around the address.
"""

import unicodedata
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.emails import InvalidEmailError, lookup_form, normalize_email
from tests.helpers import STRONG_PASSWORD, assert_error, login_response, signup, stored_user
from tests.mailserver import Inbox
from tests.test_cli import create_superuser

NFC_RENE = unicodedata.normalize("NFC", "rené@example.com")
NFD_RENE = unicodedata.normalize("NFD", "rené@example.com")
# "ada@example.com" with the domain's letters in their fullwidth forms (U+FF41 on).
FULLWIDTH_DOMAIN = "ada@" + "".join(chr(ord(letter) + 0xFEE0) for letter in "example") + ".com"
# (stored form, spellings of it)
ADDRESSES = {
    "idna": (
        "b@bücher.example",
        ["b@xn--bcher-kva.example", "b@bücher.example", "B@BÜCHER.example"],
    ),
    "nfd": (NFC_RENE, [NFD_RENE, NFC_RENE, NFD_RENE.upper()]),
    "fullwidth": ("ada@example.com", [FULLWIDTH_DOMAIN, "ada@example.com", " ADA@Example.Com "]),
}
CASES = [
    pytest.param(stored, typed, other, id=f"{kind}-{index}")
    for kind, (stored, spellings) in ADDRESSES.items()
    for index, typed in enumerate(spellings)
    for other in spellings
    if other != typed
]
SIGNED_UP_AS = [
    pytest.param(stored, typed, id=f"{kind}-{index}")
    for kind, (stored, spellings) in ADDRESSES.items()
    for index, typed in enumerate(spellings)
]


# The function


@pytest.mark.parametrize(("stored", "typed"), SIGNED_UP_AS)
def test_every_spelling_normalizes_to_the_stored_form(stored: str, typed: str) -> None:
    assert normalize_email(typed) == stored


def test_normalizing_twice_changes_nothing() -> None:
    once = normalize_email("B@XN--BCHER-KVA.example")

    assert normalize_email(once) == once


@pytest.mark.parametrize("value", ["", "not an address", "a@", "@example.com", "a" * 400])
def test_what_is_not_an_address_is_refused(value: str) -> None:
    with pytest.raises(InvalidEmailError):
        normalize_email(value)


def test_a_login_name_that_is_not_an_address_is_looked_up_as_typed_in_lower_case() -> None:
    assert lookup_form("  Not An Address ") == "not an address"


# Sign-up and login


@pytest.mark.parametrize(("stored", "typed"), SIGNED_UP_AS)
def test_sign_up_stores_the_normalized_form(
    client: TestClient, db_engine: Engine, stored: str, typed: str
) -> None:
    response = signup(client, email=typed)

    assert response.status_code == 201, response.text
    assert response.json()["email"] == stored
    assert stored_user(db_engine, stored) is not None


@pytest.mark.parametrize(("stored", "typed"), SIGNED_UP_AS)
def test_login_with_the_very_string_signed_up_with_succeeds(
    client: TestClient, stored: str, typed: str
) -> None:
    signup(client, email=typed)

    response = login_response(client, typed, STRONG_PASSWORD)

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("stored", "typed", "other"), CASES)
def test_login_with_another_spelling_succeeds(
    client: TestClient, stored: str, typed: str, other: str
) -> None:
    signup(client, email=typed)

    response = login_response(client, other, STRONG_PASSWORD)

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("stored", "typed", "other"), CASES)
def test_sign_up_with_another_spelling_is_409_email_taken(
    client: TestClient, stored: str, typed: str, other: str
) -> None:
    signup(client, email=typed)

    response = signup(client, email=other)

    assert_error(response, 409, "email_taken", "email")


def test_failed_logins_in_two_spellings_count_against_one_account(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(login_limit_per_account="2/minute")
    signup(client, email="b@bücher.example")
    login_response(client, "b@xn--bcher-kva.example", "wrong-guess-1")
    login_response(client, "B@BÜCHER.example", "wrong-guess-2")

    response = login_response(client, "b@bücher.example", STRONG_PASSWORD)

    assert response.status_code == 429, response.text


# Changing an address


def test_changing_ones_email_to_another_spelling_of_anothers_is_409(client: TestClient) -> None:
    signup(client, email="b@bücher.example")
    signup(client, email="ada@example.com")
    tokens = login_response(client, "ada@example.com", STRONG_PASSWORD).json()

    response = client.patch(
        "/users/me",
        json={"email": "B@XN--BCHER-KVA.example", "current_password": STRONG_PASSWORD},
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )

    assert_error(response, 409, "email_taken", "email")


def test_changing_ones_email_to_another_spelling_of_itself_changes_nothing(
    client: TestClient,
) -> None:
    signup(client, email="b@bücher.example")
    tokens = login_response(client, "b@bücher.example", STRONG_PASSWORD).json()

    response = client.patch(
        "/users/me",
        json={"email": "b@xn--bcher-kva.example"},
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )

    assert response.status_code == 200, response.text
    assert response.json()["email"] == "b@bücher.example"


# Recovery


def test_forgot_with_another_spelling_mails_the_account(
    mail_client: TestClient, inbox: Inbox
) -> None:
    signup(mail_client, email="b@bücher.example")

    response = mail_client.post("/password/forgot", json={"email": "b@xn--bcher-kva.example"})

    assert response.status_code == 202, response.text
    # Nothing is sent for an address with no account: a message is the account's.
    assert len(inbox.wait_for(1)) == 1


# The command line


@pytest.mark.parametrize("typed", ["b@xn--bcher-kva.example", "B@BÜCHER.example"])
def test_create_superuser_with_another_spelling_promotes_the_account(
    client: TestClient, database_url: str, db_engine: Engine, typed: str
) -> None:
    signup(client, email="b@bücher.example")

    result = create_superuser(database_url, typed)

    assert result.returncode == 0, result.stderr
    assert "promoted" in result.stdout
    assert stored_user(db_engine, "b@bücher.example").is_superuser


def test_create_superuser_stores_the_normalized_form(database_url: str, db_engine: Engine) -> None:
    result = create_superuser(database_url, "Root@XN--BCHER-KVA.example")

    assert result.returncode == 0, result.stderr
    assert stored_user(db_engine, "root@bücher.example").is_superuser


def test_create_superuser_with_an_invalid_address_exits_2_without_a_traceback(
    database_url: str,
) -> None:
    result = create_superuser(database_url, "not an address")

    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr
