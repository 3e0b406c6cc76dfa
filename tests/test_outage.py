"""A database (or Redis) that does not answer: prompt 503s, and recovery without a restart."""

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select

from service.database import migrate
from service.models import User
from tests.helpers import STRONG_PASSWORD, Account, assert_error, login, me, signup
from tests.servers import ServerProcess
from tests.tcp_proxy import TcpProxy

CLOSED_PORT_DATABASE = "postgresql+psycopg2://postgres@127.0.0.1:1/x"
CLOSED_PORT_REDIS = "redis://127.0.0.1:1/15"
# The machine's PostgreSQL (trust auth), where a throwaway database is made for recovery tests.
POSTGRES_HOST, POSTGRES_PORT = "127.0.0.1", 5432
# Generous, yet far below a hang: the service bounds its connection waits at 5 s.
BOUND_SECONDS = 10

Request = Callable[[TestClient], httpx.Response]


def timed(request: Request, client: TestClient) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = request(client)
    return response, time.monotonic() - started


def _health_db(client: TestClient) -> httpx.Response:
    return client.get("/health/db")


def _login(client: TestClient) -> httpx.Response:
    return client.post("/login", data={"username": "ada@example.com", "password": STRONG_PASSWORD})


def _signup(client: TestClient) -> httpx.Response:
    return signup(client, email="newcomer@example.com")


DATABASE_ROUTES = {"health_db": _health_db, "login": _login, "signup": _signup}


