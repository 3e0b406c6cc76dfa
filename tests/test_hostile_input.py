"""Hostile and out-of-range input to every field, parameter and header the service
reads: always a 4xx in the error envelope, never a 500, and nothing stored changes.

One app serves the whole module (building one per case would dominate the run);
the database is still emptied before each case, and each case makes its own users.
"""

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select

from service import account_tokens
from service.account_tokens import Purpose
from service.config import Settings
from service.main import create_app
from service.models import AccountToken, Login, User
from service.security import PasswordHasher
from tests.helpers import (
    STRONG_PASSWORD,
    assert_envelope,
    claims_of,
    forged_token,
    header_of,
    sign,
    unsigned_token,
)

# Bodies, forms and headers are refused before any SQL: once, on SQLite.
# What reaches the database as a value (ids in paths, query values, tokens,
# stored text) runs on both: a NUL, say, is a string PostgreSQL will not take.
ONCE = pytest.mark.sqlite_only

VICTIM_EMAIL = "ada@example.com"
ADMIN_EMAIL = "root@example.com"
NEW_PASSWORD = "quartz-meadow-violin-77"
KB60 = 60 * 1024


@dataclass(frozen=True)
class Raw:
    """JSON text put into a body verbatim: what json.dumps would not write."""

    text: str


def encode_json(body: Any) -> bytes:
    """JSON as a hostile client writes it: lone surrogates as escapes, NaN, raw fragments."""
    raws: dict[str, str] = {}

    def mark(value: Any) -> Any:
        if isinstance(value, Raw):
            marker = f"@@raw{len(raws)}@@"
            raws[marker] = value.text
            return marker
        if isinstance(value, dict):
            return {key: mark(item) for key, item in value.items()}
        if isinstance(value, list):
            return [mark(item) for item in value]
        return value

    text = json.dumps(mark(body))  # ensure_ascii: "\ud800" stays an escape
    for marker, raw in raws.items():
        text = text.replace(json.dumps(marker), raw)
    return text.encode()


# Values no text field may take.
WRONG_TYPES: dict[str, Any] = {
    "int": 1,
    "float": 1.5,
    "bool": True,
    "list": ["x"],
    "object": {"x": "y"},
}
HOSTILE_TEXT: dict[str, Any] = {
    "nul": "ada\x00lovelace",
    "lone-nul": "\x00",
    "soh": "a\x01b-correct-horse",
    "escape-sequence": "\x1b[2Jcorrect-horse",
    "del": "correct\x7fhorse",
    "c1-nel": "correct\x85horse",
    "high-surrogate": "\ud800correct-horse",
    "low-surrogate": "correct-horse\udfff",
    "60kb": "a" * KB60,
    "int64-plus-one": 2**63,
    "int32-plus-one": 2**31,
    "huge-int": 10**30,
    "float-1e308": 1e308,
    "nan": Raw("NaN"),
    "infinity": Raw("Infinity"),
    "minus-infinity": Raw("-Infinity"),
    "float-overflow": Raw("1e999"),
    "nested-50": Raw("[" * 50 + "]" * 50),
    "nested-object": {"a": {"b": {"c": {"d": "e"}}}},
}
NOT_NULL = {"null": None}
EMPTY = {"empty": ""}
OVER_MAX: dict[str, dict[str, Any]] = {
    "email": {
        "email-255": "a" * 63 + "@" + ("b" * 62 + ".") * 3 + "example.com",
        "email-321": "a" * 64 + "@" + "b" * 256 + ".com",
        "email-no-at": "ada.example.com",
        "email-no-domain": "ada@",
        "email-no-local": "@example.com",
        "email-two-ats": "ada@@example.com",
        "email-space": "ada lovelace@example.com",
        "email-newline": "ada@example.com\nbcc@evil.com",
        "email-crlf": "ada@example.com\r\nX-Evil: 1",
        "email-rtl-override": "ada\u202e@example.com",
        "email-zwj": "ad\u200da@example.com",
    },
    "password": {"73-bytes": "x" * 73, "1025-chars": "y" * 1025, "numeric": "1234567890123"},
    "full_name": {"201-chars": "n" * 201},
    "refresh_token": {"4097-chars": "t" * 4097},
    "current_password": {"1025-chars": "c" * 1025},
    "token": {"129-chars": "t" * 129},
}


# For a field whose type another route already gets the whole list for.
CORE = {"list", "object", "int", "nul", "high-surrogate", "60kb", "int64-plus-one", "nan"}


def values_for(
    name: str, *, nullable: bool, may_be_empty: bool, full: bool = True
) -> dict[str, Any]:
    values = {**WRONG_TYPES, **HOSTILE_TEXT}
    if not full:
        values = {label: value for label, value in values.items() if label in CORE}
    values.update(OVER_MAX.get(name, {}))
    if name in ("password", "new_password"):
        values.update(OVER_MAX["password"])
    if not nullable:
        values.update(NOT_NULL)
    if not may_be_empty:
        values.update(EMPTY)
    return values


def bool_values() -> dict[str, Any]:
    return {
        "string-yes": "yes",
        "int-2": 2,
        "float": 1.5,
        "list": [True],
        "object": {"v": True},
        "null": None,
        "empty": "",
        "int64-plus-one": 2**63,
        "nan": Raw("NaN"),
        "60kb": "t" * KB60,
        "nul": "true\x00",
    }


# The signed-in actor of a case, and the id it acts on.
VICTIM, ADMIN = "victim", "admin"


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str
    actor: str | None = None
    body: Any = None
    content: bytes | None = None
    headers: dict[str, Any] = field(default_factory=dict)


