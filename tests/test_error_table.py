"""One table says how each problem is told: the answers and the OpenAPI examples agree."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.errors import PROBLEMS
from service.problems import Problem
from tests.helpers import Account

pytestmark = pytest.mark.sqlite_only


def documented_example(client: TestClient, method: str, path: str, status: int, code: str) -> Any:
    operation = client.get("/openapi.json").json()["paths"][path][method]
    examples = operation["responses"][str(status)]["content"]["application/json"]["examples"]
    return examples[code]["value"]


def test_every_problem_has_one_entry_in_the_table() -> None:
    assert set(PROBLEMS) == set(Problem)


def test_no_two_problems_share_a_status_and_message() -> None:
    told = [(spec.status, spec.message) for spec in PROBLEMS.values()]

    assert len(told) == len(set(told))


def test_wrong_password_answers_the_documented_example(client: TestClient, user: Account) -> None:
    response = client.post("/login", data={"username": user.email, "password": "Wrong-pass-1"})

    assert response.json() == documented_example(
        client, "post", "/login", 401, "invalid_credentials"
    )


def test_unsupported_grant_answers_the_documented_example(client: TestClient) -> None:
    response = client.post("/login", data={"grant_type": "client_credentials"})

    assert response.json() == documented_example(
        client, "post", "/login", 400, "unsupported_grant_type"
    )


def test_spent_link_answers_the_documented_example(client: TestClient) -> None:
    response = client.post("/verify", json={"token": "not-a-link"})

    assert response.json() == documented_example(client, "post", "/verify", 400, "invalid_token")


def test_refused_refresh_token_answers_the_documented_example(client: TestClient) -> None:
    response = client.post("/refresh", json={"refresh_token": "not-a-token"})

    assert response.json() == documented_example(client, "post", "/refresh", 401, "invalid_token")


def test_documented_size_limit_is_the_configured_one(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(max_body_bytes=2048)

    response = client.post("/users", content=b"x" * 4096, headers={"Content-Type": "text/plain"})

    assert response.json() == documented_example(client, "post", "/users", 413, "request_too_large")


def test_documented_password_length_is_the_configured_one(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(password_min_length=12)

    example = documented_example(client, "post", "/users", 422, "weak_password")

    assert example["errors"][0]["message"] == "Password must be at least 12 characters"
    response = client.post("/users", json={"email": "ada@example.com", "password": "Short-1x"})
    assert example["errors"][0]["message"] in [e["message"] for e in response.json()["errors"]]
