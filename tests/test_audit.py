"""The audit trail: each action records its event, through HTTP on the real
database; what an event holds and what it never holds."""

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.devices import device_name
from tests.helpers import (
    OTHER_PASSWORD,
    STRONG_PASSWORD,
    Account,
    auth_headers,
    claims_of,
    events_of,
    kinds_of,
    login,
    login_response,
    logout,
    refresh,
    register,
    signup,
    stored_events,
)
from tests.mailserver import Inbox, mailed_reset_token, mailed_verification_token, reset, verify

FIREFOX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
NEW_PASSWORD = "fresh-orbit-lantern-77"
# As users' created_at is written.
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
EVENT_KEYS = {"id", "at", "kind", "session_id", "ip", "device", "user_agent", "actor_id"}

MakeClient = Callable[..., TestClient]


def fresh_headers(client: TestClient, account: Account, password: str | None = None) -> dict:
    """A new login's headers, for reading after the old ones were signed out."""
    tokens = login(client, account.email, password or account.password)
    return auth_headers(tokens["access_token"])


def test_sign_up_records_user_created(client: TestClient, user: Account) -> None:
    created = events_of(client, user.headers)[-1]

    assert created["kind"] == "user_created"
    assert created["actor_id"] is None


def test_a_login_records_login_succeeded_with_its_session_address_and_device(
    client: TestClient, user: Account
) -> None:
    response = client.post(
        "/login",
        data={"username": user.email, "password": user.password},
        headers={"User-Agent": FIREFOX},
    )
    tokens = response.json()

    latest = events_of(client, auth_headers(tokens["access_token"]))[0]

    assert latest["kind"] == "login_succeeded"
    assert latest["session_id"] == claims_of(tokens["access_token"])["sid"]
    assert latest["ip"] == "testclient"
    assert latest["user_agent"] == FIREFOX
    assert latest["device"] == device_name(FIREFOX)


def test_an_event_has_the_documented_fields_and_timestamp(
    client: TestClient, user: Account
) -> None:
    event = events_of(client, user.headers)[0]

    assert set(event) == EVENT_KEYS
    assert TIMESTAMP.match(event["at"]), event["at"]


def test_a_wrong_password_records_login_failed_for_the_account(
    client: TestClient, user: Account
) -> None:
    login_response(client, user.email, "wrong-guess-000")

    failed = events_of(client, user.headers)[0]
    assert failed["kind"] == "login_failed"
    assert failed["session_id"] is None


def test_a_failed_login_of_an_unknown_email_names_no_account(
    client: TestClient, db_engine: Engine
) -> None:
    login_response(client, "ghost@example.com", STRONG_PASSWORD)

    (event,) = stored_events(client, db_engine)
    assert event.kind == "login_failed"
    assert event.user_id is None
    assert not [value for value in event if "ghost" in str(value)]


def test_a_throttled_login_records_login_throttled(
    make_client: MakeClient, db_engine: Engine
) -> None:
    client = make_client(login_limit_per_account_address="1/minute")
    signup(client)
    login_response(client, "ada@example.com", "wrong-guess-000")

    assert login_response(client, "ada@example.com", STRONG_PASSWORD).status_code == 429

    kinds = [event.kind for event in stored_events(client, db_engine)]
    assert kinds == ["user_created", "login_failed", "login_throttled"]


def test_a_refresh_records_refreshed(client: TestClient, user: Account) -> None:
    refresh(client, user.refresh_token)

    latest = events_of(client, user.headers)[0]
    assert latest["kind"] == "refreshed"
    assert latest["session_id"] == claims_of(user.refresh_token)["sid"]


def test_a_spent_refresh_token_records_refresh_reuse_detected(
    client: TestClient, user: Account
) -> None:
    refresh(client, user.refresh_token)
    assert refresh(client, user.refresh_token).status_code == 401

    events = events_of(client, fresh_headers(client, user))
    reuse = [event for event in events if event["kind"] == "refresh_reuse_detected"]
    assert len(reuse) == 1
    assert reuse[0]["session_id"] == claims_of(user.refresh_token)["sid"]


def test_logout_records_logged_out(client: TestClient, user: Account) -> None:
    logout(client, user.refresh_token)

    latest = events_of(client, fresh_headers(client, user))[1]
    assert latest["kind"] == "logged_out"
    assert latest["session_id"] == claims_of(user.refresh_token)["sid"]


def test_logout_of_a_session_already_ended_records_nothing_more(
    client: TestClient, user: Account
) -> None:
    logout(client, user.refresh_token)
    logout(client, user.refresh_token)

    assert kinds_of(client, fresh_headers(client, user)).count("logged_out") == 1


def test_sign_out_everywhere_records_signed_out_everywhere(
    client: TestClient, user: Account
) -> None:
    client.post("/logout/all", headers=user.headers)

    kinds = kinds_of(client, fresh_headers(client, user))
    assert kinds[:2] == ["login_succeeded", "signed_out_everywhere"]


def test_a_password_change_records_password_changed(client: TestClient, user: Account) -> None:
    response = client.post(
        "/users/me/password",
        json={"current_password": user.password, "new_password": NEW_PASSWORD},
        headers=user.headers,
    )
    assert response.status_code == 204, response.text

    kinds = kinds_of(client, fresh_headers(client, user, NEW_PASSWORD))
    assert kinds[1] == "password_changed"


