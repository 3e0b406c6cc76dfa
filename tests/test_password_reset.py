"""Account recovery: POST /password/forgot mails a link, POST /password/reset
sets a new password with its token. Through HTTP and a real SMTP server."""

import hashlib
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Engine

from service.config import Settings
from tests.helpers import (
    OTHER_PASSWORD,
    STRONG_PASSWORD,
    Account,
    assert_error,
    login,
    login_response,
    me,
    promote,
    refresh,
    register,
    set_user,
    signup,
    stored_user,
)
from tests.mailserver import (
    RESET_NOTICE_SUBJECT,
    RESET_SUBJECT,
    Inbox,
    body_of,
    change_email_confirmed,
    expire_tokens,
    forgot,
    mailed_reset_token,
    mailed_verification_token,
    reset,
    settle,
    token_in,
    token_rows,
)

NEW_PASSWORD = "fresh-orbit-lantern-77"
WRONG_PASSWORD = "wrong-guess-000"
ROOMY = "1000/hour"
REQUESTED = re.compile(
    r"on (?P<date>\d{4}-\d{2}-\d{2}) at (?P<time>\d{2}:\d{2}) UTC, "
    r"from (?P<address>\S+) \((?P<agent>[^)]*)\)"
)

MakeClient = Callable[..., TestClient]


def logs_in(client: TestClient, email: str, password: str) -> bool:
    return login_response(client, email, password).status_code == 200


def from_address(client: TestClient, host: str) -> TestClient:
    """Another client of the same (running) app, whose TCP peer is `host`."""
    return TestClient(client.app, client=(host, 50000))


@pytest.fixture
def ada(mail_client: TestClient) -> Account:
    return register(mail_client, email="ada@example.com", password=STRONG_PASSWORD)


@pytest.fixture
def bob(mail_client: TestClient) -> Account:
    return register(mail_client, email="bob@example.com", password=OTHER_PASSWORD)


@pytest.fixture
def superuser(mail_client: TestClient, db_engine: Engine) -> Account:
    account = register(mail_client, email="root@example.com", password=STRONG_PASSWORD)
    return promote(mail_client, db_engine, account)


# Asking for a link


def test_forgot_is_202_accepted(mail_client: TestClient, ada: Account) -> None:
    response = forgot(mail_client, ada.email)

    assert response.status_code == 202
    assert response.json() == {"status": "accepted"}


def test_forgot_for_an_unknown_email_answers_exactly_as_for_a_known_one(
    mail_client: TestClient, ada: Account
) -> None:
    # From two addresses, so each answer's RateLimit count starts alike and
    # every header can be compared.
    known = forgot(TestClient(mail_client.app, client=("203.0.113.7", 50000)), ada.email)
    unknown = forgot(
        TestClient(mail_client.app, client=("203.0.113.8", 50000)), "nobody@example.com"
    )

    def headers(response: httpx.Response) -> dict[str, str]:
        return {name: value for name, value in response.headers.items() if name != "x-request-id"}

    assert unknown.status_code == known.status_code == 202
    assert unknown.content == known.content
    assert headers(unknown) == headers(known)


