"""Throttling of failed logins, sign-ups and refreshes, in one process.

Several service instances sharing the counters: tests/test_two_instances.py.
"""

import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from service.models import RateLimitCounter
from tests.helpers import (
    OTHER_PASSWORD,
    STRONG_PASSWORD,
    assert_error,
    login_response,
    set_user,
    signup,
)

REDIS_URL = "redis://127.0.0.1:6379/15"
WRONG = "wrong-guess-000"
ROOMY = "1000/hour"

MakeClient = Callable[..., TestClient]


def throttled_app(make_client: MakeClient, **limits: str) -> TestClient:
    """A client of an app whose limits are `limits`, every other limit roomy."""
    settings: dict[str, object] = {
        "login_limit_per_account_address": ROOMY,
        "login_limit_per_account": ROOMY,
        "login_limit_per_address": ROOMY,
        "signup_limit_per_address": ROOMY,
        "refresh_limit_per_address": ROOMY,
    }
    settings.update(limits)
    return make_client(**settings)


def from_address(client: TestClient, host: str) -> TestClient:
    """Another client of the same (running) app, whose TCP peer is `host`."""
    return TestClient(client.app, client=(host, 50000))


def fail(client: TestClient, email: str = "ada@example.com", **headers: str) -> httpx.Response:
    return client.post("/login", data={"username": email, "password": WRONG}, headers=headers)


def assert_throttled(response: httpx.Response) -> None:
    assert_error(response, 429, "rate_limited", None)
    assert int(response.headers["retry-after"]) > 0


@pytest.fixture
def ada(make_client: MakeClient) -> str:
    """An account, made through an unthrottled app so no sign-up counts."""
    unthrottled = make_client(rate_limit_enabled=False)
    assert signup(unthrottled, "ada@example.com", STRONG_PASSWORD).status_code == 201
    return "ada@example.com"


# Per account and address


def test_failures_up_to_the_limit_are_401(make_client: MakeClient, ada: str) -> None:
    client = throttled_app(make_client, login_limit_per_account_address="3/minute")

    statuses = [fail(client).status_code for _ in range(3)]

    assert statuses == [401, 401, 401]


def test_failure_past_the_per_account_address_limit_is_429(
    make_client: MakeClient, ada: str
) -> None:
    client = throttled_app(make_client, login_limit_per_account_address="3/minute")
    for _ in range(3):
        fail(client)

    assert_throttled(fail(client))


def test_throttled_login_with_the_correct_password_is_429(
    make_client: MakeClient, ada: str
) -> None:
    client = throttled_app(make_client, login_limit_per_account_address="3/minute")
    for _ in range(3):
        fail(client)

    assert_throttled(login_response(client, ada, STRONG_PASSWORD))


def test_retry_after_is_within_the_window(make_client: MakeClient, ada: str) -> None:
    client = throttled_app(make_client, login_limit_per_account_address="2/minute")
    for _ in range(2):
        fail(client)

    assert 0 < int(fail(client).headers["retry-after"]) <= 60


def test_limit_in_words_is_understood(make_client: MakeClient, ada: str) -> None:
    client = throttled_app(make_client, login_limit_per_account_address="2 per hour")
    for _ in range(2):
        fail(client)

    assert_throttled(fail(client))


def test_unknown_email_is_throttled_after_as_many_failures_as_a_real_one(
    make_client: MakeClient, ada: str
) -> None:
    client = throttled_app(make_client, login_limit_per_account_address="3/minute")

    real = [fail(client, ada).status_code for _ in range(4)]
    unknown = [fail(client, "nobody@example.com").status_code for _ in range(4)]

    assert real == unknown == [401, 401, 401, 429]


def test_failures_of_an_inactive_account_count(
    make_client: MakeClient, ada: str, db_engine: Engine
) -> None:
    set_user(db_engine, 1, is_active=False)
    client = throttled_app(make_client, login_limit_per_account_address="2/minute")
    for _ in range(2):
        assert login_response(client, ada, STRONG_PASSWORD).status_code == 401

    assert_throttled(login_response(client, ada, STRONG_PASSWORD))


