"""GET /health and GET /health/db."""

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.helpers import assert_error

UNREACHABLE_DATABASE = "postgresql+psycopg2://postgres@127.0.0.1:1/nowhere"


def test_health_is_200_ok(client: TestClient) -> None:
    response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_health_db_is_200_reachable(client: TestClient) -> None:
    response = client.get("/health/db")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "db": "reachable"}


def test_health_db_is_503_when_the_database_does_not_answer(
    make_client: Callable[..., TestClient],
) -> None:
    down = make_client(database_url=UNREACHABLE_DATABASE)

    response = down.get("/health/db")

    assert_error(response, 503, "service_unavailable", None)


def test_health_is_200_when_the_database_does_not_answer(
    make_client: Callable[..., TestClient],
) -> None:
    down = make_client(database_url=UNREACHABLE_DATABASE)

    assert down.get("/health").status_code == 200


def test_routes_needing_the_database_are_503_when_it_does_not_answer(
    make_client: Callable[..., TestClient],
) -> None:
    down = make_client(database_url=UNREACHABLE_DATABASE)

    response = down.post("/login", data={"username": "ada@example.com", "password": "x" * 10})

    assert response.status_code == 503
    assert response.json()["errors"][0]["code"] == "service_unavailable"
    assert "psycopg2" not in response.text