def test_a_password_reset_records_password_reset(mail_client: TestClient, inbox: Inbox) -> None:
    account = register(mail_client)
    token = mailed_reset_token(mail_client, inbox, account.email)

    assert reset(mail_client, token, NEW_PASSWORD).status_code == 204

    kinds = kinds_of(mail_client, fresh_headers(mail_client, account, NEW_PASSWORD))
    assert kinds[1] == "password_reset"


def test_verifying_the_address_records_email_verified(
    mail_client: TestClient, inbox: Inbox
) -> None:
    account = register(mail_client)
    token = mailed_verification_token(mail_client, inbox, account)

    assert verify(mail_client, token).status_code == 200

    assert kinds_of(mail_client, account.headers)[0] == "email_verified"


def test_a_change_to_oneself_records_user_updated_without_an_actor(
    client: TestClient, user: Account
) -> None:
    client.patch("/users/me", json={"full_name": "Ada"}, headers=user.headers)

    latest = events_of(client, user.headers)[0]
    assert latest["kind"] == "user_updated"
    assert latest["actor_id"] is None
    assert latest["session_id"] == claims_of(user.access_token)["sid"]


def test_a_superuser_changing_someone_records_user_updated_with_its_actor_id(
    client: TestClient, user: Account, superuser: Account
) -> None:
    client.patch(f"/users/{user.id}", json={"full_name": "Ada"}, headers=superuser.headers)

    latest = events_of(client, user.headers)[0]
    assert latest["kind"] == "user_updated"
    assert latest["actor_id"] == superuser.id
    # The superuser's session is not the user's to see.
    assert latest["session_id"] is None


def test_deactivation_records_user_deactivated(
    client: TestClient, user: Account, superuser: Account
) -> None:
    client.patch(f"/users/{user.id}", json={"is_active": False}, headers=superuser.headers)

    events = client.get(f"/users/{user.id}/events", headers=superuser.headers).json()["events"]
    assert events[0]["kind"] == "user_deactivated"
    assert events[0]["actor_id"] == superuser.id


def test_deleting_oneself_records_user_deleted(
    client: TestClient, user: Account, db_engine: Engine
) -> None:
    assert client.delete("/users/me", headers=user.headers).status_code == 204

    deleted = stored_events(client, db_engine)[-1]
    assert (deleted.kind, deleted.user_id, deleted.actor_id) == ("user_deleted", user.id, None)


def test_a_superuser_deleting_someone_is_the_deletions_actor(
    client: TestClient, user: Account, superuser: Account, db_engine: Engine
) -> None:
    client.delete(f"/users/{user.id}", headers=superuser.headers)

    deleted = stored_events(client, db_engine)[-1]
    assert (deleted.kind, deleted.user_id, deleted.actor_id) == (
        "user_deleted",
        user.id,
        superuser.id,
    )


def test_no_event_stores_a_password_token_or_hash(
    mail_client: TestClient, inbox: Inbox, db_engine: Engine
) -> None:
    secrets = _scripted_session(mail_client, inbox, db_engine)

    events = stored_events(mail_client, db_engine)
    assert len(events) == 9
    for event in events:
        for column, value in event._asdict().items():
            for secret in secrets:
                assert secret not in str(value), (event.kind, column)


def _scripted_session(client: TestClient, inbox: Inbox, db_engine: Engine) -> list[str]:
    """Sign up, log in, fail, refresh, verify, change and reset the password,
    log out: every secret that crossed the wire or the database on the way."""
    account = register(client, password=STRONG_PASSWORD)
    secrets = [STRONG_PASSWORD, OTHER_PASSWORD, NEW_PASSWORD, account.access_token]
    secrets += [account.refresh_token, _stored_hash(db_engine)]
    login_response(client, account.email, OTHER_PASSWORD)
    renewed = refresh(client, account.refresh_token).json()
    secrets += [renewed["access_token"], renewed["refresh_token"]]
    verification = mailed_verification_token(client, inbox, account)
    verify(client, verification)
    client.post(
        "/users/me/password",
        json={"current_password": STRONG_PASSWORD, "new_password": OTHER_PASSWORD},
        headers=account.headers,
    )
    secrets.append(_stored_hash(db_engine))
    reset_token = mailed_reset_token(client, inbox, account.email)
    reset(client, reset_token, NEW_PASSWORD)
    tokens = login(client, account.email, NEW_PASSWORD)
    logout(client, tokens["refresh_token"])
    secrets += [tokens["access_token"], tokens["refresh_token"], _stored_hash(db_engine)]
    return [*secrets, verification, reset_token]


def _stored_hash(db_engine: Engine) -> str:
    with db_engine.connect() as connection:
        return connection.exec_driver_sql("SELECT hashed_password FROM users").scalar_one()


def test_seen_recently_knows_the_devices_and_addresses_logged_in_from(
    client: TestClient, user: Account
) -> None:
    audit = client.app.state.audit  # type: ignore[attr-defined]
    assert audit.flush()
    device = device_name("testclient")
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    in_an_hour = datetime.now(UTC) + timedelta(hours=1)

    assert audit.seen_recently(user.id, device=device, ip="testclient", since=an_hour_ago)
    assert not audit.seen_recently(user.id, device=device, ip="10.0.0.1", since=an_hour_ago)
    assert not audit.seen_recently(user.id, device="Firefox", ip="testclient", since=an_hour_ago)
    assert not audit.seen_recently(user.id, device=device, ip="testclient", since=in_an_hour)