def test_forgot_mails_a_reset_link_to_the_account(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    forgot(mail_client, ada.email)

    message = inbox.wait_for_message(to=ada.email)
    assert message["Subject"] == RESET_SUBJECT
    assert len(token_in(message)) >= 43


def test_forgot_finds_the_account_whatever_the_case_of_the_email(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    forgot(mail_client, "  ADA@Example.COM ")

    assert inbox.wait_for_message(to="ada@example.com", subject=RESET_SUBJECT)


def test_forgot_for_an_unknown_email_mails_nothing(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    forgot(mail_client, "nobody@example.com")
    forgot(mail_client, ada.email)
    settle(mail_client)

    assert [message["To"] for message in inbox.messages] == [ada.email]


def test_forgot_for_an_inactive_account_mails_nothing(
    mail_client: TestClient, ada: Account, bob: Account, inbox: Inbox, db_engine: Engine
) -> None:
    set_user(db_engine, ada.id, is_active=False)

    forgot(mail_client, ada.email)
    forgot(mail_client, bob.email)
    settle(mail_client)

    assert [message["To"] for message in inbox.messages] == [bob.email]


def test_forgot_for_an_unknown_email_stores_no_token(
    mail_client: TestClient, db_engine: Engine
) -> None:
    forgot(mail_client, "nobody@example.com")

    assert token_rows(db_engine) == []


@pytest.mark.parametrize("email", ["not-an-email", "ada@", "@example.com", 42])
def test_forgot_with_a_malformed_email_is_422_invalid_email(
    mail_client: TestClient, email: object
) -> None:
    response = mail_client.post("/password/forgot", json={"email": email})

    assert_error(response, 422, "invalid_email", "email")


def test_forgot_without_an_email_is_422_on_email(mail_client: TestClient) -> None:
    response = mail_client.post("/password/forgot", json={})

    assert_error(response, 422, "field_required", "email")


# The message


def test_without_a_web_app_the_reset_link_points_at_the_services_own_page(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    token = mailed_reset_token(mail_client, inbox, ada.email)

    message = inbox.wait_for_message(to=ada.email)
    assert f"http://localhost:8000/pages/reset-password?token={token}" in body_of(message)


def test_the_reset_link_is_built_from_public_url(
    make_mail_client: MakeClient, inbox: Inbox
) -> None:
    app_client = make_mail_client(public_url="https://accounts.example.com/")
    account = register(app_client)

    token = mailed_reset_token(app_client, inbox, account.email)

    link = f"https://accounts.example.com/pages/reset-password?token={token}"
    assert link in body_of(inbox.wait_for_message(to=account.email)).splitlines()


def test_with_a_web_app_the_reset_link_points_at_its_default_page(
    make_mail_client: MakeClient, inbox: Inbox
) -> None:
    app_client = make_mail_client(public_app_url="https://app.example.com")
    account = register(app_client)

    token = mailed_reset_token(app_client, inbox, account.email)

    link = f"https://app.example.com/reset-password?token={token}"
    assert link in body_of(inbox.wait_for_message(to=account.email)).splitlines()


def test_the_reset_link_is_built_from_public_app_url_and_the_template(
    make_mail_client: MakeClient, inbox: Inbox
) -> None:
    app_client = make_mail_client(
        public_app_url="https://app.example.com/",
        password_reset_url="{PUBLIC_APP_URL}/account/new-password?token={token}&from=mail",
    )
    account = register(app_client)

    token = mailed_reset_token(app_client, inbox, account.email)

    link = f"https://app.example.com/account/new-password?token={token}&from=mail"
    assert link in body_of(inbox.wait_for_message(to=account.email)).splitlines()


def test_the_reset_message_names_the_requesting_address_and_user_agent(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    forgot(from_address(mail_client, "203.0.113.9"), ada.email, **{"User-Agent": "AdaBrowser/2.1"})

    body = body_of(inbox.wait_for_message(to=ada.email))
    requested = REQUESTED.search(body)
    assert requested, body
    assert requested["address"] == "203.0.113.9"
    assert requested["agent"] == "AdaBrowser/2.1"


def test_the_reset_message_says_when_it_was_asked_for_in_utc(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    before = datetime.now(UTC).replace(second=0, microsecond=0)
    forgot(mail_client, ada.email)
    after = datetime.now(UTC)

    requested = REQUESTED.search(body_of(inbox.wait_for_message(to=ada.email)))
    assert requested
    at = datetime.strptime(f"{requested['date']} {requested['time']}", "%Y-%m-%d %H:%M")
    assert before <= at.replace(tzinfo=UTC) <= after


def test_the_reset_message_says_how_long_the_link_works(
    make_mail_client: MakeClient, inbox: Inbox
) -> None:
    app_client = make_mail_client(reset_token_expire_minutes=45)
    account = register(app_client)

    forgot(app_client, account.email)

    assert "within 45 minutes" in body_of(inbox.wait_for_message(to=account.email))


# The token in the database


def test_the_reset_token_is_stored_only_as_its_digest(
    mail_client: TestClient, ada: Account, inbox: Inbox, db_engine: Engine
) -> None:
    token = mailed_reset_token(mail_client, inbox, ada.email)

    (row,) = token_rows(db_engine)
    assert row.digest == hashlib.sha256(token.encode()).hexdigest()
    for value in row:
        assert token not in str(value)


def test_the_reset_token_is_bound_to_its_user_address_and_credentials(
    mail_client: TestClient, ada: Account, inbox: Inbox, db_engine: Engine
) -> None:
    mailed_reset_token(mail_client, inbox, ada.email)

    (row,) = token_rows(db_engine)
    assert (row.user_id, row.purpose, row.email) == (ada.id, "password_reset", ada.email)
    assert row.credential_version == stored_user(db_engine, ada.email).credential_version


def test_the_reset_token_lives_reset_token_expire_minutes(
    make_mail_client: MakeClient, inbox: Inbox, db_engine: Engine
) -> None:
    app_client = make_mail_client(reset_token_expire_minutes=45)
    account = register(app_client)

    mailed_reset_token(app_client, inbox, account.email)

    (row,) = token_rows(db_engine)
    assert row.expires_at - row.created_at == timedelta(minutes=45)


def test_the_reset_token_lives_30_minutes_by_default(
    mail_client: TestClient, ada: Account, inbox: Inbox, db_engine: Engine
) -> None:
    mailed_reset_token(mail_client, inbox, ada.email)

    (row,) = token_rows(db_engine)
    assert row.expires_at - row.created_at == timedelta(minutes=30)


# Resetting


def test_reset_with_the_mailed_token_is_204_with_no_body(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    token = mailed_reset_token(mail_client, inbox, ada.email)

    response = reset(mail_client, token, NEW_PASSWORD)

    assert response.status_code == 204, response.text
    assert response.content == b""


def test_reset_sets_the_new_password(mail_client: TestClient, ada: Account, inbox: Inbox) -> None:
    token = mailed_reset_token(mail_client, inbox, ada.email)

    reset(mail_client, token, NEW_PASSWORD)

    assert logs_in(mail_client, ada.email, NEW_PASSWORD)
    assert_error(
        login_response(mail_client, ada.email, STRONG_PASSWORD), 401, "invalid_credentials"
    )


def test_reset_signs_out_every_session(mail_client: TestClient, ada: Account, inbox: Inbox) -> None:
    other_session = login(mail_client, ada.email, STRONG_PASSWORD)
    token = mailed_reset_token(mail_client, inbox, ada.email)

    reset(mail_client, token, NEW_PASSWORD)

    for session in (
        {"access_token": ada.access_token, "refresh_token": ada.refresh_token},
        other_session,
    ):
        assert me(mail_client, session["access_token"]).status_code == 401
        assert refresh(mail_client, session["refresh_token"]).status_code == 401


def test_reset_marks_the_address_verified(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    assert me(mail_client, ada.access_token).json()["is_verified"] is False
    token = mailed_reset_token(mail_client, inbox, ada.email)

    reset(mail_client, token, NEW_PASSWORD)

    tokens = login(mail_client, ada.email, NEW_PASSWORD)
    assert me(mail_client, tokens["access_token"]).json()["is_verified"] is True


def test_reset_mails_a_notice_that_the_password_was_reset(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    token = mailed_reset_token(mail_client, inbox, ada.email)

    reset(mail_client, token, NEW_PASSWORD)

    notice = inbox.wait_for_message(to=ada.email, subject=RESET_NOTICE_SUBJECT)
    assert "Every session was signed out" in body_of(notice)
    assert "token=" not in body_of(notice)


def test_reset_changes_only_the_tokens_own_user(
    mail_client: TestClient, ada: Account, bob: Account, inbox: Inbox
) -> None:
    ada_token = mailed_reset_token(mail_client, inbox, ada.email)
    bob_token = mailed_reset_token(mail_client, inbox, bob.email)

    assert reset(mail_client, bob_token, NEW_PASSWORD).status_code == 204

    assert logs_in(mail_client, bob.email, NEW_PASSWORD)
    assert logs_in(mail_client, ada.email, STRONG_PASSWORD)
    assert not logs_in(mail_client, ada.email, NEW_PASSWORD)
    assert me(mail_client, ada.access_token).status_code == 200
    assert refresh(mail_client, ada.refresh_token).status_code == 200
    assert reset(mail_client, ada_token, "another-fresh-lantern-5").status_code == 204


def test_with_required_verification_a_reset_lets_an_unverified_user_log_in(
    make_mail_client: MakeClient, inbox: Inbox
) -> None:
    app_client = make_mail_client(require_verified_email=True)
    assert signup(app_client, "ada@example.com").status_code == 201
    token = mailed_reset_token(app_client, inbox, "ada@example.com")

    assert reset(app_client, token, NEW_PASSWORD).status_code == 204

    assert logs_in(app_client, "ada@example.com", NEW_PASSWORD)


@pytest.mark.parametrize("host", ["203.0.113.9", "2001:db8::1"])
def test_reset_lets_the_owner_log_in_at_once_after_failed_logins(
    make_mail_client: MakeClient, inbox: Inbox, host: str
) -> None:
    app_client = make_mail_client(
        login_limit_per_account_address="3/hour",
        login_limit_per_account=ROOMY,
        login_limit_per_address=ROOMY,
    )
    account = register(app_client)
    owner = from_address(app_client, host)
    for _ in range(3):
        login_response(owner, account.email, WRONG_PASSWORD)
    assert_error(login_response(owner, account.email, STRONG_PASSWORD), 429, "rate_limited")
    token = mailed_reset_token(owner, inbox, account.email)

    assert reset(owner, token, NEW_PASSWORD).status_code == 204

    response = login_response(owner, account.email, NEW_PASSWORD)
    assert response.status_code == 200, response.text


# Tokens that do not reset


def test_reset_with_a_spent_token_is_400_invalid_token(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    token = mailed_reset_token(mail_client, inbox, ada.email)
    assert reset(mail_client, token, NEW_PASSWORD).status_code == 204

    response = reset(mail_client, token, "another-fresh-lantern-5")

    assert_error(response, 400, "invalid_token", "token")
    assert logs_in(mail_client, ada.email, NEW_PASSWORD)


def test_reset_with_an_expired_token_is_400_invalid_token(
    mail_client: TestClient, ada: Account, inbox: Inbox, db_engine: Engine
) -> None:
    token = mailed_reset_token(mail_client, inbox, ada.email)
    expire_tokens(db_engine)

    response = reset(mail_client, token, NEW_PASSWORD)

    assert_error(response, 400, "invalid_token", "token")
    assert logs_in(mail_client, ada.email, STRONG_PASSWORD)


@pytest.mark.parametrize("token", ["x" * 43, "a", "not a token at all", "A" * 128])
def test_reset_with_an_unknown_token_is_400_invalid_token(
    mail_client: TestClient, ada: Account, token: str
) -> None:
    response = reset(mail_client, token, NEW_PASSWORD)

    assert_error(response, 400, "invalid_token", "token")


def test_reset_with_a_verification_token_is_400_invalid_token(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    token = mailed_verification_token(mail_client, inbox, ada)

    response = reset(mail_client, token, NEW_PASSWORD)

    assert_error(response, 400, "invalid_token", "token")
    assert logs_in(mail_client, ada.email, STRONG_PASSWORD)


def test_a_reset_token_dies_when_the_password_is_changed_after_it_was_issued(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    token = mailed_reset_token(mail_client, inbox, ada.email)
    changed = mail_client.post(
        "/users/me/password",
        headers=ada.headers,
        json={"current_password": STRONG_PASSWORD, "new_password": OTHER_PASSWORD},
    )
    assert changed.status_code == 204, changed.text

    response = reset(mail_client, token, NEW_PASSWORD)

    assert_error(response, 400, "invalid_token", "token")
    assert logs_in(mail_client, ada.email, OTHER_PASSWORD)


def test_a_reset_token_dies_when_the_email_is_changed_after_it_was_issued(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    token = mailed_reset_token(mail_client, inbox, ada.email)
    change_email_confirmed(mail_client, inbox, ada, "ada@lovelace.example")

    response = reset(mail_client, token, NEW_PASSWORD)

    assert_error(response, 400, "invalid_token", "token")
    assert logs_in(mail_client, "ada@lovelace.example", STRONG_PASSWORD)


def test_a_reset_token_stays_dead_when_the_email_is_changed_and_changed_back(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    token = mailed_reset_token(mail_client, inbox, ada.email)
    for email in ("ada@lovelace.example", ada.email):
        change_email_confirmed(mail_client, inbox, ada, email)

    response = reset(mail_client, token, NEW_PASSWORD)

    assert_error(response, 400, "invalid_token", "token")


def test_a_reset_token_dies_when_the_account_is_deactivated_after_it_was_issued(
    mail_client: TestClient, ada: Account, superuser: Account, inbox: Inbox
) -> None:
    token = mailed_reset_token(mail_client, inbox, ada.email)
    deactivated = mail_client.patch(
        f"/users/{ada.id}", headers=superuser.headers, json={"is_active": False}
    )
    assert deactivated.status_code == 200, deactivated.text

    response = reset(mail_client, token, NEW_PASSWORD)

    assert_error(response, 400, "invalid_token", "token")


def test_a_reset_token_stays_dead_when_the_account_is_reactivated(
    mail_client: TestClient, ada: Account, superuser: Account, inbox: Inbox
) -> None:
    token = mailed_reset_token(mail_client, inbox, ada.email)
    for active in (False, True):
        changed = mail_client.patch(
            f"/users/{ada.id}", headers=superuser.headers, json={"is_active": active}
        )
        assert changed.status_code == 200, changed.text

    response = reset(mail_client, token, NEW_PASSWORD)

    assert_error(response, 400, "invalid_token", "token")


def test_a_reset_ends_the_users_other_reset_links(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    first = mailed_reset_token(mail_client, inbox, ada.email)
    second = mailed_reset_token(mail_client, inbox, ada.email)

    assert reset(mail_client, second, NEW_PASSWORD).status_code == 204

    assert_error(reset(mail_client, first, "another-fresh-lantern-5"), 400, "invalid_token")
    assert logs_in(mail_client, ada.email, NEW_PASSWORD)


def test_two_simultaneous_resets_with_one_token_give_one_204_and_one_400(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    token = mailed_reset_token(mail_client, inbox, ada.email)
    passwords = ["first-fresh-lantern-1", "second-fresh-lantern-2"]
    start = threading.Barrier(len(passwords))
    responses: dict[str, httpx.Response] = {}

    def attempt(password: str) -> None:
        start.wait()
        responses[password] = reset(mail_client, token, password)

    threads = [threading.Thread(target=attempt, args=(password,)) for password in passwords]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(response.status_code for response in responses.values()) == [204, 400]
    (winner,) = [password for password, response in responses.items() if response.is_success]
    (loser,) = set(passwords) - {winner}
    assert_error(responses[loser], 400, "invalid_token", "token")
    assert logs_in(mail_client, ada.email, winner)
    assert not logs_in(mail_client, ada.email, loser)


# Passwords that do not do


@pytest.mark.parametrize("weak", ["short1", "password1", "12345678901234", "ada-lovelace-ada"])
def test_reset_with_a_weak_password_is_422_weak_password_on_new_password(
    make_mail_client: MakeClient, inbox: Inbox, weak: str
) -> None:
    app_client = make_mail_client()
    account = register(app_client, email="ada.lovelace@example.com")
    token = mailed_reset_token(app_client, inbox, account.email)

    response = reset(app_client, token, weak)

    assert_error(response, 422, "weak_password", "new_password")
    assert logs_in(app_client, account.email, STRONG_PASSWORD)


def test_reset_with_a_password_like_the_email_is_422_weak_password(
    mail_client: TestClient, inbox: Inbox
) -> None:
    account = register(mail_client, email="mercator@example.com")
    token = mailed_reset_token(mail_client, inbox, account.email)

    response = reset(mail_client, token, "mercator-projection")

    assert_error(response, 422, "weak_password", "new_password")


def test_a_token_still_resets_after_a_refused_weak_password(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    token = mailed_reset_token(mail_client, inbox, ada.email)
    assert reset(mail_client, token, "short1").status_code == 422

    assert reset(mail_client, token, NEW_PASSWORD).status_code == 204

    assert logs_in(mail_client, ada.email, NEW_PASSWORD)


def test_a_token_still_resets_after_a_refused_password_like_the_email(
    mail_client: TestClient, inbox: Inbox
) -> None:
    account = register(mail_client, email="mercator@example.com")
    token = mailed_reset_token(mail_client, inbox, account.email)
    assert reset(mail_client, token, "mercator-projection").status_code == 422

    assert reset(mail_client, token, NEW_PASSWORD).status_code == 204


def test_a_refused_reset_mails_no_notice(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    token = mailed_reset_token(mail_client, inbox, ada.email)

    reset(mail_client, token, "short1")
    reset(mail_client, "x" * 43, NEW_PASSWORD)
    settle(mail_client)

    assert [message["Subject"] for message in inbox.messages] == [RESET_SUBJECT]


# Throttling


def test_forgot_past_the_per_account_bound_is_still_202(make_mail_client: MakeClient) -> None:
    app_client = make_mail_client(forgot_limit_per_account="2/15minutes")
    account = register(app_client)

    statuses = [forgot(app_client, account.email).status_code for _ in range(4)]

    assert statuses == [202, 202, 202, 202]


def test_forgot_past_the_per_account_bound_mails_nothing_more(
    make_mail_client: MakeClient, inbox: Inbox
) -> None:
    app_client = make_mail_client(forgot_limit_per_account="2/15minutes")
    account = register(app_client)

    for _ in range(4):
        forgot(app_client, account.email)
    settle(app_client)

    assert len(inbox.messages) == 2


def test_forgot_from_many_addresses_does_not_lock_the_owner_out_of_recovery(
    make_mail_client: MakeClient, inbox: Inbox
) -> None:
    app_client = make_mail_client(forgot_limit_per_account="2/15minutes")
    account = register(app_client)
    for index in range(5):
        forgot(from_address(app_client, f"198.51.100.{index + 1}"), account.email)

    response = forgot(from_address(app_client, "203.0.113.9"), account.email)
    # No new mail past the bound, but the latest link the attacker's asking sent still works.
    latest = inbox.wait_for_message(to=account.email, subject=RESET_SUBJECT, nth=2)

    assert response.status_code == 202
    assert reset(app_client, token_in(latest), NEW_PASSWORD).status_code == 204


def test_forgot_counts_an_email_the_same_whatever_its_case(
    make_mail_client: MakeClient, inbox: Inbox
) -> None:
    app_client = make_mail_client(forgot_limit_per_account="2/15minutes")
    register(app_client)

    for email in ("ada@example.com", "ADA@example.com", "Ada@Example.com", "ada@example.com"):
        forgot(app_client, email)
    settle(app_client)

    assert len(inbox.messages) == 2


def test_the_per_account_bound_of_one_email_leaves_others_alone(
    make_mail_client: MakeClient, inbox: Inbox
) -> None:
    app_client = make_mail_client(forgot_limit_per_account="2/15minutes")
    register(app_client, email="ada@example.com")
    register(app_client, email="bob@example.com")
    for _ in range(3):
        forgot(app_client, "ada@example.com")

    forgot(app_client, "bob@example.com")
    settle(app_client)

    assert [message["To"] for message in inbox.messages].count("bob@example.com") == 1


def test_a_per_account_window_longer_than_a_reset_link_is_refused(
    make_settings: Callable[..., Settings],
) -> None:
    with pytest.raises(ValidationError, match="FORGOT_LIMIT_PER_ACCOUNT"):
        make_settings(forgot_limit_per_account="2/hour", reset_token_expire_minutes=30)


def test_forgot_is_429_past_the_per_address_limit(make_mail_client: MakeClient) -> None:
    app_client = make_mail_client(forgot_limit_per_address="2/hour")

    statuses = [forgot(app_client, f"person{index}@example.com").status_code for index in range(3)]

    assert statuses == [202, 202, 429]
    assert forgot(from_address(app_client, "198.51.100.7"), "other@example.com").status_code == 202
