"""Nothing secret reaches the logs: no password, token or password hash, at any level."""

import logging
import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from sqlalchemy import select

from service.config import Settings
from service.main import create_app
from service.models import User
from tests.helpers import (
    OTHER_PASSWORD,
    STRONG_PASSWORD,
    Account,
    auth_headers,
    login,
    login_response,
    refresh,
    signup,
)
from tests.mailserver import (
    MailServer,
    forgot,
    mailed_reset_token,
    mailed_verification_token,
    reset,
    verify,
)

EMAIL = "ada.logs@example.com"
WRONG_PASSWORD = "not-the-password-31337"


@dataclass
class Cycle:
    secrets: dict[str, str]
    records: list[logging.LogRecord]


class Capture(logging.Handler):
    """Keeps every record that reaches the root logger, as caplog does."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def capturing_everything() -> Iterator[Capture]:
    """The root logger at DEBUG; every logger propagates to it, where all is captured."""
    capture = Capture()
    loggers = [logging.root] + [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    saved = [(logger, logger.level, logger.propagate, logger.disabled) for logger in loggers]
    for logger in loggers:
        logger.propagate = True
        logger.disabled = False
    # Levels a logger was given stay: they are part of what the service logs. setLevel,
    # not an assignment, so logging's cache of isEnabledFor answers is emptied too.
    logging.root.setLevel(logging.DEBUG)
    logging.root.addHandler(capture)
    try:
        yield capture
    finally:
        logging.root.removeHandler(capture)
        for logger, level, propagate, disabled in saved:
            logger.setLevel(level)
            logger.propagate = propagate
            logger.disabled = disabled


def record_texts(record: logging.LogRecord) -> list[str]:
    """Everything of a record a handler could write out."""
    texts = [str(record.msg), record.getMessage()]
    args = record.args if isinstance(record.args, tuple) else (record.args,)
    texts += [repr(arg) for arg in args if arg is not None]
    if record.exc_text:
        texts.append(record.exc_text)
    if record.exc_info and record.exc_info[1] is not None:
        texts.append("".join(traceback.format_exception(*record.exc_info)))
    if record.stack_info:
        texts.append(record.stack_info)
    return texts


@pytest.fixture(scope="module")
def cycle(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Cycle:
    """A whole account's life, with every log record of it captured.

    Run once for the module: each test below checks one secret against the same log.
    """
    settings = Settings(
        database_url=database_url,
        environment="test",
        secret_key=os.environ["SECRET_KEY"],
        secret_key_file=str(tmp_path_factory.mktemp("logs") / ".secret_key"),
        bcrypt_rounds=4,
    )
    app = create_app(settings)

    async def explode(request: Request) -> None:
        raise RuntimeError(f"failed while serving {request.headers.get('x-trace')}")

    app.add_api_route("/explode", explode, methods=["POST"])
    with (
        capturing_everything() as capture,
        TestClient(app, raise_server_exceptions=False) as client,
    ):
        assert signup(client, email=EMAIL, full_name="Ada").status_code == 201
        first = login(client, EMAIL, STRONG_PASSWORD)
        assert client.get("/users/me", headers=auth_headers(first["access_token"])).is_success
        second = client.post("/refresh", json={"refresh_token": first["refresh_token"]}).json()
        changed = client.post(
            "/users/me/password",
            json={"current_password": STRONG_PASSWORD, "new_password": OTHER_PASSWORD},
            headers=auth_headers(second["access_token"]),
        )
        assert changed.status_code == 204, changed.text
        third = client.post("/refresh", json={"refresh_token": second["refresh_token"]}).json()
        assert client.post("/logout", json={"refresh_token": third["refresh_token"]}).is_success
        assert login_response(client, EMAIL, WRONG_PASSWORD).status_code == 401
        # A spent token presented again (reuse), and a 500 with secrets in its request.
        assert refresh(client, first["refresh_token"]).status_code == 401
        failed = client.post(
            "/explode",
            json={"password": STRONG_PASSWORD, "refresh_token": third["refresh_token"]},
            headers={**auth_headers(third["access_token"]), "X-Trace": "trace-id"},
        )
        assert failed.status_code == 500
    # Read after capturing stopped: the test's own query must not count.
    with app.state.database.engine.connect() as connection:
        stored_hash = connection.scalar(select(User.hashed_password).where(User.email == EMAIL))
    app.state.database.dispose()
    secrets = {
        "password": STRONG_PASSWORD,
        "new_password": OTHER_PASSWORD,
        "wrong_password": WRONG_PASSWORD,
        "hash": stored_hash,
        "hash_digest": stored_hash[-31:],
    }
    for name, tokens in (("first", first), ("second", second), ("third", third)):
        for kind in ("access_token", "refresh_token"):
            secrets[f"{name} {kind}"] = tokens[kind]
            secrets[f"{name} {kind} signature"] = tokens[kind].rsplit(".", 1)[1]
    return Cycle(secrets=secrets, records=capture.records)


def test_the_cycle_is_logged_at_all(cycle: Cycle) -> None:
    # Otherwise the checks below would pass on an empty log.
    assert any("trace-id" in text for record in cycle.records for text in record_texts(record))


def test_the_cycle_is_logged_down_to_debug(cycle: Cycle) -> None:
    assert any(record.levelno == logging.DEBUG for record in cycle.records)


@pytest.mark.parametrize(
    "secret",
    [
        "password",
        "new_password",
        "wrong_password",
        "hash",
        "hash_digest",
        *(
            f"{name} {kind}{part}"
            for name in ("first", "second", "third")
            for kind in ("access_token", "refresh_token")
            for part in ("", " signature")
        ),
    ],
)
def test_no_log_record_contains_the_secret(cycle: Cycle, secret: str) -> None:
    value = cycle.secrets[secret]
    leaks = [
        f"{record.name}: {record.getMessage()[:200]}"
        for record in cycle.records
        if any(value in text for text in record_texts(record))
    ]

    assert not leaks, leaks


def test_no_log_record_contains_a_bcrypt_hash(cycle: Cycle) -> None:
    leaks = [
        f"{record.name} {record.levelname}: {record.msg}"
        for record in cycle.records
        if any("$2b$" in text or "$2a$" in text for text in record_texts(record))
    ]

    assert not leaks, leaks


# Recovery by mail: the tokens travel by SMTP only, never through the log, and a
# delivery that fails says so without the message.

RESET_PASSWORD = "lighthouse-quarry-violet-58"
RECOVERY_EMAIL = "ada.recovery@example.com"


@pytest.fixture(scope="module")
def recovery_cycle(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Cycle:
    server = MailServer().start()
    settings = Settings(
        database_url=database_url,
        environment="test",
        secret_key=os.environ["SECRET_KEY"],
        secret_key_file=str(tmp_path_factory.mktemp("recovery-logs") / ".secret_key"),
        bcrypt_rounds=4,
        smtp_url=server.url(),
    )
    app = create_app(settings)
    try:
        with capturing_everything() as capture, TestClient(app) as client:
            assert signup(client, email=RECOVERY_EMAIL).status_code == 201
            reset_token = mailed_reset_token(client, server.inbox, RECOVERY_EMAIL)
            assert reset(client, reset_token, RESET_PASSWORD).status_code == 204
            tokens = login(client, RECOVERY_EMAIL, RESET_PASSWORD)
            account = Account(
                id=0,
                email=RECOVERY_EMAIL,
                password=RESET_PASSWORD,
                access_token=tokens["access_token"],
                refresh_token=tokens["refresh_token"],
            )
            verify_token = mailed_verification_token(client, server.inbox, account)
            assert verify(client, verify_token).status_code == 200
            # The mail server goes away: the next message fails on delivery.
            server.stop()
            assert forgot(client, RECOVERY_EMAIL).status_code == 202
        with app.state.database.engine.connect() as connection:
            stored_hash = connection.scalar(
                select(User.hashed_password).where(User.email == RECOVERY_EMAIL)
            )
    finally:
        app.state.database.dispose()
        server.stop()
    return Cycle(
        secrets={
            "reset token": reset_token,
            "verification token": verify_token,
            "new password": RESET_PASSWORD,
            "hash": stored_hash,
            "access token": tokens["access_token"],
            "refresh token": tokens["refresh_token"],
        },
        records=capture.records,
    )


def test_the_failed_delivery_is_logged(recovery_cycle: Cycle) -> None:
    # Otherwise the checks below would pass without the failure path having run.
    assert any(
        record.name == "service.mail" and record.levelno == logging.WARNING
        for record in recovery_cycle.records
    )


@pytest.mark.parametrize(
    "secret",
    [
        "reset token",
        "verification token",
        "new password",
        "hash",
        "access token",
        "refresh token",
    ],
)
def test_no_log_record_of_recovery_contains_the_secret(recovery_cycle: Cycle, secret: str) -> None:
    value = recovery_cycle.secrets[secret]
    leaks = [
        f"{record.name}: {record.getMessage()[:200]}"
        for record in recovery_cycle.records
        if any(value in text for text in record_texts(record))
    ]

    assert not leaks, leaks
