"""Schemathesis hooks: every authenticated case runs as a real, freshly signed-up user.

A fuzzed request may delete its user or sign it out everywhere; a 401 then
makes Schemathesis fetch a new token, which here means a new account. A case
of the cookie routes runs as a browser would send it: from the service's own
origin, with a fresh cookie login's cookies and its CSRF token, so the fuzzed
values reach the work behind the origin and CSRF checks.
"""

import itertools
import os
import uuid

import httpx
import schemathesis

BASE_URL = os.environ["FUZZ_BASE_URL"]
PASSWORD = "fuzzing-horse-battery-7"
_accounts = itertools.count()
_run = uuid.uuid4().hex[:8]


@schemathesis.auth(refresh_interval=30)
class FreshUser:
    def get(self, case: schemathesis.Case, context: schemathesis.AuthContext) -> str:
        email = f"fuzz-{_run}-{next(_accounts)}@example.com"
        with httpx.Client(base_url=BASE_URL, timeout=30) as client:
            client.post("/users", json={"email": email, "password": PASSWORD}).raise_for_status()
            response = client.post("/login", data={"username": email, "password": PASSWORD})
            response.raise_for_status()
            return f"{email} {response.json()['access_token']}"

    def set(self, case: schemathesis.Case, data: str, context: schemathesis.AuthContext) -> None:
        email, access_token = data.split(" ")
        case.headers = case.headers or {}
        if case.path.startswith("/cookie/"):
            _as_a_browser(case, email)
        else:
            case.headers["Authorization"] = f"Bearer {access_token}"


def _as_a_browser(case: schemathesis.Case, email: str) -> None:
    with httpx.Client(base_url=BASE_URL, timeout=30) as client:
        response = client.post(
            "/cookie/login",
            data={"username": email, "password": PASSWORD},
            headers={"Origin": BASE_URL},
        )
    if response.status_code != 200:
        return  # the user was deleted or throttled: the case runs without cookies
    case.headers.setdefault("Origin", BASE_URL)
    case.headers.setdefault("X-CSRF-Token", response.json()["csrf_token"])
    case.cookies = {**dict(response.cookies), **(case.cookies or {})}
