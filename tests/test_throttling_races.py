"""Throttling under overlapping requests: guesses are counted before the password
is checked, so however they arrive, no more are evaluated than a limit allows.

Each test sends its requests at once from threads to real server processes
(two of them where the test says so) sharing the test database.
"""

from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import httpx
import pytest

from tests.helpers import STRONG_PASSWORD
from tests.servers import ServerProcess, start_servers, stop_servers

# A slower hash widens the window in which unthrottled guesses used to slip through.
SLOW_HASH = {"BCRYPT_ROUNDS": "8"}
GENEROUS = {
    "LOGIN_LIMIT_PER_ACCOUNT_ADDRESS": "1000/minute",
    "LOGIN_LIMIT_PER_ACCOUNT": "1000/minute",
    "LOGIN_LIMIT_PER_ADDRESS": "1000/hour",
    "SIGNUP_LIMIT_PER_ADDRESS": "1000/hour",
    "FORGOT_LIMIT_PER_ADDRESS": "1000/hour",
    "FORGOT_LIMIT_PER_ACCOUNT": "1000/minute",
}
PARALLEL = 40


# Each limit under test, with every other one generous; one pair of server
# processes for each, shared by its tests (the counters are emptied with the
# tables before every test). A one-instance test uses the first of the pair.
LIMITS = {
    "account-and-address": {"LOGIN_LIMIT_PER_ACCOUNT_ADDRESS": "5/minute"},
    "account": {"LOGIN_LIMIT_PER_ACCOUNT": "5/minute"},
    "address": {"LOGIN_LIMIT_PER_ADDRESS": "10/hour"},
    "sign-up-and-reset": {
        "SIGNUP_LIMIT_PER_ADDRESS": "5/hour",
        "FORGOT_LIMIT_PER_ADDRESS": "5/hour",
    },
}
INSTANCES = pytest.mark.parametrize("instances", [1, 2], ids=["one-instance", "two-instances"])


@pytest.fixture(scope="module")
def server_pairs(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, list[ServerProcess]]]:
    pairs: dict[str, list[ServerProcess]] = {}
    try:
        for name, limits in LIMITS.items():
            pairs[name] = start_servers(
                2,
                database_url=database_url,
                workdir=tmp_path_factory.mktemp(name),
                env={**SLOW_HASH, **GENEROUS, **limits},
            )
        yield pairs
    finally:
        for started in pairs.values():
            stop_servers(started)


def servers_for(pairs: dict[str, list[ServerProcess]], limit: str, instances: int) -> list:
    return pairs[limit][:instances]


def at_once(servers: list[ServerProcess], calls: list[Callable[[httpx.Client], int]]) -> Counter:
    """Run each call on its own thread, released together, alternating between
    the servers; the count of each status code."""
    barrier = Barrier(len(calls))

    def run(index: int) -> int:
        with httpx.Client(base_url=servers[index % len(servers)].url, timeout=60) as client:
            barrier.wait()
            return calls[index](client)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return Counter(pool.map(run, range(len(calls))))


def sign_up(server: ServerProcess, email: str = "ada@example.com") -> None:
    with server.client() as client:
        response = client.post("/users", json={"email": email, "password": STRONG_PASSWORD})
    assert response.status_code == 201, response.text


def login(email: str, password: str) -> Callable[[httpx.Client], int]:
    return lambda client: (
        client.post("/login", data={"username": email, "password": password}).status_code
    )


@INSTANCES
def test_parallel_guesses_at_one_account_are_evaluated_no_more_than_the_limit(
    server_pairs: dict[str, list[ServerProcess]], instances: int
) -> None:
    servers = servers_for(server_pairs, "account-and-address", instances)
    sign_up(servers[0])
    guesses = [login("ada@example.com", f"wrong-guess-{n}") for n in range(PARALLEL)]

    statuses = at_once(servers, guesses)

    assert statuses == Counter({401: 5, 429: PARALLEL - 5})


@INSTANCES
def test_the_right_password_after_a_burst_of_guesses_is_throttled_too(
    server_pairs: dict[str, list[ServerProcess]], instances: int
) -> None:
    # The outside finding: 39 wrong guesses at once, then the right one got in.
    servers = servers_for(server_pairs, "account-and-address", instances)
    sign_up(servers[0])
    at_once(servers, [login("ada@example.com", f"wrong-guess-{n}") for n in range(PARALLEL - 1)])

    with servers[-1].client() as client:
        assert login("ada@example.com", STRONG_PASSWORD)(client) == 429


@INSTANCES
def test_parallel_guesses_from_unknown_addresses_are_bounded_per_account(
    server_pairs: dict[str, list[ServerProcess]], instances: int
) -> None:
    servers = servers_for(server_pairs, "account", instances)
    sign_up(servers[0])

    statuses = at_once(servers, [login("ada@example.com", "wrong") for _ in range(PARALLEL)])

    assert statuses == Counter({401: 5, 429: PARALLEL - 5})


@INSTANCES
def test_parallel_failed_logins_for_many_accounts_from_one_address_are_bounded(
    server_pairs: dict[str, list[ServerProcess]], instances: int
) -> None:
    servers = servers_for(server_pairs, "address", instances)
    emails = [f"user{n}@example.com" for n in range(PARALLEL)]

    statuses = at_once(servers, [login(email, "wrong") for email in emails])

    assert statuses == Counter({401: 10, 429: PARALLEL - 10})


def test_successful_logins_give_their_slot_of_the_address_limit_back(
    server_pairs: dict[str, list[ServerProcess]],
) -> None:
    (server, _) = server_pairs["address"]
    # More logins than the address limit (10) allows failures.
    emails = [f"user{n}@example.com" for n in range(12)]
    for email in emails:
        sign_up(server, email)

    # In turn: logins that overlap all hold their slots until they are done.
    with server.client() as client:
        statuses = Counter(login(email, STRONG_PASSWORD)(client) for email in emails)

    assert statuses == Counter({200: 12})


def test_parallel_sign_ups_from_one_address_are_bounded(
    server_pairs: dict[str, list[ServerProcess]],
) -> None:
    def sign_up_as(n: int) -> Callable[[httpx.Client], int]:
        body = {"email": f"user{n}@example.com", "password": STRONG_PASSWORD}
        return lambda client: client.post("/users", json=body).status_code

    statuses = at_once(server_pairs["sign-up-and-reset"], [sign_up_as(n) for n in range(20)])

    assert statuses == Counter({201: 5, 429: 15})


def test_parallel_reset_requests_from_one_address_are_bounded(
    server_pairs: dict[str, list[ServerProcess]],
) -> None:
    def forgot(n: int) -> Callable[[httpx.Client], int]:
        body = {"email": f"user{n}@example.com"}
        return lambda client: client.post("/password/forgot", json=body).status_code

    statuses = at_once(server_pairs["sign-up-and-reset"], [forgot(n) for n in range(20)])

    assert statuses == Counter({202: 5, 429: 15})
