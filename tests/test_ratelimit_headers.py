"""RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers-09) on
the throttled routes: read from the throttling counters, showing only the
client's own limits, and never telling whether an account exists."""

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis
from fastapi.testclient import TestClient
from limits import parse
from sqlalchemy import Engine, select

from service.config import Settings
from service.models import RateLimitCounter
from tests.helpers import STRONG_PASSWORD, TEST_REDIS_URL, Account, signup
from tests.servers import start_servers, stop_servers

MakeClient = Callable[..., TestClient]
Call = Callable[[TestClient, Account], httpx.Response]
Parsed = dict[str, dict[str, int]]
WRONG = "wrong-guess-000"

# RFC 9651 List members as the service writes them: a String naming the
# policy, then Integer parameters; members separated by ", ".
_MEMBER = re.compile(r'"([a-z][a-z0-9-]*)"((?:;[a-z]+=[0-9]{1,15})+)')

# Each throttled route (every spend_* and start_login), with the policy it shows
# and the setting that policy is.
THROTTLED: dict[str, tuple[Call, str, str]] = {
    "login": (
        lambda c, a: c.post("/login", data={"username": a.email, "password": a.password}),
        "login",
        "login_limit_per_address",
    ),
    "login refresh grant": (
        lambda c, a: c.post(
            "/login", data={"grant_type": "refresh_token", "refresh_token": a.refresh_token}
        ),
        "refresh",
        "refresh_limit_per_address",
    ),
    "refresh": (
        lambda c, a: c.post("/refresh", json={"refresh_token": a.refresh_token}),
        "refresh",
        "refresh_limit_per_address",
    ),
    "signup": (
        lambda c, a: signup(c, "new@example.com"),
        "signup",
        "signup_limit_per_address",
    ),
    "forgot": (
        lambda c, a: c.post("/password/forgot", json={"email": a.email}),
        "forgot",
        "forgot_limit_per_address",
    ),
    "verify": (
        lambda c, a: c.post("/users/me/verify", headers=a.headers),
        "verify",
        "verify_limit_per_account",
    ),
}


def parse_list(value: str) -> Parsed:
    """A RateLimit or RateLimit-Policy value: each policy's parameters; fails on
    anything but the strict syntax."""
    members: Parsed = {}
    for member in value.split(", "):
        match = _MEMBER.fullmatch(member)
        assert match, f"not a structured-field list member: {member!r} in {value!r}"
        name, parameters = match.groups()
        assert name not in members, value
        pairs = [parameter.split("=") for parameter in parameters.split(";")[1:]]
        members[name] = {key: int(number) for key, number in pairs}
        assert len(members[name]) == len(pairs), value
    return members


def policies(response: httpx.Response) -> Parsed:
    (value,) = response.headers.get_list("ratelimit-policy")
    return parse_list(value)


def ratelimit(response: httpx.Response) -> Parsed:
    (value,) = response.headers.get_list("ratelimit")
    return parse_list(value)


def headers_of(response: httpx.Response) -> tuple[int, str | None, str | None]:
    return (
        response.status_code,
        response.headers.get("ratelimit-policy"),
        response.headers.get("ratelimit"),
    )


def has_none(response: httpx.Response) -> bool:
    return "ratelimit" not in response.headers and "ratelimit-policy" not in response.headers


def from_address(client: TestClient, host: str) -> TestClient:
    """Another client of the same (running) app, whose TCP peer is `host`."""
    return TestClient(client.app, client=(host, 50000))


def fail(client: TestClient, email: str = "ada@example.com") -> httpx.Response:
    return client.post("/login", data={"username": email, "password": WRONG})


def forgot(client: TestClient, email: str = "nobody@example.com") -> httpx.Response:
    return client.post("/password/forgot", json={"email": email})


@pytest.fixture
def ada(make_client: MakeClient) -> str:
    """An account, made through an unthrottled app so no sign-up counts."""
    assert signup(make_client(rate_limit_enabled=False)).status_code == 201
    return "ada@example.com"


@pytest.fixture
def redis_db() -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(TEST_REDIS_URL)
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