# Valid bodies, each field of which is replaced in turn by every hostile value.
# `{password}` and `{refresh}` are filled with the victim's at run time.
JSON_ROUTES: list[tuple[str, str, str, str | None, dict[str, Any], dict[str, dict[str, Any]]]] = [
    (
        "signup",
        "POST",
        "/users",
        None,
        {"email": "new@example.com", "password": NEW_PASSWORD, "full_name": "New"},
        {
            "email": values_for("email", nullable=False, may_be_empty=False),
            "password": values_for("password", nullable=False, may_be_empty=False),
            "full_name": values_for("full_name", nullable=True, may_be_empty=True),
        },
    ),
    (
        "patch-me",
        "PATCH",
        "/users/me",
        VICTIM,
        {"full_name": "Ada", "email": "ada2@example.com", "current_password": "{password}"},
        {
            "full_name": values_for("full_name", nullable=True, may_be_empty=True, full=False),
            "email": values_for("email", nullable=False, may_be_empty=False, full=False),
        },
    ),
    (
        "change-password",
        "POST",
        "/users/me/password",
        VICTIM,
        {"current_password": "{password}", "new_password": NEW_PASSWORD},
        {
            "current_password": values_for("current_password", nullable=False, may_be_empty=False),
            "new_password": values_for("new_password", nullable=False, may_be_empty=False),
        },
    ),
    (
        "update-self",
        "PATCH",
        "/users/{victim}",
        VICTIM,
        {"password": NEW_PASSWORD, "current_password": "{password}"},
        {
            "password": values_for("password", nullable=False, may_be_empty=False, full=False),
            "is_active": {**bool_values(), "true": True, "false": False},
            "is_superuser": {**bool_values(), "true": True, "string-true": "true", "one": 1},
        },
    ),
    (
        "admin-update",
        "PUT",
        "/users/{victim}",
        ADMIN,
        {"email": "ada2@example.com", "full_name": "Ada", "is_active": True},
        {
            "email": values_for("email", nullable=False, may_be_empty=False, full=False),
            "is_active": {
                **bool_values(),
                "int-0": 0,
                "string-false": "false",
                "string-off": "off",
            },
            "is_superuser": {**bool_values(), "int-1": 1, "string-true": "true", "string-on": "on"},
        },
    ),
    (
        "refresh",
        "POST",
        "/refresh",
        None,
        {"refresh_token": "{refresh}"},
        {"refresh_token": values_for("refresh_token", nullable=False, may_be_empty=False)},
    ),
    (
        "forgot",
        "POST",
        "/password/forgot",
        None,
        {"email": VICTIM_EMAIL},
        {"email": values_for("email", nullable=False, may_be_empty=False, full=False)},
    ),
    (
        "reset",
        "POST",
        "/password/reset",
        None,
        {"token": "{reset}", "new_password": NEW_PASSWORD},
        {
            "token": values_for("token", nullable=False, may_be_empty=False),
            "new_password": values_for(
                "new_password", nullable=False, may_be_empty=False, full=False
            ),
        },
    ),
    (
        "verify",
        "POST",
        "/verify",
        None,
        {"token": "{verify}"},
        {"token": values_for("token", nullable=False, may_be_empty=False, full=False)},
    ),
    (
        "confirm-email",
        "POST",
        "/email/confirm",
        None,
        {"token": "{email_change}"},
        {"token": values_for("token", nullable=False, may_be_empty=False, full=False)},
    ),
    (
        "logout",
        "POST",
        "/logout",
        None,
        {"refresh_token": "{refresh}"},
        {
            "refresh_token": values_for(
                "refresh_token", nullable=False, may_be_empty=False, full=False
            )
        },
    ),
]

JSON_CASES = [
    Case(
        id=f"{route}-{name}-{label}",
        method=method,
        path=path,
        actor=actor,
        body={**base, name: value},
    )
    for route, method, path, actor, base, fields in JSON_ROUTES
    for name, values in fields.items()
    for label, value in values.items()
]

# Whole bodies that are not the JSON object a route wants.
MALFORMED_BODIES: dict[str, bytes] = {
    "truncated": b'{"email": "new@example.com", "password": ',
    "missing-value": b'{"email": }',
    "single-quotes": b"{'email': 'new@example.com'}",
    "trailing-garbage": b'{"email": "new@example.com"} trailing',
    "trailing-comma": b'{"email": "new@example.com",}',
    "comment": b'{"email": "new@example.com" /* hi */}',
    "top-level-null": b"null",
    "top-level-list": b'[{"email": "new@example.com"}]',
    "top-level-string": b'"new@example.com"',
    "top-level-number": b"42",
    "top-level-nan": b"NaN",
    "empty": b"",
    "whitespace": b"   \n",
    "invalid-utf8": b'{"email": "\xff\xfe@example.com", "password": "x"}',
    "nul-byte": b'{"email": "new@example.com"\x00}',
    "deeply-nested-list": b"[" * 30_000 + b"]" * 30_000,
    "deeply-nested-object": b'{"a":' * 12_000 + b"1" + b"}" * 12_000,
    "huge-int-literal": b'{"email": ' + b"9" * 5000 + b"}",
    "huge-exponent": b'{"email": 1e99999999}',
    "duplicate-unknown-keys": b'{"x": 1, "x": 2}',
}
JSON_BODY_ROUTES = [
    ("signup", "POST", "/users", None),
    ("refresh", "POST", "/refresh", None),
    ("change-password", "POST", "/users/me/password", VICTIM),
    ("reset", "POST", "/password/reset", None),
]
WRONG_CONTENT_TYPES = {
    "text-plain": "text/plain",
    "form": "application/x-www-form-urlencoded",
    "multipart-no-boundary": "multipart/form-data",
    "xml": "application/xml",
    "garbage": "\x7fnot/a; type",
    "octet-stream": "application/octet-stream",
}
BODY_CASES = [
    Case(
        id=f"{route}-{label}",
        method=method,
        path=path,
        actor=actor,
        content=body,
        headers={"Content-Type": "application/json"},
    )
    for route, method, path, actor in JSON_BODY_ROUTES
    for label, body in MALFORMED_BODIES.items()
] + [
    Case(
        id=f"{route}-content-type-{label}",
        method=method,
        path=path,
        actor=actor,
        content=b'{"refresh_token": "{refresh}", "email": "new@example.com", "password": "%s"}'
        % NEW_PASSWORD.encode(),
        headers={"Content-Type": content_type},
    )
    for route, method, path, actor in JSON_BODY_ROUTES
    for label, content_type in WRONG_CONTENT_TYPES.items()
]