def test_email_case_and_spaces_do_not_give_fresh_counters(
    make_client: MakeClient, ada: str
) -> None:
    client = throttled_app(make_client, login_limit_per_account_address="2/minute")
    fail(client, "ada@example.com")
    fail(client, " ADA@Example.com ")

    assert_throttled(fail(client, "Ada@example.COM"))


def test_throttling_one_account_leaves_another_alone(make_client: MakeClient, ada: str) -> None:
    client = throttled_app(make_client, login_limit_per_account_address="2/minute")
    for _ in range(3):
        fail(client, ada)

    assert fail(client, "bob@example.com").status_code == 401


def test_successful_login_clears_the_accounts_counters(make_client: MakeClient, ada: str) -> None:
    client = throttled_app(make_client, login_limit_per_account_address="3/minute")
    fail(client)
    fail(client)
    assert login_response(client, ada, STRONG_PASSWORD).status_code == 200

    statuses = [fail(client).status_code for _ in range(3)]

    assert statuses == [401, 401, 401]


# Per account from anywhere, except addresses the owner uses


def test_per_account_limit_holds_across_addresses(make_client: MakeClient, ada: str) -> None:
    client = throttled_app(make_client, login_limit_per_account="3/hour")
    for index in range(3):
        assert fail(from_address(client, f"198.51.100.{index}")).status_code == 401

    assert_throttled(fail(from_address(client, "198.51.100.99")))


def test_owner_still_gets_in_from_a_known_address(make_client: MakeClient, ada: str) -> None:
    client = throttled_app(make_client, login_limit_per_account="3/hour")
    home = from_address(client, "192.0.2.10")
    assert login_response(home, ada, STRONG_PASSWORD).status_code == 200
    for index in range(5):
        fail(from_address(client, f"198.51.100.{index}"))

    assert login_response(home, ada, STRONG_PASSWORD).status_code == 200


def test_per_account_limit_still_blocks_unknown_addresses_after_the_owners_login(
    make_client: MakeClient, ada: str
) -> None:
    client = throttled_app(make_client, login_limit_per_account="3/hour")
    home = from_address(client, "192.0.2.10")
    assert login_response(home, ada, STRONG_PASSWORD).status_code == 200
    for index in range(3):
        fail(from_address(client, f"198.51.100.{index}"))

    assert_throttled(login_response(from_address(client, "203.0.113.7"), ada, STRONG_PASSWORD))


def test_known_address_is_still_held_to_its_own_limit(make_client: MakeClient, ada: str) -> None:
    client = throttled_app(
        make_client, login_limit_per_account="3/hour", login_limit_per_account_address="2/minute"
    )
    home = from_address(client, "192.0.2.10")
    assert login_response(home, ada, STRONG_PASSWORD).status_code == 200
    fail(home)
    fail(home)

    assert_throttled(fail(home))


# Per client address, over all accounts


def test_per_address_limit_spans_accounts(make_client: MakeClient) -> None:
    client = throttled_app(make_client, login_limit_per_address="3/hour")
    for index in range(3):
        assert fail(client, f"victim{index}@example.com").status_code == 401

    assert_throttled(fail(client, "victim99@example.com"))


def test_per_address_limit_leaves_other_addresses_alone(make_client: MakeClient) -> None:
    client = throttled_app(make_client, login_limit_per_address="3/hour")
    for index in range(4):
        fail(client, f"victim{index}@example.com")

    assert fail(from_address(client, "192.0.2.77"), "victim0@example.com").status_code == 401


def test_successful_login_does_not_clear_the_per_address_counter(
    make_client: MakeClient, ada: str
) -> None:
    client = throttled_app(make_client, login_limit_per_address="3/hour")
    fail(client, "victim1@example.com")
    fail(client, "victim2@example.com")
    assert login_response(client, ada, STRONG_PASSWORD).status_code == 200
    fail(client, "victim3@example.com")

    assert_throttled(fail(client, "victim4@example.com"))


