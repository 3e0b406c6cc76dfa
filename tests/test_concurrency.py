"""Simultaneous requests: the database, not luck, decides who wins."""

import asyncio
from collections.abc import Awaitable, Callable

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import (
    STRONG_PASSWORD,
    Account,
    assert_error,
    count_users,
    login_response,
    me,
    refresh,
)

Request = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


def at_once(app: FastAPI, requests: list[Request]) -> list[httpx.Response]:
    """Send `requests` to `app` concurrently, in one event loop."""

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await asyncio.gather(*(request(client) for request in requests))

    return asyncio.run(run())


def signup_request(email: str) -> Request:
    def send(client: httpx.AsyncClient) -> Awaitable[httpx.Response]:
        return client.post("/users", json={"email": email, "password": STRONG_PASSWORD})

    return send


def refresh_request(refresh_token: str) -> Request:
    def send(client: httpx.AsyncClient) -> Awaitable[httpx.Response]:
        return client.post("/refresh", json={"refresh_token": refresh_token})

    return send


def test_two_simultaneous_signups_with_one_email_give_one_account(
    app: FastAPI, client: TestClient, db_engine: Engine
) -> None:
    responses = at_once(app, [signup_request("ada@example.com"), signup_request("ADA@Example.com")])

    assert sorted(response.status_code for response in responses) == [201, 409]
    assert count_users(db_engine) == 1


def test_ten_simultaneous_signups_with_one_email_give_one_201_and_nine_409(
    app: FastAPI, client: TestClient, db_engine: Engine
) -> None:
    emails = [f"{'ADA' if n % 2 else 'ada'}@example.com" for n in range(10)]

    responses = at_once(app, [signup_request(email) for email in emails])

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * 9
    for response in responses:
        if response.status_code == 409:
            assert_error(response, 409, "email_taken", "email")
    assert count_users(db_engine) == 1


def test_the_winning_simultaneous_signup_can_log_in(app: FastAPI, client: TestClient) -> None:
    at_once(app, [signup_request("ada@example.com") for _ in range(5)])

    assert login_response(client, "ada@example.com", STRONG_PASSWORD).status_code == 200


def test_simultaneous_signups_with_different_emails_all_succeed(
    app: FastAPI, client: TestClient, db_engine: Engine
) -> None:
    responses = at_once(app, [signup_request(f"user{n}@example.com") for n in range(10)])

    assert [response.status_code for response in responses] == [201] * 10
    assert len({response.json()["id"] for response in responses}) == 10
    assert count_users(db_engine) == 10


def test_two_simultaneous_refreshes_with_one_token_let_exactly_one_win(
    app: FastAPI, client: TestClient, user: Account
) -> None:
    responses = at_once(app, [refresh_request(user.refresh_token)] * 2)

    assert sorted(response.status_code for response in responses) == [200, 401]


def test_two_simultaneous_refreshes_with_one_token_revoke_the_session(
    app: FastAPI, client: TestClient, user: Account
) -> None:
    responses = at_once(app, [refresh_request(user.refresh_token)] * 2)

    winners = [response.json() for response in responses if response.status_code == 200]
    assert len(winners) == 1
    assert refresh(client, winners[0]["refresh_token"]).status_code == 401
    assert me(client, winners[0]["access_token"]).status_code == 401


def test_simultaneous_logins_open_separate_sessions(
    app: FastAPI, client: TestClient, user: Account
) -> None:
    def login_request(http: httpx.AsyncClient) -> Awaitable[httpx.Response]:
        return http.post("/login", data={"username": user.email, "password": STRONG_PASSWORD})

    responses = at_once(app, [login_request] * 5)

    assert [response.status_code for response in responses] == [200] * 5
    refresh_tokens = {response.json()["refresh_token"] for response in responses}
    assert len(refresh_tokens) == 5
    assert all(refresh(client, token).status_code == 200 for token in refresh_tokens)
