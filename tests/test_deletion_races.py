"""Changes in flight while the account is deleted: the owner's own changes answer
as any later request of theirs would (401, the token's user is gone), a
superuser's change answers 404 (no such user), and nothing is ever a 500 or a
status the OpenAPI document does not list. Found by the fuzzer's two workers:
PATCH /users/me racing DELETE /users/me answered an undocumented 404.

Each test releases its requests together from threads against real server
processes sharing the test database, with a hash slow enough that the changes
are still checking the current password when the deletion lands.
"""

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from tests.helpers import STRONG_PASSWORD, set_user
from tests.servers import ServerProcess, client_of, start_servers, stop_servers

CHANGES = 12
ROUNDS = 3
SETTINGS = {
    "BCRYPT_ROUNDS": "6",
    "LOGIN_LIMIT_PER_ACCOUNT_ADDRESS": "1000/minute",
    "LOGIN_LIMIT_PER_ACCOUNT": "1000/minute",
    "LOGIN_LIMIT_PER_ADDRESS": "1000/hour",
    "SIGNUP_LIMIT_PER_ADDRESS": "1000/hour",
    "VERIFY_LIMIT_PER_ACCOUNT": "1000/minute",
}

Request = Callable[[httpx.Client], httpx.Response]


@pytest.fixture(scope="module", params=[1, 2], ids=["one-instance", "two-instances"])
def servers(
    request: pytest.FixtureRequest, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[ServerProcess]]:
    workdir = tmp_path_factory.mktemp("deletion-races")
    started = start_servers(request.param, database_url=database_url, workdir=workdir, env=SETTINGS)
    yield started
    stop_servers(started)


def sign_up_and_log_in(
    servers: list[ServerProcess], email: str, *, admin_in: Engine | None = None
) -> tuple[int, dict[str, str]]:
    """A new user's id and the headers of its login; an admin's, made so in
    `admin_in` before it logs in, when given."""
    with client_of(servers) as client:
        created = client.post("/users", json={"email": email, "password": STRONG_PASSWORD})
        assert created.status_code == 201, created.text
        if admin_in is not None:
            set_user(admin_in, created.json()["id"], is_superuser=True)
        pair = client.post("/login", data={"username": email, "password": STRONG_PASSWORD})
        assert pair.status_code == 200, pair.text
    return created.json()["id"], {"Authorization": f"Bearer {pair.json()['access_token']}"}


def during_deletion(
    servers: list[ServerProcess], change: Request, deletion: Request
) -> tuple[list[httpx.Response], httpx.Response]:
    """`CHANGES` copies of `change` and one `deletion`, released together."""
    barrier = Barrier(CHANGES + 1)

    def run(index: int) -> httpx.Response:
        with client_of(servers, index) as client:
            barrier.wait()
            return deletion(client) if index == CHANGES else change(client)

    with ThreadPoolExecutor(max_workers=CHANGES + 1) as pool:
        responses = list(pool.map(run, range(CHANGES + 1)))
    return responses[:CHANGES], responses[CHANGES]


def answers(responses: list[httpx.Response]) -> dict[int, str]:
    return {response.status_code: response.text for response in responses}


def own_deletion(headers: dict[str, str]) -> Request:
    return lambda client: client.delete("/users/me", headers=headers)