@pytest.fixture
def down(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(database_url=CLOSED_PORT_DATABASE)


@pytest.mark.parametrize("route", sorted(DATABASE_ROUTES))
def test_route_needing_the_database_is_503_when_it_is_unreachable(
    down: TestClient, route: str
) -> None:
    response, _ = timed(DATABASE_ROUTES[route], down)

    assert_error(response, 503, "service_unavailable", None)


@pytest.mark.parametrize("route", sorted(DATABASE_ROUTES))
def test_unreachable_database_is_answered_within_a_bounded_time(
    down: TestClient, route: str
) -> None:
    _, seconds = timed(DATABASE_ROUTES[route], down)

    assert seconds < BOUND_SECONDS


def test_signed_in_route_is_503_when_the_database_is_unreachable(
    client: TestClient, user: Account, down: TestClient
) -> None:
    # The token is well signed (same key); only the database can say whether it still holds.
    response, seconds = timed(lambda c: me(c, user.access_token), down)

    assert_error(response, 503, "service_unavailable", None)
    assert seconds < BOUND_SECONDS


def test_503_tells_the_client_when_to_retry(down: TestClient) -> None:
    response = down.get("/health/db")

    assert int(response.headers["retry-after"]) > 0


def test_503_reveals_nothing_about_the_database(down: TestClient) -> None:
    body = _login(down).text

    for internal in ("psycopg2", "OperationalError", "127.0.0.1", "Connection refused"):
        assert internal not in body


def test_health_is_200_while_the_database_is_unreachable(down: TestClient) -> None:
    down.get("/health/db")

    response = down.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_login_is_503_when_redis_is_unreachable(make_client: Callable[..., TestClient]) -> None:
    no_redis = make_client(redis_url=CLOSED_PORT_REDIS)

    response, seconds = timed(_login, no_redis)

    assert_error(response, 503, "service_unavailable", None)
    assert seconds < BOUND_SECONDS


def test_refresh_is_503_when_redis_is_unreachable(
    client: TestClient, user: Account, make_client: Callable[..., TestClient]
) -> None:
    no_redis = make_client(redis_url=CLOSED_PORT_REDIS)

    response = no_redis.post("/refresh", json={"refresh_token": user.refresh_token})

    assert_error(response, 503, "service_unavailable", None)


# Recovery: a throwaway database on the machine's PostgreSQL, reached through a
# proxy that can be switched off and on, whatever database the rest of the suite uses.


def _admin_connection() -> "psycopg2.extensions.connection":
    connection = psycopg2.connect(
        host=POSTGRES_HOST,
        port=POSTGRES_PORT,
        user="postgres",
        dbname="postgres",
        connect_timeout=5,
    )
    connection.autocommit = True
    return connection


@pytest.fixture(scope="module")
def throwaway_postgres() -> Iterator[str]:
    """The name of a migrated database of its own, dropped at the end."""
    name = f"outage_{uuid.uuid4().hex[:12]}"
    admin = _admin_connection()
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        migrate(f"postgresql+psycopg2://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}")
        yield name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    with TcpProxy(POSTGRES_HOST, POSTGRES_PORT) as running:
        yield running


@pytest.fixture
def proxied_url(throwaway_postgres: str, proxy: TcpProxy) -> Iterator[str]:
    yield f"postgresql+psycopg2://postgres@127.0.0.1:{proxy.port}/{throwaway_postgres}"
    # The module's database is shared by its tests: leave it empty for the next.
    direct = create_engine(
        f"postgresql+psycopg2://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/{throwaway_postgres}"
    )
    with direct.begin() as connection:
        connection.exec_driver_sql("TRUNCATE users, refresh_sessions, rate_limits CASCADE")
    direct.dispose()


@pytest.fixture
def proxied(proxied_url: str, make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(database_url=proxied_url)


def _count_users(database: str) -> int:
    engine = create_engine(
        f"postgresql+psycopg2://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/{database}"
    )
    try:
        with engine.connect() as connection:
            return connection.scalar(select(func.count()).select_from(User))
    finally:
        engine.dispose()


def test_proxied_database_serves_the_app(proxied: TestClient) -> None:
    assert proxied.get("/health/db").status_code == 200
    assert signup(proxied).status_code == 201


def test_database_cut_off_mid_life_gives_prompt_503s(proxied: TestClient, proxy: TcpProxy) -> None:
    assert signup(proxied).status_code == 201
    login(proxied, "ada@example.com", STRONG_PASSWORD)

    proxy.switch_off()
    answers = [timed(request, proxied) for request in (_health_db, _login, _signup)]

    for response, seconds in answers:
        assert_error(response, 503, "service_unavailable", None)
        assert seconds < BOUND_SECONDS


def test_signed_in_route_is_503_while_the_database_is_cut_off(
    proxied: TestClient, proxy: TcpProxy
) -> None:
    assert signup(proxied).status_code == 201
    tokens = login(proxied, "ada@example.com", STRONG_PASSWORD)

    proxy.switch_off()
    response, seconds = timed(lambda c: me(c, tokens["access_token"]), proxied)

    assert_error(response, 503, "service_unavailable", None)
    assert seconds < BOUND_SECONDS


def test_same_app_recovers_when_the_database_comes_back(
    proxied: TestClient, proxy: TcpProxy
) -> None:
    assert signup(proxied).status_code == 201
    proxy.switch_off()
    assert proxied.get("/health/db").status_code == 503

    proxy.switch_on()

    assert proxied.get("/health/db").status_code == 200
    assert _login(proxied).status_code == 200


def test_data_is_intact_after_the_database_comes_back(
    proxied: TestClient, proxy: TcpProxy, throwaway_postgres: str
) -> None:
    created = signup(proxied, full_name="Ada Lovelace").json()
    tokens = login(proxied, "ada@example.com", STRONG_PASSWORD)
    proxy.switch_off()
    assert _signup(proxied).status_code == 503

    proxy.switch_on()
    response = me(proxied, tokens["access_token"])

    assert response.status_code == 200
    assert response.json() == created
    assert _count_users(throwaway_postgres) == 1


def test_refresh_token_issued_before_the_outage_works_after_it(
    proxied: TestClient, proxy: TcpProxy
) -> None:
    assert signup(proxied).status_code == 201
    tokens = login(proxied, "ada@example.com", STRONG_PASSWORD)
    proxy.switch_off()
    assert proxied.post(
        "/refresh", json={"refresh_token": tokens["refresh_token"]}
    ).status_code == (503)

    proxy.switch_on()
    response = proxied.post("/refresh", json={"refresh_token": tokens["refresh_token"]})

    assert response.status_code == 200, response.text


# A database that goes away while a request is under way: between its first
# statement (the throttle's, on the autocommit engine) and its ORM session,
# whose connection is then switched to transactions; and under overlapping load.

ALLOWED_DURING_AN_OUTAGE = {200, 201, 409, 503}
FLAPS = 8
ROUNDS = 30
# Limits no burst of this test reaches, so every request goes on to the database.
ROOMY_LIMITS = {
    "signup_limit_per_address": "100000/hour",
    "login_limit_per_account_address": "100000/minute",
    "login_limit_per_account": "100000/minute",
    "login_limit_per_address": "100000/hour",
}


def _cut_after(proxy: TcpProxy, spend: Callable[..., object]) -> Callable[..., object]:
    """`spend`, after which the database is gone: the rest of the request finds it down."""

    def spend_then_cut(*args: object) -> object:
        result = spend(*args)
        proxy.switch_off()
        return result

    return spend_then_cut


def test_sign_up_is_503_when_the_database_goes_away_before_its_session(
    proxied: TestClient, proxy: TcpProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A connection used once by a session is the kind that is set up again on reuse.
    assert signup(proxied).status_code == 201
    throttle = proxied.app.state.throttle
    monkeypatch.setattr(throttle, "spend_signup", _cut_after(proxy, throttle.spend_signup))

    response = _signup(proxied)

    assert_error(response, 503, "service_unavailable", None)


def test_login_is_503_when_the_database_goes_away_before_its_session(
    proxied: TestClient, proxy: TcpProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert signup(proxied).status_code == 201
    throttle = proxied.app.state.throttle
    monkeypatch.setattr(throttle, "start_login", _cut_after(proxy, throttle.start_login))

    response = _login(proxied)

    assert_error(response, 503, "service_unavailable", None)


def test_database_going_away_before_a_session_is_logged_without_a_traceback(
    proxied: TestClient,
    proxy: TcpProxy,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert signup(proxied).status_code == 201
    throttle = proxied.app.state.throttle
    monkeypatch.setattr(throttle, "spend_signup", _cut_after(proxy, throttle.spend_signup))

    _signup(proxied)

    unavailable = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert len(unavailable) == 1
    assert not any(record.exc_info for record in caplog.records)


def test_overlapping_requests_while_the_database_flaps_are_never_500(
    proxied_url: str, proxy: TcpProxy, make_client: Callable[..., TestClient]
) -> None:
    proxied = make_client(database_url=proxied_url, **ROOMY_LIMITS)
    assert signup(proxied).status_code == 201
    tokens = login(proxied, "ada@example.com", STRONG_PASSWORD)
    requests: list[Request] = [
        lambda c: signup(c, email=f"u{uuid.uuid4().hex[:8]}@example.com"),
        _login,
        lambda c: me(c, tokens["access_token"]),
    ]

    def keep_asking(worker: int) -> list[httpx.Response]:
        answers = []
        for round_ in range(ROUNDS):
            answers.append(requests[(worker + round_) % len(requests)](proxied))
        return answers

    with ThreadPoolExecutor(max_workers=9) as workers:
        running = [workers.submit(keep_asking, worker) for worker in range(9)]
        # A database that crashes and restarts a few times under load, as in the incident.
        for _ in range(FLAPS):
            time.sleep(0.1)
            proxy.switch_off()
            time.sleep(0.05)
            proxy.switch_on()
        answers = [response for future in running for response in future.result()]

    assert {response.status_code for response in answers} <= ALLOWED_DURING_AN_OUTAGE
    for response in answers:
        if response.status_code == 503:
            assert_error(response, 503, "service_unavailable", None)


def test_server_under_load_while_the_database_flaps_never_answers_500(
    proxied_url: str, proxy: TcpProxy, tmp_path: Path
) -> None:
    env = {name.upper(): value for name, value in ROOMY_LIMITS.items()}
    server = ServerProcess(database_url=proxied_url, workdir=tmp_path, env=env)
    server.start()
    try:
        with server.client() as client:
            assert signup(client).status_code == 201
            tokens = login(client, "ada@example.com", STRONG_PASSWORD)
            requests: list[Request] = [
                lambda c: signup(c, email=f"u{uuid.uuid4().hex[:8]}@example.com"),
                _login,
                lambda c: me(c, tokens["access_token"]),
            ]

            def keep_asking(worker: int) -> list[httpx.Response]:
                return [
                    requests[(worker + round_) % len(requests)](client) for round_ in range(ROUNDS)
                ]

            with ThreadPoolExecutor(max_workers=9) as workers:
                running = [workers.submit(keep_asking, worker) for worker in range(9)]
                for _ in range(FLAPS):
                    time.sleep(0.1)
                    proxy.switch_off()
                    time.sleep(0.05)
                    proxy.switch_on()
                answers = [response for future in running for response in future.result()]
    finally:
        server.stop()

    assert {response.status_code for response in answers} <= ALLOWED_DURING_AN_OUTAGE
    assert "Traceback" not in server.log()
