"""Logins in flight while the credentials change: once a password change, a reset,
a deactivation or a deletion has answered, no session opened with the old
credentials works, whatever was in flight; and a login racing a deletion is a
401, never a 500.

Each test releases its requests together from threads against real server
processes (two where the test says so) sharing the test database, with a hash
slow enough that logins are still checking the password when the change lands.
"""

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from service import account_tokens
from service.account_tokens import Purpose
from service.models import User
from tests.helpers import STRONG_PASSWORD, claims_of, set_user
from tests.servers import ServerProcess, client_of, start_servers, stop_servers

EMAIL = "ada@example.com"
NEW_PASSWORD = "quartz-meadow-violin-77"
ROOT_EMAIL = "root@example.com"
LOGINS = 20
SETTINGS = {
    "BCRYPT_ROUNDS": "8",
    "LOGIN_LIMIT_PER_ACCOUNT_ADDRESS": "1000/minute",
    "LOGIN_LIMIT_PER_ACCOUNT": "1000/minute",
    "LOGIN_LIMIT_PER_ADDRESS": "1000/hour",
    "SIGNUP_LIMIT_PER_ADDRESS": "1000/hour",
    "REFRESH_LIMIT_PER_ADDRESS": "1000/minute",
}

Change = Callable[[httpx.Client], httpx.Response]


@pytest.fixture(scope="module", params=[1, 2], ids=["one-instance", "two-instances"])
def servers(
    request: pytest.FixtureRequest, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[ServerProcess]]:
    workdir = tmp_path_factory.mktemp("session-races")
    started = start_servers(request.param, database_url=database_url, workdir=workdir, env=SETTINGS)
    yield started
    stop_servers(started)