def test_ipv6_addresses_of_one_64_share_counters(make_client: MakeClient) -> None:
    client = throttled_app(make_client, login_limit_per_address="2/hour")
    fail(from_address(client, "2001:db8:1:2::1"), "victim1@example.com")
    fail(from_address(client, "2001:db8:1:2:ffff:ffff:ffff:ffff"), "victim2@example.com")

    assert_throttled(fail(from_address(client, "2001:db8:1:2::abcd"), "victim3@example.com"))


def test_ipv6_addresses_of_another_64_have_their_own_counters(make_client: MakeClient) -> None:
    client = throttled_app(make_client, login_limit_per_address="2/hour")
    for index in range(3):
        fail(from_address(client, "2001:db8:1:2::1"), f"victim{index}@example.com")

    assert fail(from_address(client, "2001:db8:1:3::1"), "victim9@example.com").status_code == 401


# Who the client is: the peer, or whom a trusted proxy names


def test_forwarded_for_from_a_trusted_proxy_names_the_client(make_client: MakeClient) -> None:
    client = throttled_app(make_client, login_limit_per_address="2/hour")
    proxy = from_address(client, "127.0.0.1")
    for index in range(2):
        fail(proxy, f"victim{index}@example.com", **{"X-Forwarded-For": "203.0.113.5"})

    assert_throttled(fail(proxy, "victim9@example.com", **{"X-Forwarded-For": "203.0.113.5"}))


def test_clients_behind_a_trusted_proxy_are_counted_apart(make_client: MakeClient) -> None:
    client = throttled_app(make_client, login_limit_per_address="2/hour")
    proxy = from_address(client, "127.0.0.1")
    for index in range(3):
        fail(proxy, f"victim{index}@example.com", **{"X-Forwarded-For": "203.0.113.5"})

    response = fail(proxy, "victim9@example.com", **{"X-Forwarded-For": "203.0.113.6"})

    assert response.status_code == 401


def test_forwarded_for_from_an_untrusted_peer_is_ignored(make_client: MakeClient) -> None:
    client = throttled_app(make_client, login_limit_per_address="2/hour")
    attacker = from_address(client, "10.1.2.3")
    for index in range(2):
        fail(attacker, f"victim{index}@example.com", **{"X-Forwarded-For": f"198.51.100.{index}"})

    assert_throttled(fail(attacker, "victim9@example.com", **{"X-Forwarded-For": "192.0.2.1"}))


def test_forwarded_allow_ips_setting_decides_whom_to_believe(make_client: MakeClient) -> None:
    client = throttled_app(
        make_client, login_limit_per_address="2/hour", forwarded_allow_ips="10.1.2.3"
    )
    proxy = from_address(client, "10.1.2.3")
    for index in range(3):
        fail(proxy, f"victim{index}@example.com", **{"X-Forwarded-For": f"198.51.100.{index}"})

    assert fail(proxy, "victim9@example.com", **{"X-Forwarded-For": "192.0.2.1"}).status_code == 401


# Sign-up and refresh, per client address


def test_signup_past_the_per_address_limit_is_429(make_client: MakeClient) -> None:
    client = throttled_app(make_client, signup_limit_per_address="2/hour")
    for index in range(2):
        assert signup(client, f"new{index}@example.com").status_code == 201

    assert_throttled(signup(client, "new9@example.com"))


def test_throttled_signup_creates_no_account(make_client: MakeClient, db_engine: Engine) -> None:
    client = throttled_app(make_client, signup_limit_per_address="1/hour")
    signup(client, "new0@example.com")

    signup(client, "new1@example.com")

    assert login_response(client, "new1@example.com", STRONG_PASSWORD).status_code == 401


