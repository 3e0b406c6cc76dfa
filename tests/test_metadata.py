"""GET /.well-known/oauth-authorization-server (RFC 8414): what it says is this
deployment's, and every endpoint it names is one of ours that answers."""

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from service.scopes import DESCRIPTIONS

PATH = "/.well-known/oauth-authorization-server"
ISSUER = "https://auth.example.com"


@pytest.fixture
def metadata_client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(public_url=ISSUER + "/")


@pytest.fixture
def metadata(metadata_client: TestClient) -> dict[str, Any]:
    response = metadata_client.get(PATH)
    assert response.status_code == 200, response.text
    return response.json()


def path_of(url: str) -> str:
    """The path of `url`, which must hang from the issuer."""
    assert url.startswith(ISSUER + "/"), url
    return urlsplit(url).path


def test_the_issuer_is_the_public_url_without_its_trailing_slash(
    metadata: dict[str, Any],
) -> None:
    assert metadata["issuer"] == ISSUER


def test_it_names_the_token_revocation_keys_and_documentation_urls(
    metadata: dict[str, Any],
) -> None:
    assert metadata["token_endpoint"] == f"{ISSUER}/login"
    assert metadata["revocation_endpoint"] == f"{ISSUER}/revoke"
    assert metadata["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert metadata["service_documentation"] == f"{ISSUER}/docs"


def test_it_offers_the_password_and_refresh_grants_to_public_clients(
    metadata: dict[str, Any],
) -> None:
    assert metadata["grant_types_supported"] == ["password", "refresh_token"]
    assert metadata["token_endpoint_auth_methods_supported"] == ["none"]
    assert metadata["revocation_endpoint_auth_methods_supported"] == ["none"]


def test_it_has_no_authorization_endpoint_and_no_response_types(
    metadata: dict[str, Any],
) -> None:
    assert "authorization_endpoint" not in metadata
    assert metadata["response_types_supported"] == []


def test_it_lists_every_scope(metadata: dict[str, Any]) -> None:
    assert metadata["scopes_supported"] == sorted(DESCRIPTIONS)


def test_it_may_be_cached_for_an_hour(metadata_client: TestClient) -> None:
    response = metadata_client.get(PATH)

    assert response.headers["Cache-Control"] == "public, max-age=3600"
    assert response.headers["Content-Type"] == "application/json"


def test_the_token_endpoint_it_names_answers_as_a_token_endpoint(
    metadata_client: TestClient, metadata: dict[str, Any]
) -> None:
    response = metadata_client.post(path_of(metadata["token_endpoint"]), data={})

    assert response.json()["error"] == "invalid_request"


def test_the_revocation_endpoint_it_names_answers(
    metadata_client: TestClient, metadata: dict[str, Any]
) -> None:
    response = metadata_client.post(path_of(metadata["revocation_endpoint"]), data={"token": "x"})

    assert response.status_code == 200


def test_the_documentation_it_names_is_served(
    metadata_client: TestClient, metadata: dict[str, Any]
) -> None:
    response = metadata_client.get(path_of(metadata["service_documentation"]))

    assert response.status_code == 200


def test_the_keys_it_names_are_served(
    metadata_client: TestClient, metadata: dict[str, Any]
) -> None:
    response = metadata_client.get(path_of(metadata["jwks_uri"]))

    assert response.status_code == 200
    assert "keys" in response.json()


def test_its_urls_follow_the_public_url(make_client: Callable[..., TestClient]) -> None:
    client = make_client(public_url="https://id.example.org/auth")

    assert client.get(PATH).json()["token_endpoint"] == "https://id.example.org/auth/login"
