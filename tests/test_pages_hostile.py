"""Hostile input to the pages' routes and forms: never a 500, never JSON for a
person, and nothing changes. The pages are not in the OpenAPI document, so
Schemathesis (fuzz/run.sh) does not reach them: the property test at the end
is their fuzz gate, on random forms, queries and bytes.

One app serves the module, as in test_hostile_input.py.
"""

import os
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import quote_from_bytes

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service import account_tokens
from service.account_tokens import Purpose
from service.config import Settings
from service.main import create_app
from service.models import User
from tests.helpers import STRONG_PASSWORD, login_response, register
from tests.pages_html import (
    EMAIL_CHANGE_PAGE,
    NO_LONGER_WORKS,
    RESET_PAGE,
    VERIFY_PAGE,
    page_of,
)

PAGES = [RESET_PAGE, VERIFY_PAGE, EMAIL_CHANGE_PAGE]
FORM = {"content-type": "application/x-www-form-urlencoded"}
KB60 = 60 * 1024


@pytest.fixture(scope="module")
def pages_client(
    tmp_path_factory: pytest.TempPathFactory, database_url: str
) -> Iterator[TestClient]:
    settings = Settings(
        database_url=database_url,
        environment="test",
        secret_key=os.environ["SECRET_KEY"],
        secret_key_file=str(tmp_path_factory.mktemp("key") / ".secret_key"),
        bcrypt_rounds=4,
        signup_limit_per_address="1000/minute",
    )
    with TestClient(create_app(settings)) as client:
        yield client


def refused_as_a_page(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, response.text
    page_of(response)


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize(
    "query",
    [
        "token=" + "a" * 5000,
        "token=%00",
        "token=abc%00def",
        "token=%FF%FE",
        "token=%C0%AF",
        "token=a&token=b&token=c",
        "token[]=x",
        "token=%E2%80%AE",
        "token=" + "%F0%9F%98%80" * 50,
        "%FF=%FF",
    ],
)
def test_a_hostile_query_is_a_page_not_a_500(
    pages_client: TestClient, page: str, query: str
) -> None:
    response = pages_client.get(f"{page}?{query}")

    assert response.status_code == 400
    assert page_of(response).title() == NO_LONGER_WORKS


def _bodies() -> dict[str, bytes]:
    return {
        "empty": b"",
        "no token": b"new_password=x&confirm_password=x",
        "nul token": b"token=%00&new_password=a&confirm_password=a",
        "raw nul": b"token=\x00abc",
        "non-utf8 raw": b"token=\xff\xfe&new_password=\xc3\x28&confirm_password=\xc3\x28",
        "non-utf8 escaped": b"token=%ff&new_password=%c3%28",
        "repeated": b"token=a&token=b&new_password=x&new_password=y",
        "oversized token": b"token=" + b"a" * 10_000,
        "huge password": b"token=abc&new_password=" + b"x" * KB60 + b"&confirm_password=x",
        "many fields": b"&".join(b"f%d=x" % n for n in range(2000)),
        "no equals": b"token",
        "only separators": b"&&&&===&&",
        "json": b'{"token": "abc"}',
    }


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("body", list(_bodies()), ids=str)
def test_a_hostile_form_is_a_page_not_a_500(pages_client: TestClient, page: str, body: str) -> None:
    response = pages_client.post(page, content=_bodies()[body], headers=FORM)

    refused_as_a_page(response)


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "multipart/form-data; boundary=x",
        "text/plain",
        "",
        "application/x-www-form-urlencoded; charset=latin-1",
    ],
)
def test_a_form_of_another_type_is_a_page(
    pages_client: TestClient, page: str, content_type: str
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = pages_client.post(page, content=b"token=abc", headers=headers)

    refused_as_a_page(response)


@pytest.mark.parametrize("page", PAGES)
def test_a_streamed_body_over_the_limit_is_a_413_page(pages_client: TestClient, page: str) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"token=abc&new_password="
        for _ in range(80):
            yield b"x" * 1024

    response = pages_client.post(page, content=chunks(), headers=FORM)

    assert response.status_code == 413
    assert page_of(response).title() == "The form was too large"


def test_a_declared_body_over_the_limit_is_refused_before_routing(pages_client: TestClient) -> None:
    # BodySizeLimitMiddleware answers before any route (in the envelope): no
    # page's form comes near it, and nothing is read.
    response = pages_client.post(RESET_PAGE, content=b"x" * (KB60 + 8 * 1024), headers=FORM)

    assert response.status_code == 413


def test_hostile_passwords_with_a_live_token_change_nothing(pages_client: TestClient) -> None:
    account = register(pages_client, email="eve@example.com", password=STRONG_PASSWORD)
    token = _issued_reset_token(pages_client, account.id)
    for password in ["\x00" * 10, "abc\x01defghij", "x" * 5000, "\u202e" * 30, "a\r\nb" * 5]:
        response = pages_client.post(
            RESET_PAGE,
            data={"token": token, "new_password": password, "confirm_password": password},
        )
        assert response.status_code == 422, password
        page_of(response)
    assert login_response(pages_client, account.email, STRONG_PASSWORD).status_code == 200


def _issued_reset_token(client: TestClient, user_id: int) -> str:
    """A live reset token, issued the way Recovery does, without a mail server."""
    database = client.app.state.database  # type: ignore[attr-defined]
    with database.sessions() as db:
        user = db.get(User, user_id)
        token = account_tokens.issue(
            db, user=user, purpose=Purpose.PASSWORD_RESET, ttl=timedelta(minutes=5)
        )
        db.commit()
    return token


# The fuzz gate: random forms and queries, always a page.

_TEXT = st.text(max_size=200)
_BYTES = st.binary(max_size=300)


@pytest.mark.sqlite_only
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    page=st.sampled_from(PAGES),
    fields=st.dictionaries(
        st.sampled_from(["token", "new_password", "confirm_password", "username", "x"]), _TEXT
    ),
    raw=st.one_of(st.none(), _BYTES),
    query=_BYTES,
)
def test_fuzzed_requests_to_the_pages_are_always_a_page(
    pages_client: TestClient, page: str, fields: dict[str, str], raw: bytes | None, query: bytes
) -> None:
    opened = pages_client.get(f"{page}?token={quote_from_bytes(query)}")
    refused_as_a_page(opened)
    if raw is None:
        posted = pages_client.post(page, data=fields)
    else:
        posted = pages_client.post(page, content=raw, headers=FORM)
    refused_as_a_page(posted)