def form(**fields: str) -> bytes:
    return urlencode(fields).encode()


LOGIN_FORM_VALUES: dict[str, Any] = {
    "empty": "",
    "nul": "ada\x00@example.com",
    "soh": "\x01",
    "escape": "\x1b[2J",
    "del": "\x7f",
    "crlf": "ada@example.com\r\nX-Evil: 1",
    "60kb": "a" * KB60,
    "json-null": "null",
    "json-list": '["ada@example.com"]',
    "rtl-override": "\u202eada@example.com",
    "zwj": "ada\u200d@example.com",
    "combining": "ade\u0301@example.com",
    "emoji": "\U0001f600@example.com",
    "full-width-digits": "\uff11\uff12\uff13",
}
LOGIN_FIELDS: dict[str, dict[str, Any]] = {
    "username": {**LOGIN_FORM_VALUES, "321-chars": "u" * 321},
    "password": {**LOGIN_FORM_VALUES, "1025-chars": "p" * 1025, "73-bytes": "p" * 73},
    "grant_type": {
        **{label: value for label, value in LOGIN_FORM_VALUES.items() if label != "empty"},
        "65-chars": "g" * 65,
        "whitespace": "   ",
        "upper-case": "PASSWORD",
        "client-credentials": "client_credentials",
        "authorization-code": "authorization_code",
        "cyrillic-a": "p\u0430ssword",
        "trailing-nul": "password\x00",
    },
    "scope": {"1025-chars": "s" * 1025, "60kb": "s" * KB60, "nul": "openid\x00", "esc": "\x1b"},
}
LOGIN_CASES = [
    Case(
        id=f"login-{name}-{label}",
        method="POST",
        path="/login",
        body={"username": VICTIM_EMAIL, "password": "{password}", name: value},
    )
    for name, values in LOGIN_FIELDS.items()
    for label, value in values.items()
] + [
    Case(
        id=f"login-refresh-grant-refresh_token-{label}",
        method="POST",
        path="/login",
        body={"grant_type": "refresh_token", "refresh_token": value},
    )
    for label, value in {
        **LOGIN_FORM_VALUES,
        "4097-chars": "t" * 4097,
        "access-token-shape": "e30.e30.e30",
    }.items()
]
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
RAW_LOGIN_CASES = [
    Case(id=f"login-raw-{label}", method="POST", path="/login", content=body, headers=headers)
    for label, body, headers in [
        ("invalid-utf8-username", b"username=\xff\xfe%40example.com&password={password}", FORM),
        ("invalid-utf8-password", b"username=ada%40example.com&password=\xff\xfe\xfd", FORM),
        ("percent-invalid-utf8", b"username=%ff%fe%40example.com&password={password}", FORM),
        ("percent-nul", b"username=ada%00%40example.com&password={password}", FORM),
        (
            "duplicate-username-victim-last",
            b"username=evil%40example.com&username=ada%40example.com&password={password}",
            FORM,
        ),
        (
            "duplicate-username-victim-first",
            b"username=ada%40example.com&username=evil%40example.com&password={password}",
            FORM,
        ),
        (
            "duplicate-password-right-last",
            b"username=ada%40example.com&password=wrong-guess-1&password={password}",
            FORM,
        ),
        (
            "duplicate-password-right-first",
            b"username=ada%40example.com&password={password}&password=wrong-guess-1",
            FORM,
        ),
        (
            "duplicate-grant-type",
            b"grant_type=refresh_token&grant_type=password&username=ada%40example.com"
            b"&password={password}",
            FORM,
        ),
        ("only-separators", b"&&&&==&=", FORM),
        ("empty", b"", FORM),
        ("json-body", b'{"username": "ada@example.com", "password": "{password}"}', {}),
        (
            "json-content-type",
            b'{"username": "ada@example.com", "password": "{password}"}',
            {"Content-Type": "application/json"},
        ),
        (
            "text-plain",
            b"username=ada%40example.com&password={password}",
            {"Content-Type": "text/plain"},
        ),
        (
            "multipart-no-boundary",
            b"username=ada%40example.com&password={password}",
            {"Content-Type": "multipart/form-data"},
        ),
        (
            "multipart-garbage",
            b"--x\r\nContent-Disposition: form-data\r\n\r\n\xff\r\n--x",
            {"Content-Type": "multipart/form-data; boundary=x"},
        ),
        ("60kb-unknown-field", b"junk=" + b"j" * KB60, FORM),
    ]
]
# /revoke answers 200 to any token that is not a live one of ours (RFC 7009
# 2.2), garbage included: only what it must refuse is here; the rest is
# test_hostile_revocation_token_is_200_and_changes_nothing below.
RAW_REVOKE_CASES = [
    Case(id=f"revoke-raw-{label}", method="POST", path="/revoke", content=body, headers=headers)
    for label, body, headers in [
        ("duplicate-token-victim-first", b"token={refresh}&token=garbage", FORM),
        ("duplicate-token-victim-last", b"token=garbage&token={refresh}", FORM),
        ("duplicate-access-token", b"token={access}&token={access}", FORM),
        (
            "duplicate-hint",
            b"token={refresh}&token_type_hint=refresh_token&token_type_hint=access_token",
            FORM,
        ),
        ("no-token", b"token_type_hint=refresh_token&client_id=app", FORM),
        ("empty-token", b"token=", FORM),
        ("only-separators", b"&&&&==&=", FORM),
        ("empty", b"", FORM),
        ("json-body", b'{"token": "{refresh}"}', {"Content-Type": "application/json"}),
        ("text-plain", b"token={refresh}", {"Content-Type": "text/plain"}),
        ("multipart-no-boundary", b"token={refresh}", {"Content-Type": "multipart/form-data"}),
        (
            "multipart-garbage",
            b"--x\r\nContent-Disposition: form-data\r\n\r\n\xff\r\n--x",
            {"Content-Type": "multipart/form-data; boundary=x"},
        ),
        ("over-the-body-limit", b"token=" + b"t" * (65 * 1024), FORM),
        ("60kb-unknown-field", b"junk=" + b"j" * KB60, FORM),
    ]
]

