"""Who the client is: the peer, or the address the trusted proxies in front name.

A platform router appends the address it saw to X-Forwarded-For; whatever is
left of that was written by the client and proves nothing.
"""

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from service.config import Settings
from tests.helpers import STRONG_PASSWORD, signup
from tests.mailserver import RESET_SUBJECT, Inbox, body_of, forgot
from tests.procfile import ProcfileServer

WRONG = "wrong-guess-000"
ROOMY = "1000/hour"
REAL_CLIENT = "198.51.100.7"
OTHER_CLIENT = "198.51.100.8"

MakeClient = Callable[..., TestClient]


def roomy_limits(**limits: str) -> dict[str, str]:
    """Login limits as settings: `limits`, every other one roomy."""
    values = {
        "login_limit_per_account_address": ROOMY,
        "login_limit_per_account": ROOMY,
        "login_limit_per_address": ROOMY,
    }
    values.update(limits)
    return values


def fail(client: httpx.Client | TestClient, email: str, forwarded_for: str) -> httpx.Response:
    return client.post(
        "/login",
        data={"username": email, "password": WRONG},
        headers={"X-Forwarded-For": forwarded_for},
    )


def spoofed(index: int, real_client: str = REAL_CLIENT) -> str:
    """What a router appending `real_client` passes on when the client sent its own entries."""
    return f"203.0.113.{index}, 10.{index}.0.1, {real_client}"


@pytest.fixture
def start_procfile_server(
    database_url: str, tmp_path: Path
) -> Iterator[Callable[..., ProcfileServer]]:
    started: list[ProcfileServer] = []

    def start(**settings: str) -> ProcfileServer:
        # No TRUSTED_PROXY_HOPS given: the Procfile's own default must be right for a platform.
        env = {name.upper(): value for name, value in settings.items()}
        server = ProcfileServer(database_url=database_url, workdir=tmp_path, env=env)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


# Behind one router, started as the Procfile starts the service: on each database,
# as it is deployed


def test_behind_one_proxy_logins_are_counted_per_rightmost_entry_whatever_precedes_it(
    start_procfile_server: Callable[..., ProcfileServer],
) -> None:
    server = start_procfile_server(**roomy_limits(login_limit_per_address="3/minute"))
    with server.client() as client:
        statuses = [
            fail(client, f"victim{i}@example.com", spoofed(i)).status_code for i in range(4)
        ]

    assert statuses == [401, 401, 401, 429]


def test_behind_one_proxy_guesses_at_one_account_are_counted_per_rightmost_entry(
    start_procfile_server: Callable[..., ProcfileServer],
) -> None:
    server = start_procfile_server(**roomy_limits(login_limit_per_account_address="3/minute"))
    with server.client() as client:
        assert signup(client, "ada@example.com", STRONG_PASSWORD).status_code == 201
        statuses = [fail(client, "ada@example.com", spoofed(i)).status_code for i in range(4)]

    assert statuses == [401, 401, 401, 429]


def test_behind_one_proxy_different_rightmost_entries_are_counted_apart(
    start_procfile_server: Callable[..., ProcfileServer],
) -> None:
    server = start_procfile_server(**roomy_limits(login_limit_per_address="3/minute"))
    with server.client() as client:
        for index in range(3):
            fail(client, f"victim{index}@example.com", f"203.0.113.1, {REAL_CLIENT}")

        response = fail(client, "victim9@example.com", f"203.0.113.1, {OTHER_CLIENT}")

    assert response.status_code == 401


# The rules, in one process: the peer is set per client


def app_behind(make_client: MakeClient, peer: str, **settings: object) -> TestClient:
    """A client of an app throttling at 1 failed login per address, reached from `peer`."""
    client = make_client(**roomy_limits(login_limit_per_address="1/hour"), **settings)
    return TestClient(client.app, client=(peer, 50000))


def seen_as_one(client: TestClient, first: str, second: str) -> bool:
    """Whether two requests with these X-Forwarded-For values count as one client's."""
    fail(client, "victim1@example.com", first)
    return fail(client, "victim2@example.com", second).status_code == 429