def test_signups_failing_validation_are_not_counted(make_client: MakeClient) -> None:
    client = throttled_app(make_client, signup_limit_per_address="2/hour")
    for _ in range(5):
        assert signup(client, "not-an-email").status_code == 422

    assert signup(client, "new@example.com").status_code == 201


def test_signup_limit_is_per_address(make_client: MakeClient) -> None:
    client = throttled_app(make_client, signup_limit_per_address="1/hour")
    signup(client, "new0@example.com")
    signup(client, "new1@example.com")

    assert signup(from_address(client, "192.0.2.33"), "new2@example.com").status_code == 201


def _tokens(client: TestClient) -> dict[str, str]:
    assert signup(client, "ada@example.com").status_code == 201
    response = login_response(client, "ada@example.com", STRONG_PASSWORD)
    return response.json()


def test_refresh_past_the_per_address_limit_is_429(make_client: MakeClient) -> None:
    client = throttled_app(make_client, refresh_limit_per_address="2/minute")
    token = _tokens(client)["refresh_token"]
    for _ in range(2):
        response = client.post("/refresh", json={"refresh_token": token})
        assert response.status_code == 200
        token = response.json()["refresh_token"]

    assert_throttled(client.post("/refresh", json={"refresh_token": token}))


def test_refresh_grant_of_login_counts_toward_the_refresh_limit(make_client: MakeClient) -> None:
    client = throttled_app(make_client, refresh_limit_per_address="2/minute")
    token = _tokens(client)["refresh_token"]
    response = client.post("/refresh", json={"refresh_token": token})
    token = response.json()["refresh_token"]
    response = client.post("/login", data={"grant_type": "refresh_token", "refresh_token": token})
    assert response.status_code == 200

    throttled = client.post(
        "/login",
        data={"grant_type": "refresh_token", "refresh_token": response.json()["refresh_token"]},
    )

    assert_throttled(throttled)


def test_throttled_refresh_does_not_spend_the_token(make_client: MakeClient) -> None:
    client = throttled_app(make_client, refresh_limit_per_address="1/minute")
    tokens = _tokens(client)
    spent = client.post("/refresh", json={"refresh_token": tokens["refresh_token"]}).json()
    assert client.post("/refresh", json={"refresh_token": spent["refresh_token"]}).status_code == (
        429
    )

    response = from_address(client, "192.0.2.50").post(
        "/refresh", json={"refresh_token": spent["refresh_token"]}
    )

    assert response.status_code == 200


# Where the counters live, and switching throttling off


def test_counters_are_kept_in_the_database_by_default(
    make_client: MakeClient, db_engine: Engine
) -> None:
    client = throttled_app(make_client)
    fail(client)

    with db_engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(RateLimitCounter)) >= 3


def test_no_429_when_throttling_is_off(make_client: MakeClient, ada: str) -> None:
    client = make_client(rate_limit_enabled=False, login_limit_per_account_address="1/minute")

    statuses = {fail(client).status_code for _ in range(5)}

    assert statuses == {401}


@pytest.fixture
def redis_db() -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(REDIS_URL)
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


def test_limit_holds_with_counters_in_redis(make_client: MakeClient, redis_db: redis.Redis) -> None:
    client = throttled_app(
        make_client, redis_url=REDIS_URL, login_limit_per_account_address="2/minute"
    )
    fail(client)
    fail(client)

    assert_throttled(fail(client))


def test_counters_are_in_redis_not_the_database_when_redis_url_is_set(
    make_client: MakeClient, redis_db: redis.Redis, db_engine: Engine
) -> None:
    client = throttled_app(make_client, redis_url=REDIS_URL)
    fail(client)

    assert redis_db.keys("*")
    with db_engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(RateLimitCounter)) == 0