HUGE_IDS = {
    "int32-plus-one": str(2**31),
    "int64-plus-one": str(2**63),
    "huge": "9" * 40,
    "zero": "0",
    "negative": "-1",
    "int32-negative": str(-(2**31) - 1),
}
MALFORMED_IDS = {
    "letters": "abc",
    "float": "1.5",
    "exponent": "1e3",
    "hex": "0x1",
    "nan": "NaN",
    "infinity": "Infinity",
    "full-width-one": "\uff11",
    "percent-nul": "1%00",
    "60kb": "9" * KB60,
    "emoji": "%F0%9F%98%80",
}
PATH_CASES = [
    Case(
        id=f"user-id-{method.lower()}-{actor}-{label}",
        method=method,
        path=f"/users/{value}",
        actor=actor,
        body={"full_name": "Changed"} if method in ("PUT", "PATCH") else None,
    )
    for method in ("GET", "PATCH", "DELETE")
    for actor, ids in ((VICTIM, {**HUGE_IDS, **MALFORMED_IDS}), (ADMIN, HUGE_IDS | MALFORMED_IDS))
    for label, value in ids.items()
]

SESSION_PATH_CASES = [
    Case(
        id=f"sessions-user-id-{method.lower()}-{actor}-{label}",
        method=method,
        path=f"/users/{value}/sessions",
        actor=actor,
    )
    for method in ("GET", "DELETE")
    for actor in (VICTIM, ADMIN)
    for label, value in (HUGE_IDS | MALFORMED_IDS).items()
] + [
    Case(
        id=f"session-id-delete-{actor}-{label}",
        method="DELETE",
        path=f"/users/me/sessions/{value}",
        actor=actor,
    )
    for actor in (VICTIM, ADMIN)
    for label, value in (HUGE_IDS | MALFORMED_IDS | {"hex-32-unknown": "0" * 32}).items()
]

QUERY_VALUES = {
    "negative": "-1",
    "letters": "abc",
    "float": "1.5",
    "exponent": "1e2",
    "empty": "",
    "int64-plus-one": str(2**63),
    "huge": "9" * 40,
    "nan": "NaN",
    "infinity": "Infinity",
    "full-width": "\uff11\uff10",
    "nul": "1%00",
    "60kb": "9" * KB60,
}
QUERY_CASES = [
    Case(id=f"query-{name}-{label}", method="GET", path=f"/users?{name}={value}", actor=ADMIN)
    for name, values in (
        ("skip", QUERY_VALUES),
        ("limit", {**QUERY_VALUES, "zero": "0", "101": "101", "int32-plus-one": str(2**31)}),
    )
    for label, value in values.items()
]
QUERY_CASES += [
    Case(
        id=f"events-query-{name}-{label}",
        method="GET",
        path=f"/users/me/events?{name}={value}",
        actor=VICTIM,
    )
    for name, values in (
        ("before", {**QUERY_VALUES, "zero": "0"}),
        ("limit", {**QUERY_VALUES, "zero": "0", "101": "101"}),
    )
    for label, value in values.items()
]

AUTHORIZATION_VALUES: dict[str, Any] = {
    "empty": "",
    "scheme-only": "Bearer",
    "scheme-and-space": "Bearer ",
    "basic": "Basic YWRhQGV4YW1wbGUuY29tOnBhc3N3b3Jk",
    "token-scheme": "Token {access}",
    "two-tokens": "Bearer {access} {access}",
    "refresh-as-access": "Bearer {refresh}",
    "60kb": "Bearer " + "a" * KB60,
    "non-ascii-bytes": b"Bearer \xff\xfe\xfd",
    "two-parts": "Bearer e30.e30",
    "four-parts": "Bearer e30.e30.e30.e30",
    "five-parts-jwe": "Bearer e30.e30.e30.e30.e30",
    "bad-base64": "Bearer !!!.???.***",
    "signature-swapped-from-refresh": "Bearer {access_head}.{refresh_sig}",
}
AUTH_CASES = [
    Case(
        id=f"authorization-{label}",
        method="GET",
        path="/users/me",
        headers={"Authorization": value},
    )
    for label, value in AUTHORIZATION_VALUES.items()
] + [
    Case(
        id=f"content-length-{label}",
        method="POST",
        path="/users",
        content=b'{"email": "new@example.com"}',
        headers={"Content-Type": "application/json", "Content-Length": value},
    )
    for label, value in {
        "declared-huge": "99999999999999999999",
        "declared-over-limit": "70000",
    }.items()
]