def sign_up(servers: list[ServerProcess], email: str = EMAIL) -> int:
    with client_of(servers) as client:
        response = client.post("/users", json={"email": email, "password": STRONG_PASSWORD})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def log_in(servers: list[ServerProcess], email: str = EMAIL) -> dict[str, Any]:
    with client_of(servers) as client:
        response = client.post("/login", data={"username": email, "password": STRONG_PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()


def bearer(pair: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['access_token']}"}


def logins_during(servers: list[ServerProcess], change: Change) -> tuple[list, httpx.Response]:
    """`LOGINS` logins with the old password and `change`, released together;
    the logins' responses and the change's."""
    barrier = Barrier(LOGINS + 1)

    def run(index: int) -> httpx.Response:
        with client_of(servers, index) as client:
            barrier.wait()
            if index == LOGINS:
                return change(client)
            return client.post("/login", data={"username": EMAIL, "password": STRONG_PASSWORD})

    with ThreadPoolExecutor(max_workers=LOGINS + 1) as pool:
        responses = list(pool.map(run, range(LOGINS + 1)))
    return responses[:LOGINS], responses[LOGINS]


def working_sessions(servers: list[ServerProcess], logins: list[httpx.Response]) -> list[str]:
    """What still works of the sessions the logins opened: each access token
    and each refresh token is tried on every instance."""
    working = []
    for login in logins:
        if login.status_code != 200:
            continue
        pair = login.json()
        for index in range(len(servers)):
            with client_of(servers, index) as client:
                if client.get("/users/me", headers=bearer(pair)).status_code != 401:
                    working.append(f"access token on instance {index}")
                refreshed = client.post("/refresh", json={"refresh_token": pair["refresh_token"]})
                if refreshed.status_code != 401:
                    working.append(f"refresh token on instance {index}")
    return working


def password_change(changer: dict[str, Any], body: dict[str, str]) -> Change:
    return lambda client: client.post("/users/me/password", json=body, headers=bearer(changer))


def statuses(responses: list[httpx.Response]) -> set[int]:
    return {response.status_code for response in responses}


def reset_token(engine: Engine, email: str = EMAIL) -> str:
    with Session(engine) as db:
        user = db.scalars(select(User).where(User.email == email)).one()
        token = account_tokens.issue(
            db, user=user, purpose=Purpose.PASSWORD_RESET, ttl=timedelta(minutes=30)
        )
        db.commit()
    return token


# Password change


def test_no_login_in_flight_survives_a_password_change(servers: list[ServerProcess]) -> None:
    sign_up(servers)
    changer = log_in(servers)
    body = {"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD}

    logins, change = logins_during(servers, password_change(changer, body))

    assert change.status_code == 204, change.text
    assert statuses(logins) <= {200, 401}
    assert working_sessions(servers, logins) == []


def test_the_session_that_changed_the_password_still_refreshes_after_the_race(
    servers: list[ServerProcess],
) -> None:
    sign_up(servers)
    changer = log_in(servers)
    body = {"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD}

    logins_during(servers, password_change(changer, body))

    with client_of(servers) as client:
        refreshed = client.post("/refresh", json={"refresh_token": changer["refresh_token"]})
        assert refreshed.status_code == 200, refreshed.text
        assert client.get("/users/me", headers=bearer(refreshed.json())).status_code == 200


# Password reset


def test_no_login_in_flight_survives_a_password_reset(
    servers: list[ServerProcess], db_engine: Engine
) -> None:
    sign_up(servers)
    body = {"token": reset_token(db_engine), "new_password": NEW_PASSWORD}

    logins, reset = logins_during(servers, lambda client: client.post("/password/reset", json=body))

    assert reset.status_code == 204, reset.text
    assert statuses(logins) <= {200, 401}
    assert working_sessions(servers, logins) == []


# Deactivation by a superuser


def test_no_login_in_flight_survives_a_deactivation(
    servers: list[ServerProcess], db_engine: Engine
) -> None:
    user_id = sign_up(servers)
    set_user(db_engine, sign_up(servers, ROOT_EMAIL), is_superuser=True)
    root = log_in(servers, ROOT_EMAIL)

    logins, deactivation = logins_during(
        servers,
        lambda client: client.patch(
            f"/users/{user_id}", json={"is_active": False}, headers=bearer(root)
        ),
    )

    assert deactivation.status_code == 200, deactivation.text
    assert statuses(logins) <= {200, 401}
    assert working_sessions(servers, logins) == []


# Deletion


def test_logins_racing_a_deletion_are_200_or_401_never_500(servers: list[ServerProcess]) -> None:
    sign_up(servers)
    owner = log_in(servers)

    logins, deletion = logins_during(
        servers, lambda client: client.delete("/users/me", headers=bearer(owner))
    )

    assert deletion.status_code == 204, deletion.text
    assert statuses(logins) <= {200, 401}, [response.text for response in logins]


def test_no_login_in_flight_survives_a_deletion(servers: list[ServerProcess]) -> None:
    sign_up(servers)
    owner = log_in(servers)

    logins, deletion = logins_during(
        servers, lambda client: client.delete("/users/me", headers=bearer(owner))
    )

    assert deletion.status_code == 204, deletion.text
    assert working_sessions(servers, logins) == []


# Ending sessions (GET/DELETE /users/me/sessions)


def refreshing_until_refused(
    servers: list[ServerProcess], pair: dict[str, Any], started: Barrier
) -> tuple[dict[str, Any], set[int]]:
    """Refresh `pair`'s session over and over, alternating instances, until a
    refresh is refused; the last pair it got and every status seen."""
    seen: set[int] = set()
    started.wait()
    for attempt in range(500):
        with client_of(servers, attempt) as client:
            response = client.post("/refresh", json={"refresh_token": pair["refresh_token"]})
        seen.add(response.status_code)
        if response.status_code != 200:
            break
        pair = response.json()
    return pair, seen


def test_a_session_ended_while_it_refreshes_stays_ended(servers: list[ServerProcess]) -> None:
    sign_up(servers)
    owner, device = log_in(servers), log_in(servers)
    device_id = claims_of(device["access_token"])["sid"]
    started = Barrier(2)

    with ThreadPoolExecutor(max_workers=1) as pool:
        refreshing = pool.submit(refreshing_until_refused, servers, device, started)
        started.wait()
        with client_of(servers, 1) as client:
            ended = client.delete(f"/users/me/sessions/{device_id}", headers=bearer(owner))
        last, seen = refreshing.result()

    assert ended.status_code == 204, ended.text
    assert seen <= {200, 401}
    for index in range(len(servers)):
        with client_of(servers, index) as client:
            assert client.get("/users/me", headers=bearer(last)).status_code == 401
            refreshed = client.post("/refresh", json={"refresh_token": last["refresh_token"]})
            assert refreshed.status_code == 401


def test_one_session_ended_twice_at_once_is_one_204_and_404s(servers: list[ServerProcess]) -> None:
    sign_up(servers)
    owner, device = log_in(servers), log_in(servers)
    path = f"/users/me/sessions/{claims_of(device['access_token'])['sid']}"
    barrier = Barrier(10)

    def end(index: int) -> int:
        with client_of(servers, index) as client:
            barrier.wait()
            return client.delete(path, headers=bearer(owner)).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = sorted(pool.map(end, range(10)))

    assert answers == [204] + [404] * 9


def test_a_session_ended_on_one_instance_is_refused_on_every_instance_at_once(
    servers: list[ServerProcess],
) -> None:
    sign_up(servers)
    owner, device = log_in(servers), log_in(servers)

    with client_of(servers, 0) as client:
        path = f"/users/me/sessions/{claims_of(device['access_token'])['sid']}"
        assert client.delete(path, headers=bearer(owner)).status_code == 204

    for index in range(len(servers)):
        with client_of(servers, index) as client:
            assert client.get("/users/me", headers=bearer(device)).status_code == 401


# A role change: each login holds the scopes of the role it started under


def test_no_login_in_flight_keeps_the_old_roles_scopes_past_a_promotion(
    servers: list[ServerProcess], db_engine: Engine
) -> None:
    user_id = sign_up(servers)
    set_user(db_engine, sign_up(servers, ROOT_EMAIL), is_superuser=True)
    root = log_in(servers, ROOT_EMAIL)

    logins, promotion = logins_during(
        servers,
        lambda client: client.patch(
            f"/users/{user_id}", json={"is_superuser": True}, headers=bearer(root)
        ),
    )

    assert promotion.status_code == 200, promotion.text
    assert statuses(logins) <= {200, 401}
    granted_before = [
        login for login in logins if "users:read" not in login.json().get("scope", "")
    ]
    assert working_sessions(servers, granted_before) == []


def test_no_refresh_in_flight_keeps_an_admins_scopes_past_its_demotion(
    servers: list[ServerProcess], db_engine: Engine
) -> None:
    admin_id = sign_up(servers)
    set_user(db_engine, admin_id, is_superuser=True)
    set_user(db_engine, sign_up(servers, ROOT_EMAIL), is_superuser=True)
    root = log_in(servers, ROOT_EMAIL)
    pairs = [log_in(servers) for _ in range(LOGINS)]
    barrier = Barrier(LOGINS + 1)

    def run(index: int) -> httpx.Response:
        with client_of(servers, index) as client:
            barrier.wait()
            if index == LOGINS:
                return client.patch(
                    f"/users/{admin_id}", json={"is_superuser": False}, headers=bearer(root)
                )
            return client.post("/refresh", json={"refresh_token": pairs[index]["refresh_token"]})

    with ThreadPoolExecutor(max_workers=LOGINS + 1) as pool:
        responses = list(pool.map(run, range(LOGINS + 1)))
    refreshes, demotion = responses[:LOGINS], responses[LOGINS]

    assert demotion.status_code == 200, demotion.text
    assert statuses(refreshes) <= {200, 401}
    assert working_sessions(servers, refreshes) == []
    assert working_sessions(servers, [httpx.Response(200, json=pair) for pair in pairs]) == []