# Every throttled route


@pytest.mark.parametrize("route", sorted(THROTTLED))
def test_throttled_route_answers_its_policy_and_what_is_left_of_it(
    client: TestClient, user: Account, settings: Settings, route: str
) -> None:
    call, policy, setting = THROTTLED[route]
    limit = parse(getattr(settings, setting))

    response = call(client, user)

    assert response.status_code < 300, response.text
    assert policies(response) == {policy: {"q": limit.amount, "w": limit.get_expiry()}}
    (left,) = ratelimit(response).items()
    assert left[0] == policy
    # A successful login gives its slot back: it may leave the whole quota.
    assert 0 <= left[1]["r"] <= limit.amount
    assert 0 < left[1]["t"] <= limit.get_expiry()


def test_remaining_goes_down_by_one_per_request(make_client: MakeClient) -> None:
    client = make_client(forgot_limit_per_address="5/minute")

    answers = [forgot(client) for _ in range(3)]

    assert [policies(a) for a in answers] == [{"forgot": {"q": 5, "w": 60}}] * 3
    assert [ratelimit(a)["forgot"]["r"] for a in answers] == [4, 3, 2]


def test_a_429_carries_the_policy_spent_to_zero_beside_retry_after(
    make_client: MakeClient,
) -> None:
    client = make_client(forgot_limit_per_address="2/minute")
    for _ in range(2):
        forgot(client)

    response = forgot(client)

    assert response.status_code == 429
    assert policies(response) == {"forgot": {"q": 2, "w": 60}}
    left = ratelimit(response)["forgot"]
    assert left["r"] == 0
    assert abs(left["t"] - int(response.headers["retry-after"])) <= 1


def test_the_ipv6_network_limit_is_shown_beside_the_clients_own(
    client: TestClient, settings: Settings
) -> None:
    limit = parse(settings.login_limit_per_address)
    ipv6 = from_address(client, "2001:db8:1:2::5")

    response = fail(ipv6)

    network = limit.amount * settings.ipv6_network_factor
    assert policies(response) == {
        "login": {"q": limit.amount, "w": limit.get_expiry()},
        "login-network": {"q": network, "w": limit.get_expiry()},
    }
    assert {name: left["r"] for name, left in ratelimit(response).items()} == {
        "login": limit.amount - 1,
        "login-network": network - 1,
    }


# Nothing about accounts


def test_login_headers_are_the_same_for_an_unknown_and_a_known_email(
    make_client: MakeClient, ada: str
) -> None:
    client = make_client(login_limit_per_account_address="2/minute")
    known = [headers_of(fail(from_address(client, "203.0.113.7"), ada)) for _ in range(3)]

    unknown = [
        headers_of(fail(from_address(client, "203.0.113.8"), "nobody@example.com"))
        for _ in range(3)
    ]

    assert [status for status, _, _ in known] == [401, 401, 429]
    assert unknown == known


def test_forgot_headers_are_the_same_for_an_unknown_and_a_known_email(
    make_client: MakeClient, ada: str
) -> None:
    client = make_client(forgot_limit_per_account="1/10minutes")
    known = [headers_of(forgot(from_address(client, "203.0.113.7"), ada)) for _ in range(3)]

    unknown = [
        headers_of(forgot(from_address(client, "203.0.113.8"), "nobody@example.com"))
        for _ in range(3)
    ]

    assert unknown == known


# The per-account-and-client limit is counted before the client's own, so the
# attempt it refuses takes no slot of it; the per-account one after, so that one does.
@pytest.mark.parametrize(
    ("setting", "left"), [("login_limit_per_account_address", 48), ("login_limit_per_account", 47)]
)
def test_a_429_of_a_per_account_limit_shows_only_the_clients_policy(
    make_client: MakeClient, ada: str, setting: str, left: int
) -> None:
    client = make_client(login_limit_per_address="50/hour", **{setting: "2/hour"})
    for _ in range(2):
        fail(client, ada)

    response = fail(client, ada)

    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    assert policies(response) == {"login": {"q": 50, "w": 3600}}
    assert ratelimit(response)["login"]["r"] == left