def fill_bytes(value: str | bytes) -> bytes:
    """A header value as bytes, with its `{markers}` still to be filled at run time."""
    return value if isinstance(value, bytes) else value.encode()


# Cookie logins: hostile cookies, origins and CSRF headers (the hostile
# client's own origin is http://testserver, so its cookies carry the prefixes).
OWN_ORIGIN = "http://testserver"
COOKIE_VALUES: dict[str, Any] = {
    "empty": "",
    "garbage": "not-a-token",
    "60kb": "a" * KB60,
    "non-ascii-bytes": b"\xff\xfe\xfd",
    "two-parts": "e30.e30",
    "bad-base64": "!!!.???.***",
}
ORIGIN_VALUES: dict[str, Any] = {
    "null": "null",
    "look-alike": "http://testserver.evil.example",
    "userinfo": "http://testserver@evil.example",
    "60kb": "http://" + "a" * KB60,
    "non-ascii-bytes": b"http://\xff\xfe",
    "no-scheme": "testserver",
}
REFERER_VALUES: dict[str, Any] = {
    "javascript": "javascript:alert(1)",
    "unclosed-ipv6": "http://[::1",
    "not-a-url": "not a url",
    "data": "data:text/html,hi",
}
COOKIE_LOGIN_FORM = b"username=ada%40example.com&password={password}"
COOKIE_CASES = (
    [
        Case(
            id=f"access-cookie-{label}",
            method="GET",
            path="/users/me",
            headers={"Cookie": b"__Host-access_token=" + fill_bytes(value)},
        )
        for label, value in {**COOKIE_VALUES, "refresh-as-access": "{refresh}"}.items()
    ]
    + [
        Case(
            id=f"refresh-cookie-{label}",
            method="POST",
            path="/cookie/refresh",
            headers={
                "Origin": OWN_ORIGIN,
                "Cookie": b"__Secure-refresh_token=" + fill_bytes(value),
            },
        )
        for label, value in {**COOKIE_VALUES, "access-as-refresh": "{access}"}.items()
        if label != "empty"
    ]
    + [
        Case(
            id=f"cookie-login-origin-{label}",
            method="POST",
            path="/cookie/login",
            content=COOKIE_LOGIN_FORM,
            headers={**FORM, "Origin": value},
        )
        for label, value in ORIGIN_VALUES.items()
    ]
    + [
        Case(
            id=f"cookie-login-referer-{label}",
            method="POST",
            path="/cookie/login",
            content=COOKIE_LOGIN_FORM,
            headers={**FORM, "Referer": value},
        )
        for label, value in REFERER_VALUES.items()
    ]
    + [
        Case(
            id=f"cookie-login-raw-{label}",
            method="POST",
            path="/cookie/login",
            content=body,
            headers={**FORM, "Origin": OWN_ORIGIN},
        )
        for label, body in {
            "nul-username": b"username=ada%00%40example.com&password={password}",
            "invalid-utf8-password": b"username=ada%40example.com&password=\xff\xfe",
            "password-over-72-bytes": b"username=ada%40example.com&password=" + b"p" * 73,
            "no-password": b"username=ada%40example.com",
            "json-body": b'{"username": "ada@example.com"}',
        }.items()
    ]
    + [
        Case(
            id=f"csrf-header-{label}",
            method="PATCH",
            path="/users/me",
            content=b'{"full_name": "Mallory"}',
            headers={
                "Content-Type": "application/json",
                "Origin": OWN_ORIGIN,
                "Cookie": b"__Host-access_token={access}; __Host-csrf_token=x",
                "X-CSRF-Token": value,
            },
        )
        for label, value in {
            "empty": "",
            "60kb": "x" * KB60,
            "non-ascii-bytes": b"\xff\xfe",
            "the-cookie-but-not-the-logins": "x",
        }.items()
    ]
)

ALL_CASES = JSON_CASES + BODY_CASES + LOGIN_CASES + RAW_LOGIN_CASES + PATH_CASES + QUERY_CASES
ALL_CASES += SESSION_PATH_CASES
ALL_CASES += AUTH_CASES
ALL_CASES += COOKIE_CASES
ALL_CASES += RAW_REVOKE_CASES


# The module's app, and the users each case starts with.


