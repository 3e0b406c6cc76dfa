"""GET/DELETE /users/me/sessions and /users/{id}/sessions: a person sees every
login that can still be refreshed, and ends one or all of the others; ended
sessions' tokens are refused at their next use."""

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from service.models import Login
from tests.helpers import Account, assert_error, auth_headers, claims_of, me, refresh

FIREFOX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
SESSION_FIELDS = {"id", "created_at", "last_used_at", "expires_at", "device", "ip", "current"}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def log_in_from(client: TestClient, account: Account, user_agent: str) -> dict[str, Any]:
    response = client.post(
        "/login",
        data={"username": account.email, "password": account.password},
        headers={"User-Agent": user_agent},
    )
    assert response.status_code == 200, response.text
    return response.json()


def sessions_of(client: TestClient, access_token: str, path: str = "/users/me/sessions") -> list:
    response = client.get(path, headers=auth_headers(access_token))
    assert response.status_code == 200, response.text
    return response.json()


def session_id(tokens: dict[str, Any] | Account) -> str:
    access = tokens.access_token if isinstance(tokens, Account) else tokens["access_token"]
    return claims_of(access)["sid"]


# Listing


def test_sessions_list_every_live_login_with_its_fields(client: TestClient, user: Account) -> None:
    log_in_from(client, user, FIREFOX)

    listed = sessions_of(client, user.access_token)

    assert len(listed) == 2
    for entry in listed:
        assert set(entry) == SESSION_FIELDS
        for name in ("created_at", "last_used_at", "expires_at"):
            assert TIMESTAMP.match(entry[name]), entry[name]


def test_sessions_are_listed_newest_first(
    client: TestClient, user: Account, db_engine: Engine
) -> None:
    newer = log_in_from(client, user, FIREFOX)
    # The fixture's login an hour older, so the order cannot tie on the clock.
    with db_engine.begin() as connection:
        connection.execute(
            update(Login)
            .where(Login.id == session_id(user))
            .values(created_at=datetime.now(UTC) - timedelta(hours=1))
        )

    listed = sessions_of(client, user.access_token)

    assert [entry["id"] for entry in listed] == [session_id(newer), session_id(user)]


def test_only_the_calling_tokens_session_is_current(client: TestClient, user: Account) -> None:
    other = log_in_from(client, user, FIREFOX)

    listed = sessions_of(client, other["access_token"])

    assert {entry["id"]: entry["current"] for entry in listed} == {
        session_id(other): True,
        session_id(user): False,
    }


def test_session_device_is_read_from_the_user_agent(client: TestClient, user: Account) -> None:
    firefox = log_in_from(client, user, FIREFOX)
    iphone = log_in_from(client, user, IPHONE)

    devices = {entry["id"]: entry["device"] for entry in sessions_of(client, user.access_token)}

    assert devices[session_id(firefox)] == "Firefox on Ubuntu"
    assert devices[session_id(iphone)] == "Mobile Safari on iOS (iPhone)"


def test_session_without_a_readable_user_agent_is_an_unknown_device(
    client: TestClient, user: Account
) -> None:
    tokens = log_in_from(client, user, "")

    devices = {entry["id"]: entry["device"] for entry in sessions_of(client, user.access_token)}

    assert devices[session_id(tokens)] == "Unknown device"


def test_session_ip_is_the_client_address_the_trusted_proxy_names(
    make_client: Callable[..., TestClient], user: Account
) -> None:
    behind_router = TestClient(make_client(trusted_proxy_hops=1).app, client=("10.0.0.9", 5000))
    response = behind_router.post(
        "/login",
        data={"username": user.email, "password": user.password},
        headers={"X-Forwarded-For": "203.0.113.50, 198.51.100.7"},
    )

    ips = {entry["id"]: entry["ip"] for entry in sessions_of(behind_router, user.access_token)}

    assert ips[session_id(response.json())] == "198.51.100.7"


def test_a_refresh_moves_last_used_at_and_expires_at(
    client: TestClient, user: Account, db_engine: Engine
) -> None:
    # Back-date the login, so the refresh's own time shows.
    past = datetime.now(UTC) - timedelta(days=1)
    with db_engine.begin() as connection:
        connection.execute(
            update(Login)
            .where(Login.id == session_id(user))
            .values(created_at=past, expires_at=past + timedelta(days=6))
        )
    before = sessions_of(client, user.access_token)[0]

    tokens = refresh(client, user.refresh_token).json()
    after = sessions_of(client, tokens["access_token"])[0]

    assert before["last_used_at"] == before["created_at"]
    assert after["last_used_at"] > before["last_used_at"]
    assert after["expires_at"] > before["expires_at"]


def test_session_ids_are_opaque_and_distinct(client: TestClient, user: Account) -> None:
    for _ in range(3):
        log_in_from(client, user, FIREFOX)

    ids = [entry["id"] for entry in sessions_of(client, user.access_token)]

    assert len(set(ids)) == 4
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in ids)