def test_forgot_never_shows_the_per_account_bound(make_client: MakeClient, ada: str) -> None:
    client = make_client(forgot_limit_per_account="1/10minutes")

    answers = [forgot(client, ada) for _ in range(3)]

    assert [set(policies(a)) | set(ratelimit(a)) for a in answers] == [{"forgot"}] * 3


# The counters themselves


def test_a_successful_login_shows_its_slot_given_back_as_the_counter_has_it(
    make_client: MakeClient, ada: str, db_engine: Engine
) -> None:
    client = make_client(login_limit_per_address="10/hour")
    failed = fail(client, ada)

    succeeded = client.post("/login", data={"username": ada, "password": STRONG_PASSWORD})

    assert succeeded.status_code == 200
    assert ratelimit(failed)["login"]["r"] == ratelimit(succeeded)["login"]["r"] == 9
    with db_engine.connect() as connection:
        (counted,) = connection.scalars(
            select(RateLimitCounter.count).where(RateLimitCounter.key.contains("login-address/"))
        ).all()
    assert counted == 10 - ratelimit(succeeded)["login"]["r"]


def _scenario(client: TestClient, email: str) -> list[tuple[int, str | None, str | None]]:
    """Reset requests up to a 429, a failed and a successful login."""
    answers = [forgot(client) for _ in range(3)]
    answers += [fail(client, email)]
    answers += [client.post("/login", data={"username": email, "password": STRONG_PASSWORD})]
    return [headers_of(answer) for answer in answers]


def test_counters_in_redis_give_the_same_headers_as_in_the_database(
    make_client: MakeClient, ada: str, redis_db: redis.Redis
) -> None:
    limits = {"forgot_limit_per_address": "2/minute", "login_limit_per_address": "10/hour"}
    in_database = _scenario(make_client(**limits), ada)

    in_redis = _scenario(make_client(redis_url=TEST_REDIS_URL, **limits), ada)

    assert redis_db.keys("*")
    assert [status for status, _, _ in in_redis] == [202, 202, 429, 401, 200]
    assert in_redis == in_database


def test_two_instances_on_one_database_report_the_shared_count(
    database_url: str, tmp_path: Path
) -> None:
    servers = start_servers(
        2, database_url=database_url, workdir=tmp_path, env={"FORGOT_LIMIT_PER_ADDRESS": "9/hour"}
    )
    try:
        clients = [server.client() for server in servers]
        answers = [
            clients[index % 2].post("/password/forgot", json={"email": "a@b.io"})
            for index in range(4)
        ]
    finally:
        stop_servers(servers)

    assert [ratelimit(a)["forgot"]["r"] for a in answers] == [8, 7, 6, 5]


# Where there are none


@pytest.mark.parametrize("path", ["/users/me", "/health", "/health/db"])
def test_an_unthrottled_route_has_no_ratelimit_headers(
    client: TestClient, user: Account, path: str
) -> None:
    response = client.get(path, headers=user.headers)

    assert response.status_code == 200
    assert has_none(response)


def test_a_request_refused_before_it_is_counted_has_none(client: TestClient) -> None:
    response = client.post("/login", data={"username": "ada@example.com"})

    assert response.status_code == 422
    assert has_none(response)


def test_no_headers_with_throttling_off(make_client: MakeClient, ada: str) -> None:
    client = make_client(rate_limit_enabled=False)

    answers = [fail(client, ada), forgot(client), signup(client, "new@example.com")]

    assert [has_none(a) for a in answers] == [True, True, True]


def test_browser_apps_may_read_both_headers(make_client: MakeClient) -> None:
    client = make_client(cors_origins=["https://app.example.com"])

    response = client.post(
        "/password/forgot",
        json={"email": "nobody@example.com"},
        headers={"Origin": "https://app.example.com"},
    )

    exposed = {
        name.strip().lower()
        for name in response.headers["access-control-expose-headers"].split(",")
    }
    assert {"ratelimit", "ratelimit-policy"} <= exposed