@pytest.fixture(scope="module")
def hostile_client(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    settings = Settings(
        database_url=database_url,
        environment="test",
        secret_key=os.environ["SECRET_KEY"],
        secret_key_file=str(tmp_path_factory.mktemp("hostile") / ".secret_key"),
        bcrypt_rounds=4,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def stored_hash() -> str:
    return PasswordHasher(rounds=4, threads=1).hash_now(STRONG_PASSWORD)


@dataclass(frozen=True)
class World:
    ids: dict[str, int]
    tokens: dict[str, dict[str, str]]
    # The victim's live reset and verification tokens, as its mail would carry them.
    mailed: dict[Purpose, str]


def add_user(engine: Engine, email: str, hashed: str, *, superuser: bool = False) -> int:
    with engine.begin() as connection:
        return connection.execute(
            insert(User).values(email=email, hashed_password=hashed, is_superuser=superuser)
        ).inserted_primary_key[0]


def log_in(client: TestClient, email: str) -> dict[str, str]:
    response = client.post("/login", data={"username": email, "password": STRONG_PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def world(hostile_client: TestClient, db_engine: Engine, stored_hash: str) -> World:
    """The victim, signed in, and a superuser (signed in when a case acts as it)."""
    ids = {
        VICTIM: add_user(db_engine, VICTIM_EMAIL, stored_hash),
        ADMIN: add_user(db_engine, ADMIN_EMAIL, stored_hash, superuser=True),
    }
    with hostile_client.app.state.database.sessions() as db:  # type: ignore[attr-defined]
        victim = db.get(User, ids[VICTIM])
        mailed = {
            purpose: account_tokens.issue(db, user=victim, purpose=purpose, ttl=timedelta(hours=1))
            for purpose in Purpose
        }
        db.commit()
    return World(ids=ids, tokens={VICTIM: log_in(hostile_client, VICTIM_EMAIL)}, mailed=mailed)


def signed_in_admin(client: TestClient, world: World) -> None:
    world.tokens[ADMIN] = log_in(client, ADMIN_EMAIL)


def snapshot(engine: Engine) -> tuple[list[Any], list[Any], list[Any]]:
    with engine.connect() as connection:
        users = connection.execute(select(User.__table__).order_by(User.id)).all()
        sessions = connection.execute(select(Login.__table__).order_by(Login.id)).all()
        mailed = connection.execute(
            select(AccountToken.__table__).order_by(AccountToken.digest)
        ).all()
    return list(users), list(sessions), list(mailed)


def fill(value: Any, world: World) -> Any:
    """Put the victim's real password and tokens where a case names them."""
    victim = world.tokens[VICTIM]
    replacements = {
        "{password}": STRONG_PASSWORD,
        "{refresh}": victim["refresh_token"],
        "{access}": victim["access_token"],
        "{access_head}": victim["access_token"].rsplit(".", 1)[0],
        "{refresh_sig}": victim["refresh_token"].rsplit(".", 1)[1],
        "{victim}": str(world.ids[VICTIM]),
        "{reset}": world.mailed[Purpose.PASSWORD_RESET],
        "{verify}": world.mailed[Purpose.VERIFY_EMAIL],
        "{email_change}": world.mailed[Purpose.EMAIL_CHANGE],
    }
    if isinstance(value, str):
        for marker, replacement in replacements.items():
            value = value.replace(marker, replacement)
        return value
    if isinstance(value, bytes):
        for marker, replacement in replacements.items():
            value = value.replace(marker.encode(), replacement.encode())
        return value
    if isinstance(value, dict):
        return {key: fill(item, world) for key, item in value.items()}
    return value


def send(client: TestClient, case: Case, world: World) -> httpx.Response:
    headers = fill(dict(case.headers), world)
    if case.actor is not None:
        headers["Authorization"] = f"Bearer {world.tokens[case.actor]['access_token']}"
    path = fill(case.path, world)
    if case.content is not None:
        content = fill(case.content, world)
    elif case.body is None:
        content = None
    elif case.path == "/login":
        content = form(**fill(case.body, world))
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    else:
        content = encode_json(fill(case.body, world))
        headers["Content-Type"] = "application/json"
    return client.request(case.method, path, content=content, headers=headers)


REACHES_THE_DATABASE = {id(case) for case in PATH_CASES + SESSION_PATH_CASES + QUERY_CASES}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(case, id=case.id, marks=() if id(case) in REACHES_THE_DATABASE else ONCE)
        for case in ALL_CASES
    ],
)
def test_hostile_input_is_a_4xx_envelope_and_changes_nothing(
    hostile_client: TestClient, world: World, db_engine: Engine, case: Case
) -> None:
    if case.actor == ADMIN:
        signed_in_admin(hostile_client, world)
    before = snapshot(db_engine)

    response = send(hostile_client, case, world)

    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert_error_envelope(response)
    assert snapshot(db_engine) == before
    log_in(hostile_client, VICTIM_EMAIL)


RFC6749_ERRORS = {400: {"invalid_request", "unsupported_grant_type"}, 401: {"invalid_grant"}}


def assert_error_envelope(response: httpx.Response) -> None:
    """The envelope; on the token endpoints with the RFC 6749 code that fits the status."""
    oauth_error = None
    if response.request.url.path in ("/login", "/refresh", "/revoke"):
        oauth_error = response.json().get("error")
        expected = RFC6749_ERRORS.get(response.status_code, {"invalid_request"})
        if response.status_code in (413, 429):
            expected = {None}
        assert oauth_error in expected, response.text[:300]
    assert_envelope(response, oauth_error=oauth_error)


# X-Request-ID and X-Forwarded-For are read, not required: a hostile one must not
# break the request it rides on, nor come back in the answer.

REQUEST_IDS: dict[str, Any] = {
    "60kb": "r" * KB60,
    "129-chars": "r" * 129,
    "crlf": "abc\r\nSet-Cookie: x=1",
    "nul": "abc\x00def",
    "non-ascii-bytes": b"\xff\xfe",
    "spaces": "a b c",
    "html": "<script>alert(1)</script>",
    "empty": "",
}


@ONCE
@pytest.mark.parametrize("value", REQUEST_IDS.values(), ids=REQUEST_IDS.keys())
def test_hostile_request_id_is_replaced_and_the_request_served(
    hostile_client: TestClient, world: World, value: Any
) -> None:
    response = hostile_client.get(
        "/users/me",
        headers={
            "Authorization": f"Bearer {world.tokens[VICTIM]['access_token']}",
            "X-Request-ID": value,
        },
    )

    assert response.status_code == 200
    echoed = response.headers["x-request-id"]
    assert echoed != (value.decode("latin-1") if isinstance(value, bytes) else value)
    assert echoed.isalnum()


FORWARDED_FOR: dict[str, Any] = {
    "not-an-ip": "not-an-ip",
    "empty": "",
    "commas": ",,,",
    "999-octets": "999.999.999.999",
    "ipv6-zone": "fe80::1%eth0",
    "bracketed-with-port": "[::1]:80",
    "60kb": "1" * KB60,
    "many-hops": ", ".join(f"10.0.{i // 250}.{i % 250}" for i in range(2000)),
    "non-ascii-bytes": b"\xff\xfe",
    "crlf": "1.2.3.4\r\nX-Evil: 1",
    "nul": "1.2.3.4\x00",
}


@ONCE
@pytest.mark.parametrize("value", FORWARDED_FOR.values(), ids=FORWARDED_FOR.keys())
def test_hostile_forwarded_for_from_a_trusted_proxy_is_a_plain_401(
    hostile_client: TestClient, world: World, db_engine: Engine, value: Any
) -> None:
    before = snapshot(db_engine)
    # Not entered as a context: leaving it would shut the module's app down.
    proxied = TestClient(
        hostile_client.app, client=("127.0.0.1", 50000), raise_server_exceptions=False
    )
    response = proxied.post(
        "/login",
        data={"username": VICTIM_EMAIL, "password": "wrong-guess-1"},
        headers={"X-Forwarded-For": value},
    )

    assert response.status_code == 401, response.text[:300]
    assert_envelope(response)
    assert snapshot(db_engine) == before


# Odd Unicode is no attack on a name or a password: accepted, it must come back exactly.

ODD_UNICODE = {
    "rtl-override": "Ada \u202eecalevol",
    "zwj": "Ada \U0001f469\u200d\U0001f4bb",
    "combining": "Ade\u0301le",
    "emoji": "Ada \U0001f600",
    "full-width-digits": "Ada \uff11\uff12\uff13",
    "cjk": "\u827e\u9054",
}


@pytest.mark.parametrize("value", ODD_UNICODE.values(), ids=ODD_UNICODE.keys())
def test_odd_unicode_full_name_is_stored_exactly_or_refused(
    hostile_client: TestClient, world: World, value: str
) -> None:
    response = hostile_client.patch(
        "/users/me",
        json={"full_name": value},
        headers={"Authorization": f"Bearer {world.tokens[VICTIM]['access_token']}"},
    )

    if response.status_code >= 400:
        assert 400 <= response.status_code < 500
        assert_envelope(response)
        return
    assert response.status_code == 200
    stored = hostile_client.get(
        "/users/me",
        headers={"Authorization": f"Bearer {world.tokens[VICTIM]['access_token']}"},
    )
    assert stored.json()["full_name"] == value


@pytest.mark.parametrize("value", ODD_UNICODE.values(), ids=ODD_UNICODE.keys())
def test_odd_unicode_password_works_exactly_or_is_refused(
    hostile_client: TestClient, world: World, value: str
) -> None:
    password = f"{value}-quartz-meadow"
    response = hostile_client.post(
        "/users", json={"email": "new@example.com", "password": password}
    )

    if response.status_code >= 400:
        assert 400 <= response.status_code < 500
        assert_envelope(response)
        return
    assert response.status_code == 201
    ok = hostile_client.post("/login", data={"username": "new@example.com", "password": password})
    assert ok.status_code == 200


# Tokens: what tests/test_tokens.py does not already cover.


def forged_tokens(hostile_client: TestClient, world: World) -> dict[str, str]:
    key = os.environ["SECRET_KEY"]
    signed_in_admin(hostile_client, world)
    claims = claims_of(world.tokens[VICTIM]["access_token"])
    refresh_claims = claims_of(world.tokens[VICTIM]["refresh_token"])
    header, payload, signature = world.tokens[VICTIM]["access_token"].split(".")
    return {
        "rs256-header-hmac-signature": _with_header(claims, key, {"alg": "RS256"}),
        "none-capitalised": unsigned_token(claims).replace("eyJhbGciOiJub25lIi", "x", 0),
        "sub-as-int": sign({**claims, "sub": world.ids[VICTIM]}, key),
        "sub-of-admin": sign({**claims, "sub": str(world.ids[ADMIN])}, key),
        "sub-past-int32": sign({**claims, "sub": str(2**31)}, key),
        "ver-as-bool": sign({**claims, "ver": False}, key),
        "ver-negative": sign({**claims, "ver": -1}, key),
        "ver-huge": sign({**claims, "ver": 2**64}, key),
        "sid-too-long": sign({**claims, "sid": claims["sid"] * 2}, key),
        "sid-as-list": sign({**claims, "sid": [claims["sid"]]}, key),
        "exp-as-string": sign({**claims, "exp": "never"}, key),
        "exp-missing": sign({k: v for k, v in claims.items() if k != "exp"}, key),
        "type-upper-case": sign({**claims, "type": "ACCESS"}, key),
        "refresh-claims-typed-access": sign({**refresh_claims, "type": "access"}, key),
        "signature-of-another-token": f"{header}.{payload}."
        + world.tokens[ADMIN]["access_token"].rsplit(".", 1)[1],
        "empty-signature": f"{header}.{payload}.",
        "whitespace-inside": f"{header}. {payload}.{signature}",
    }


def _with_header(claims: dict[str, Any], key: str, header: dict[str, str]) -> str:
    """HMAC-signed under a header that claims otherwise."""
    signed = sign(claims, key)
    _header, payload, signature = signed.split(".")
    forged_header = forged_token({**header_of(signed), **header}, {}).split(".")[0]
    return f"{forged_header}.{payload}.{signature}"


FORGED = [
    "rs256-header-hmac-signature",
    "none-capitalised",
    "sub-as-int",
    "sub-of-admin",
    "sub-past-int32",
    "ver-as-bool",
    "ver-negative",
    "ver-huge",
    "sid-too-long",
    "sid-as-list",
    "exp-as-string",
    "exp-missing",
    "type-upper-case",
    "refresh-claims-typed-access",
    "signature-of-another-token",
    "empty-signature",
    "whitespace-inside",
]


@ONCE
@pytest.mark.parametrize("kind", FORGED)
def test_forged_access_token_is_401(hostile_client: TestClient, world: World, kind: str) -> None:
    token = forged_tokens(hostile_client, world)[kind]

    response = hostile_client.get(
        "/users/me", headers={"Authorization": f"Bearer {token}".encode()}
    )

    assert response.status_code == 401, response.text
    assert_envelope(response)


REFRESH_FORGERIES: dict[str, Callable[[dict[str, Any], World], dict[str, Any]]] = {
    "gen-ahead": lambda c, w: {**c, "gen": c["gen"] + 1},
    "gen-negative": lambda c, w: {**c, "gen": -1},
    "gen-as-bool": lambda c, w: {**c, "gen": False},
    "gen-as-float": lambda c, w: {**c, "gen": 0.0},
    "gen-huge": lambda c, w: {**c, "gen": 2**64},
    "session-of-admin": lambda c, w: {
        **c,
        "sid": claims_of(w.tokens[ADMIN]["refresh_token"])["sid"],
    },
    "sub-of-admin": lambda c, w: {**c, "sub": str(w.ids[ADMIN])},
    "access-typed": lambda c, w: {**c, "type": "access"},
    "exp-missing": lambda c, w: {k: v for k, v in c.items() if k != "exp"},
}


@ONCE
@pytest.mark.parametrize("kind", sorted(REFRESH_FORGERIES))
def test_refresh_token_with_forged_claims_is_401_and_changes_nothing(
    hostile_client: TestClient, world: World, db_engine: Engine, kind: str
) -> None:
    signed_in_admin(hostile_client, world)
    claims = claims_of(world.tokens[VICTIM]["refresh_token"])
    token = sign(REFRESH_FORGERIES[kind](claims, world), os.environ["SECRET_KEY"])
    before = snapshot(db_engine)

    response = hostile_client.post("/refresh", json={"refresh_token": token})

    assert response.status_code == 401, response.text
    assert_envelope(response)
    assert snapshot(db_engine) == before


def test_refresh_token_of_a_deleted_user_is_401(hostile_client: TestClient, world: World) -> None:
    victim = world.tokens[VICTIM]
    deleted = hostile_client.delete(
        "/users/me", headers={"Authorization": f"Bearer {victim['access_token']}"}
    )
    assert deleted.status_code == 204

    response = hostile_client.post("/refresh", json={"refresh_token": victim["refresh_token"]})

    assert response.status_code == 401
    assert_envelope(response)


def test_refresh_token_of_a_deleted_and_recreated_user_is_401(
    hostile_client: TestClient, world: World, db_engine: Engine, stored_hash: str
) -> None:
    victim = world.tokens[VICTIM]
    hostile_client.delete(
        "/users/me", headers={"Authorization": f"Bearer {victim['access_token']}"}
    )
    add_user(db_engine, VICTIM_EMAIL, stored_hash)

    response = hostile_client.post("/refresh", json={"refresh_token": victim["refresh_token"]})

    assert response.status_code == 401


# A hostile token is still only a token not ours, to /revoke: RFC 7009 2.2's
# 200, with no body, never a 500, and nothing ends.
HOSTILE_REVOCATIONS: dict[str, bytes] = {
    "nul": b"token=ada%00lovelace",
    "victims-token-and-a-nul": b"token={refresh}%00",
    "invalid-utf8": b"token=\xff\xfe\xfd",
    "percent-invalid-utf8": b"token=%ff%fe%fd",
    "control-characters": b"token=%01%1b%7f",
    "crlf": b"token=abc%0d%0aX-Evil:%201",
    "60kb": b"token=" + b"t" * KB60,
    "access-token-shape": b"token=e30.e30.e30",
    "rtl-override": b"token=%e2%80%aeabc",
    "whitespace": b"token=%20%20",
    "unknown-hint": b"token=garbage&token_type_hint=" + b"h" * 4096,
    "huge-client-id": b"token=garbage&client_id=" + b"c" * 4096,
}


@pytest.mark.parametrize("body", HOSTILE_REVOCATIONS.values(), ids=HOSTILE_REVOCATIONS.keys())
def test_hostile_revocation_token_is_200_and_changes_nothing(
    hostile_client: TestClient, world: World, db_engine: Engine, body: bytes
) -> None:
    before = snapshot(db_engine)

    response = hostile_client.post("/revoke", content=fill(body, world), headers=FORM)

    assert (response.status_code, response.content) == (200, b"")
    assert snapshot(db_engine) == before
