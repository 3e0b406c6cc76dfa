"""Schemathesis hooks: every authenticated case runs as a real, freshly signed-up user.

A fuzzed request may delete its user or sign it out everywhere; a 401 then
makes Schemathesis fetch a new token, which here means a new account.
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
            return response.json()["access_token"]

    def set(self, case: schemathesis.Case, data: str, context: schemathesis.AuthContext) -> None:
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