def test_owner_gets_in_from_a_known_address_with_counters_in_redis(
    make_client: MakeClient, redis_db: redis.Redis, ada: str
) -> None:
    client = throttled_app(make_client, redis_url=REDIS_URL, login_limit_per_account="2/hour")
    home = from_address(client, "192.0.2.10")
    assert login_response(home, ada, STRONG_PASSWORD).status_code == 200
    for index in range(3):
        fail(from_address(client, f"198.51.100.{index}"))

    assert_throttled(login_response(from_address(client, "203.0.113.9"), ada, OTHER_PASSWORD))
    assert login_response(home, ada, STRONG_PASSWORD).status_code == 200


# What an attacker elsewhere can do to the owner


def test_lockout_of_a_new_address_ends_with_the_per_account_window(
    make_client: MakeClient, ada: str
) -> None:
    client = throttled_app(make_client, login_limit_per_account="3/2seconds")
    for index in range(4):
        fail(from_address(client, f"198.51.100.{index}"))
    phone = from_address(client, "203.0.113.9")
    assert_throttled(login_response(phone, ada, STRONG_PASSWORD))

    time.sleep(2.1)

    assert login_response(phone, ada, STRONG_PASSWORD).status_code == 200


def test_failures_from_a_known_address_still_count_towards_the_account_bound(
    make_client: MakeClient, ada: str
) -> None:
    client = throttled_app(make_client, login_limit_per_account="3/hour")
    home = from_address(client, "192.0.2.10")
    assert login_response(home, ada, STRONG_PASSWORD).status_code == 200
    for _ in range(3):
        assert fail(home).status_code == 401

    assert_throttled(fail(from_address(client, "198.51.100.1")))


def test_an_address_is_known_for_the_days_since_its_last_successful_login(
    make_client: MakeClient, ada: str, db_engine: Engine
) -> None:
    client = throttled_app(make_client)
    home = from_address(client, "192.0.2.10")
    login_response(home, ada, STRONG_PASSWORD)
    first = known_address_expiry(db_engine)

    time.sleep(1.1)
    login_response(home, ada, STRONG_PASSWORD)

    assert known_address_expiry(db_engine) >= first + 1


def test_a_successful_login_gives_back_its_slot_of_the_address_limit(
    make_client: MakeClient, ada: str
) -> None:
    client = throttled_app(make_client, login_limit_per_address="2/hour")
    for _ in range(3):
        assert login_response(client, ada, STRONG_PASSWORD).status_code == 200

    assert [fail(client).status_code for _ in range(3)] == [401, 401, 429]


def test_a_successful_login_gives_back_its_slot_with_counters_in_redis(
    make_client: MakeClient, redis_db: redis.Redis, ada: str
) -> None:
    client = throttled_app(make_client, redis_url=REDIS_URL, login_limit_per_address="2/hour")
    for _ in range(3):
        assert login_response(client, ada, STRONG_PASSWORD).status_code == 200

    assert [fail(client).status_code for _ in range(3)] == [401, 401, 429]


# IPv6: a /64 is one client, a /48 one network


def test_addresses_in_one_ipv6_64_share_the_per_account_address_limit(
    make_client: MakeClient, ada: str
) -> None:
    client = throttled_app(make_client, login_limit_per_account_address="2/minute")
    fail(from_address(client, "2001:db8:1:1::1"))
    fail(from_address(client, "2001:db8:1:1::2"))

    assert_throttled(fail(from_address(client, "2001:db8:1:1:ffff::3")))


def test_the_64s_of_one_ipv6_48_are_bounded_together_by_the_network_factor(
    make_client: MakeClient,
) -> None:
    client = throttled_app(make_client, login_limit_per_address="2/hour", ipv6_network_factor=2)
    statuses = [
        fail(from_address(client, f"2001:db8:7:{index}::1"), f"user{index}@example.com").status_code
        for index in range(5)
    ]

    assert statuses == [401, 401, 401, 401, 429]
    assert fail(from_address(client, "2001:db8:8::1"), "other@example.com").status_code == 401


def known_address_expiry(engine: Engine) -> float:
    with engine.connect() as connection:
        return connection.scalar(
            select(RateLimitCounter.expires_at).where(RateLimitCounter.key.like("known-address/%"))
        )