def superuser_deletion(
    servers: list[ServerProcess], db_engine: Engine, user_id: int, round_: int
) -> Request:
    """The user's deletion by a superuser: a new password that lands first
    rightly signs the user's own token out, which would make its own DELETE 401."""
    _, root = sign_up_and_log_in(servers, f"root{round_}@example.com", admin_in=db_engine)
    return lambda client: client.delete(f"/users/{user_id}", headers=root)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_own_changes_racing_the_deletion_are_200_or_401(
    servers: list[ServerProcess], round_: int
) -> None:
    _, headers = sign_up_and_log_in(servers, f"ada{round_}@example.com")
    body: dict[str, Any] = {
        "full_name": "Ada",
        "email": f"new{round_}@example.com",
        "current_password": STRONG_PASSWORD,
    }

    changes, deletion = during_deletion(
        servers,
        lambda client: client.patch("/users/me", json=body, headers=headers),
        own_deletion(headers),
    )

    assert deletion.status_code == 204, deletion.text
    assert answers(changes).keys() <= {200, 401}, answers(changes)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_name_changes_racing_the_deletion_are_200_or_401(
    servers: list[ServerProcess], round_: int
) -> None:
    _, headers = sign_up_and_log_in(servers, f"ada{round_}@example.com")

    changes, deletion = during_deletion(
        servers,
        lambda client: client.patch("/users/me", json={"full_name": "Ada"}, headers=headers),
        own_deletion(headers),
    )

    assert deletion.status_code == 204, deletion.text
    assert answers(changes).keys() <= {200, 401}, answers(changes)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_password_changes_racing_the_deletion_are_204_or_401(
    servers: list[ServerProcess], db_engine: Engine, round_: int
) -> None:
    user_id, headers = sign_up_and_log_in(servers, f"ada{round_}@example.com")
    body = {"current_password": STRONG_PASSWORD, "new_password": "quartz-meadow-violin-77"}

    changes, deletion = during_deletion(
        servers,
        lambda client: client.post("/users/me/password", json=body, headers=headers),
        superuser_deletion(servers, db_engine, user_id, round_),
    )

    assert deletion.status_code == 204, deletion.text
    assert answers(changes).keys() <= {204, 401, 403}, answers(changes)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_changes_by_id_to_oneself_racing_the_deletion_are_200_or_401(
    servers: list[ServerProcess], db_engine: Engine, round_: int
) -> None:
    user_id, headers = sign_up_and_log_in(servers, f"ada{round_}@example.com")
    body = {
        "full_name": "Ada",
        "current_password": STRONG_PASSWORD,
        "password": "quartz-meadow-violin-77",
    }

    changes, deletion = during_deletion(
        servers,
        lambda client: client.patch(f"/users/{user_id}", json=body, headers=headers),
        superuser_deletion(servers, db_engine, user_id, round_),
    )

    assert deletion.status_code == 204, deletion.text
    assert answers(changes).keys() <= {200, 401}, answers(changes)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_superusers_changes_racing_the_deletion_are_200_or_404(
    servers: list[ServerProcess], db_engine: Engine, round_: int
) -> None:
    user_id, _ = sign_up_and_log_in(servers, f"ada{round_}@example.com")
    _, root = sign_up_and_log_in(servers, f"root{round_}@example.com", admin_in=db_engine)
    body = {"full_name": "Ada", "password": "quartz-meadow-violin-77"}

    # Deleted by the superuser too: a new password that lands first would
    # rightly sign the user out, and its own DELETE would be 401.
    changes, deletion = during_deletion(
        servers,
        lambda client: client.patch(f"/users/{user_id}", json=body, headers=root),
        lambda client: client.delete(f"/users/{user_id}", headers=root),
    )

    assert deletion.status_code == 204, deletion.text
    assert answers(changes).keys() <= {200, 404}, answers(changes)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_deletions_of_oneself_at_once_are_204_or_401(
    servers: list[ServerProcess], round_: int
) -> None:
    _, headers = sign_up_and_log_in(servers, f"ada{round_}@example.com")

    deletions, last = during_deletion(servers, own_deletion(headers), own_deletion(headers))

    assert answers([*deletions, last]).keys() <= {204, 401}, answers([*deletions, last])


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_verification_requests_racing_the_deletion_are_202_or_401(
    servers: list[ServerProcess], round_: int
) -> None:
    _, headers = sign_up_and_log_in(servers, f"ada{round_}@example.com")

    requests, deletion = during_deletion(
        servers,
        lambda client: client.post("/users/me/verify", headers=headers),
        own_deletion(headers),
    )

    assert deletion.status_code == 204, deletion.text
    assert answers(requests).keys() <= {202, 401}, answers(requests)