@pytest.mark.sqlite_only
def test_two_hops_take_the_second_entry_from_the_right(make_client: MakeClient) -> None:
    client = app_behind(make_client, "10.0.0.9", trusted_proxy_hops=2)

    assert seen_as_one(client, f"203.0.113.1, {REAL_CLIENT}, 10.0.0.2", f"{REAL_CLIENT}, 10.0.0.3")


@pytest.mark.sqlite_only
def test_two_hops_tell_clients_apart_by_the_second_entry_from_the_right(
    make_client: MakeClient,
) -> None:
    client = app_behind(make_client, "10.0.0.9", trusted_proxy_hops=2)

    assert not seen_as_one(client, f"{REAL_CLIENT}, 10.0.0.2", f"{OTHER_CLIENT}, 10.0.0.2")


@pytest.mark.sqlite_only
def test_fewer_entries_than_hops_count_as_the_peer(make_client: MakeClient) -> None:
    client = app_behind(make_client, "10.0.0.9", trusted_proxy_hops=2)

    assert seen_as_one(client, REAL_CLIENT, OTHER_CLIENT)


@pytest.mark.sqlite_only
def test_without_hops_forwarded_for_from_an_untrusted_peer_is_ignored(
    make_client: MakeClient,
) -> None:
    client = app_behind(make_client, "10.0.0.9", trusted_proxy_hops=0)

    assert seen_as_one(client, REAL_CLIENT, OTHER_CLIENT)


@pytest.mark.sqlite_only
def test_trusted_proxies_are_walked_past_from_the_right(make_client: MakeClient) -> None:
    client = app_behind(make_client, "10.0.0.9", forwarded_allow_ips="10.0.0.0/8")

    assert seen_as_one(
        client, f"203.0.113.1, {REAL_CLIENT}, 10.0.0.2", f"203.0.113.2, {REAL_CLIENT}"
    )


@pytest.mark.sqlite_only
def test_the_first_untrusted_entry_from_the_right_is_the_client(make_client: MakeClient) -> None:
    client = app_behind(make_client, "10.0.0.9", forwarded_allow_ips="10.0.0.0/8")

    assert not seen_as_one(
        client, f"{OTHER_CLIENT}, {REAL_CLIENT}, 10.0.0.2", f"{REAL_CLIENT}, {OTHER_CLIENT}"
    )


@pytest.mark.sqlite_only
def test_forwarded_allow_ips_star_is_refused_for_any_client_could_choose_its_address() -> None:
    with pytest.raises(ValidationError, match="TRUSTED_PROXY_HOPS"):
        Settings(forwarded_allow_ips="*")


GARBAGE = {
    "not-an-ip": "not-an-ip",
    "empty": "",
    "commas": ",,,",
    "999-octets": "999.999.999.999",
    "ipv6-zone": "fe80::1%eth0",
    "bracketed-with-port": "[2001:db8::1]:80",
    "with-port": "198.51.100.7:8080",
    "crlf": "1.2.3.4\r\nX-Evil: 1",
}


@pytest.mark.sqlite_only
@pytest.mark.parametrize("hops", [1, 2])
@pytest.mark.parametrize("value", GARBAGE.values(), ids=GARBAGE.keys())
def test_garbage_forwarded_for_behind_hops_is_a_plain_401(
    make_client: MakeClient, value: str, hops: int
) -> None:
    app = app_behind(make_client, "10.0.0.9", trusted_proxy_hops=hops).app
    client = TestClient(app, client=("10.0.0.9", 50000), raise_server_exceptions=False)

    assert fail(client, "victim@example.com", value).status_code == 401


@pytest.mark.sqlite_only
def test_the_reset_mail_names_the_address_the_router_saw(
    make_mail_client: MakeClient, inbox: Inbox
) -> None:
    app = make_mail_client(trusted_proxy_hops=1).app
    client = TestClient(app, client=("10.0.0.9", 50000))
    assert signup(client, "ada@example.com", STRONG_PASSWORD).status_code == 201

    forgot(client, "ada@example.com", **{"X-Forwarded-For": f"203.0.113.66, {REAL_CLIENT}"})

    body = body_of(inbox.wait_for_message(to="ada@example.com", subject=RESET_SUBJECT))
    assert f"from {REAL_CLIENT} " in body
    assert "203.0.113.66" not in body