def test_logged_out_sessions_are_not_listed(client: TestClient, user: Account) -> None:
    other = log_in_from(client, user, FIREFOX)
    client.post("/logout", json={"refresh_token": other["refresh_token"]})

    assert [entry["id"] for entry in sessions_of(client, user.access_token)] == [session_id(user)]


def test_expired_sessions_are_not_listed(
    client: TestClient, user: Account, db_engine: Engine
) -> None:
    other = log_in_from(client, user, FIREFOX)
    with db_engine.begin() as connection:
        connection.execute(
            update(Login)
            .where(Login.id == session_id(other))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    assert [entry["id"] for entry in sessions_of(client, user.access_token)] == [session_id(user)]


def test_sessions_ended_by_a_password_change_are_not_listed(
    client: TestClient, user: Account
) -> None:
    log_in_from(client, user, FIREFOX)
    response = client.post(
        "/users/me/password",
        json={"current_password": user.password, "new_password": "quartz-meadow-violin-77"},
        headers=user.headers,
    )
    assert response.status_code == 204
    # The session the change was made from stays; its next access token comes from a refresh.
    access_token = refresh(client, user.refresh_token).json()["access_token"]

    assert [entry["id"] for entry in sessions_of(client, access_token)] == [session_id(user)]


def test_sessions_show_no_other_users_logins(
    client: TestClient, user: Account, other_user: Account
) -> None:
    assert [entry["id"] for entry in sessions_of(client, user.access_token)] == [session_id(user)]


def test_sessions_without_a_token_is_401(client: TestClient) -> None:
    assert_error(client.get("/users/me/sessions"), 401, "not_authenticated", None)


# Ending one


def test_ending_a_session_is_204_and_removes_it_from_the_list(
    client: TestClient, user: Account
) -> None:
    other = log_in_from(client, user, FIREFOX)

    response = client.delete(f"/users/me/sessions/{session_id(other)}", headers=user.headers)

    assert response.status_code == 204
    assert [entry["id"] for entry in sessions_of(client, user.access_token)] == [session_id(user)]


def test_an_ended_sessions_refresh_token_is_401(client: TestClient, user: Account) -> None:
    other = log_in_from(client, user, FIREFOX)
    client.delete(f"/users/me/sessions/{session_id(other)}", headers=user.headers)

    assert_error(refresh(client, other["refresh_token"]), 401, "invalid_token")


def test_an_ended_sessions_access_token_is_401_at_once(client: TestClient, user: Account) -> None:
    other = log_in_from(client, user, FIREFOX)
    client.delete(f"/users/me/sessions/{session_id(other)}", headers=user.headers)

    assert_error(me(client, other["access_token"]), 401, "invalid_token", None)


def test_ending_one_session_leaves_the_others_working(client: TestClient, user: Account) -> None:
    ended = log_in_from(client, user, FIREFOX)
    kept = log_in_from(client, user, IPHONE)

    client.delete(f"/users/me/sessions/{session_id(ended)}", headers=user.headers)

    assert me(client, kept["access_token"]).status_code == 200
    assert refresh(client, kept["refresh_token"]).status_code == 200


def test_ending_the_current_session_signs_its_token_out(client: TestClient, user: Account) -> None:
    response = client.delete(f"/users/me/sessions/{session_id(user)}", headers=user.headers)

    assert response.status_code == 204
    assert me(client, user.access_token).status_code == 401


def test_ending_another_users_session_is_404_and_ends_nothing(
    client: TestClient, user: Account, other_user: Account
) -> None:
    response = client.delete(f"/users/me/sessions/{session_id(other_user)}", headers=user.headers)

    assert_error(response, 404, "not_found", None)
    assert me(client, other_user.access_token).status_code == 200


@pytest.mark.parametrize("unknown", ["0" * 32, "not-an-id", "x" * 5000, "%00", "..%2F..%2Fusers"])
def test_ending_an_unknown_session_is_404(client: TestClient, user: Account, unknown: str) -> None:
    response = client.delete(f"/users/me/sessions/{unknown}", headers=user.headers)

    assert_error(response, 404, "not_found", None)


def test_ending_an_already_ended_session_is_404(client: TestClient, user: Account) -> None:
    other = log_in_from(client, user, FIREFOX)
    client.delete(f"/users/me/sessions/{session_id(other)}", headers=user.headers)

    response = client.delete(f"/users/me/sessions/{session_id(other)}", headers=user.headers)

    assert_error(response, 404, "not_found", None)


# Ending all the others


def test_ending_the_other_sessions_keeps_only_the_current_one(
    client: TestClient, user: Account
) -> None:
    others = [log_in_from(client, user, agent) for agent in (FIREFOX, IPHONE)]

    response = client.delete("/users/me/sessions", headers=user.headers)

    assert response.status_code == 204
    assert [entry["id"] for entry in sessions_of(client, user.access_token)] == [session_id(user)]
    for tokens in others:
        assert me(client, tokens["access_token"]).status_code == 401
        assert refresh(client, tokens["refresh_token"]).status_code == 401
    assert refresh(client, user.refresh_token).status_code == 200


def test_ending_the_other_sessions_leaves_other_users_signed_in(
    client: TestClient, user: Account, other_user: Account
) -> None:
    client.delete("/users/me/sessions", headers=user.headers)

    assert me(client, other_user.access_token).status_code == 200


# Superusers


def test_superuser_lists_a_users_sessions(
    client: TestClient, user: Account, superuser: Account
) -> None:
    listed = sessions_of(client, superuser.access_token, f"/users/{user.id}/sessions")

    assert [(entry["id"], entry["current"]) for entry in listed] == [(session_id(user), False)]


def test_superuser_ends_one_session_of_a_user(
    client: TestClient, user: Account, superuser: Account
) -> None:
    response = client.delete(
        f"/users/{user.id}/sessions/{session_id(user)}", headers=superuser.headers
    )

    assert response.status_code == 204
    assert me(client, user.access_token).status_code == 401


def test_superuser_ends_every_session_of_a_user(
    client: TestClient, user: Account, superuser: Account
) -> None:
    other = log_in_from(client, user, FIREFOX)

    response = client.delete(f"/users/{user.id}/sessions", headers=superuser.headers)

    assert response.status_code == 204
    assert me(client, user.access_token).status_code == 401
    assert me(client, other["access_token"]).status_code == 401
    assert me(client, superuser.access_token).status_code == 200


def test_superuser_ending_a_session_of_another_user_by_the_wrong_user_id_is_404(
    client: TestClient, user: Account, other_user: Account, superuser: Account
) -> None:
    response = client.delete(
        f"/users/{other_user.id}/sessions/{session_id(user)}", headers=superuser.headers
    )

    assert_error(response, 404, "not_found", None)
    assert me(client, user.access_token).status_code == 200


def test_superuser_asking_for_an_unknown_users_sessions_is_404(
    client: TestClient, superuser: Account
) -> None:
    response = client.get("/users/999/sessions", headers=superuser.headers)

    assert_error(response, 404, "not_found", None)


@pytest.mark.parametrize(
    ("method", "suffix"), [("GET", ""), ("DELETE", ""), ("DELETE", "/0123456789abcdef")]
)
def test_non_superuser_on_another_users_sessions_is_403_and_ends_nothing(
    client: TestClient, user: Account, other_user: Account, method: str, suffix: str
) -> None:
    response = client.request(
        method, f"/users/{other_user.id}/sessions{suffix}", headers=user.headers
    )

    assert_error(response, 403, "forbidden", None)
    assert me(client, other_user.access_token).status_code == 200


def test_a_user_may_use_its_own_id_for_its_sessions(client: TestClient, user: Account) -> None:
    listed = sessions_of(client, user.access_token, f"/users/{user.id}/sessions")

    assert [(entry["id"], entry["current"]) for entry in listed] == [(session_id(user), True)]


def test_sessions_are_documented_in_openapi(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    assert {"get", "delete"} <= set(paths["/users/me/sessions"])
    assert "delete" in paths["/users/me/sessions/{session_id}"]
    assert {"get", "delete"} <= set(paths["/users/{user_id}/sessions"])
    assert "404" in paths["/users/me/sessions/{session_id}"]["delete"]["responses"]


# The audit trail


def events_of(client: TestClient, account: Account, access_token: str | None = None) -> list:
    token = access_token or account.access_token
    response = client.get("/users/me/events", headers=auth_headers(token))
    assert response.status_code == 200, response.text
    return response.json()["events"]


def test_ending_a_session_records_session_ended_naming_it(
    client: TestClient, user: Account
) -> None:
    other = log_in_from(client, user, FIREFOX)

    client.delete(f"/users/me/sessions/{session_id(other)}", headers=user.headers)

    ended = [event for event in events_of(client, user) if event["kind"] == "session_ended"]
    assert [(event["session_id"], event["actor_id"]) for event in ended] == [
        (session_id(other), None)
    ]


def test_a_superuser_ending_a_session_is_recorded_as_its_actor(
    client: TestClient, user: Account, superuser: Account
) -> None:
    client.delete(f"/users/{user.id}/sessions", headers=superuser.headers)
    # The user's own tokens are ended: read its trail as the superuser.
    response = client.get(f"/users/{user.id}/events", headers=superuser.headers)

    ended = [event for event in response.json()["events"] if event["kind"] == "session_ended"]
    assert [(event["session_id"], event["actor_id"]) for event in ended] == [(None, superuser.id)]
