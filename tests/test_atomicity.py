"""A request that fails half-way through its transaction leaves nothing of it behind.

The failures are injected into the service's own steps (or the ORM session's
commit, after the statements went out); the database is the real one.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from service.account_mail import AccountMail
from service.logins import LoginStore
from service.models import Login, User
from tests.helpers import (
    OTHER_PASSWORD,
    STRONG_PASSWORD,
    Account,
    assert_error,
    auth_headers,
    count_users,
    login,
    login_response,
    me,
    refresh,
    signup,
)

NEW_PASSWORD = "quartz-meadow-violin-77"


class InjectedError(RuntimeError):
    pass


@contextmanager
def commits_failing(app: FastAPI) -> Iterator[None]:
    """Within the block, every commit of the app's ORM sessions fails, as the
    database would when the connection drops at COMMIT: what the transaction
    wrote never takes effect. Reads, which commit nothing, still work."""

    class CommitFailsSession(Session):
        pass

    def refuse(_session: Session) -> None:
        raise InjectedError("commit refused by the test")

    event.listen(CommitFailsSession, "before_commit", refuse)
    database = app.state.database
    original = database.sessions
    database.sessions = sessionmaker(
        database.engine, class_=CommitFailsSession, expire_on_commit=False
    )
    try:
        yield
    finally:
        database.sessions = original


@pytest.fixture
def lenient(app: FastAPI) -> Iterator[TestClient]:
    """A client of the same app that receives 500s instead of raising them."""
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def failing_commits(app: FastAPI) -> Iterator[None]:
    """Every commit of the app's request sessions fails, for the whole test."""
    with commits_failing(app):
        yield


@pytest.fixture
def failing_end_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """end_credentials does its work inside the transaction, then the request fails."""
    real = LoginStore.end_credentials

    def end_then_fail(db: Session, **kwargs: Any) -> None:
        real(db, **kwargs)
        raise InjectedError("second step failed")

    monkeypatch.setattr(LoginStore, "end_credentials", staticmethod(end_then_fail))


def user_row(engine: Engine, user_id: int) -> Any:
    with engine.connect() as connection:
        return connection.execute(select(User.__table__).where(User.id == user_id)).one()


def session_rows(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(Login.__table__).order_by(Login.id)).all())


# Sign-up


def test_signup_failing_at_commit_answers_500_internal_error(
    lenient: TestClient, failing_commits: None
) -> None:
    assert_error(signup(lenient), 500, "internal_error", None)


def test_signup_failing_at_commit_leaves_no_user(
    lenient: TestClient, failing_commits: None, db_engine: Engine
) -> None:
    signup(lenient)

    assert count_users(db_engine) == 0


def test_signup_failing_at_commit_leaves_the_email_free(
    app: FastAPI, lenient: TestClient, db_engine: Engine
) -> None:
    with commits_failing(app):
        signup(lenient)

    response = signup(lenient)

    assert response.status_code == 201, response.text
    assert login_response(lenient, "ada@example.com", STRONG_PASSWORD).status_code == 200


# Refresh-token rotation: one statement, so it happens whole or not at all.


@contextmanager
def rotations_failing(app: FastAPI) -> Iterator[None]:
    """Within the block, the statement that advances a session fails as the
    database would when the connection drops: it never takes effect."""
    engine = app.state.database.autocommit

    def refuse(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE REFRESH_SESSIONS SET GENERATION"):
            raise InjectedError("rotation refused by the test")

    event.listen(engine, "before_cursor_execute", refuse)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", refuse)


def test_rotation_failing_in_its_statement_answers_500(
    app: FastAPI, lenient: TestClient, user: Account
) -> None:
    with rotations_failing(app):
        response = refresh(lenient, user.refresh_token)

    assert_error(response, 500, "internal_error", None)


def test_rotation_failing_in_its_statement_leaves_the_session_as_it_was(
    app: FastAPI, lenient: TestClient, user: Account, db_engine: Engine
) -> None:
    before = session_rows(db_engine)

    with rotations_failing(app):
        refresh(lenient, user.refresh_token)

    assert session_rows(db_engine) == before


def test_refresh_token_still_works_after_a_rotation_failed(
    app: FastAPI, lenient: TestClient, user: Account
) -> None:
    with rotations_failing(app):
        refresh(lenient, user.refresh_token)

    response = refresh(lenient, user.refresh_token)

    assert response.status_code == 200, response.text
    assert me(lenient, response.json()["access_token"]).status_code == 200


def test_rotation_failing_after_commit_spends_the_token_consistently(
    lenient: TestClient, user: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The new generation is stored but the pair never reaches the client:
    # the token it holds is spent, and presenting it is treated as reuse.
    def fail(*args: Any, **kwargs: Any) -> None:
        raise InjectedError("token signing failed")

    with monkeypatch.context() as patch:
        patch.setattr(LoginStore, "_issue", fail)
        assert refresh(lenient, user.refresh_token).status_code == 500

    assert_error(refresh(lenient, user.refresh_token), 401, "invalid_token")
    assert me(lenient, user.access_token).status_code == 401


# Password change


@pytest.fixture
def second_login(client: TestClient, user: Account) -> dict[str, str]:
    """Another session of the same user, e.g. on another device."""
    return login(client, user.email, user.password)


def change_password(test_client: TestClient, account: Account) -> Any:
    return test_client.post(
        "/users/me/password",
        json={"current_password": account.password, "new_password": NEW_PASSWORD},
        headers=account.headers,
    )


def test_password_change_failing_half_way_answers_500(
    lenient: TestClient, user: Account, failing_end_credentials: None
) -> None:
    assert_error(change_password(lenient, user), 500, "internal_error", None)


def test_password_change_failing_half_way_keeps_the_old_password(
    lenient: TestClient, user: Account, failing_end_credentials: None
) -> None:
    change_password(lenient, user)

    assert login_response(lenient, user.email, STRONG_PASSWORD).status_code == 200
    assert login_response(lenient, user.email, NEW_PASSWORD).status_code == 401


def test_password_change_failing_half_way_keeps_the_other_session(
    lenient: TestClient,
    user: Account,
    second_login: dict[str, str],
    failing_end_credentials: None,
) -> None:
    change_password(lenient, user)

    assert me(lenient, second_login["access_token"]).status_code == 200
    assert refresh(lenient, second_login["refresh_token"]).status_code == 200


def test_password_change_failing_half_way_keeps_the_callers_access_token(
    lenient: TestClient, user: Account, failing_end_credentials: None
) -> None:
    change_password(lenient, user)

    assert me(lenient, user.access_token).status_code == 200


def test_password_change_failing_half_way_leaves_the_rows_as_they_were(
    lenient: TestClient,
    user: Account,
    second_login: dict[str, str],
    db_engine: Engine,
    failing_end_credentials: None,
) -> None:
    user_before, sessions_before = user_row(db_engine, user.id), session_rows(db_engine)

    change_password(lenient, user)

    assert user_row(db_engine, user.id) == user_before
    assert session_rows(db_engine) == sessions_before


def test_password_change_failing_at_commit_keeps_the_old_password(
    app: FastAPI, lenient: TestClient, user: Account, db_engine: Engine
) -> None:
    before = user_row(db_engine, user.id)

    with commits_failing(app):
        response = change_password(lenient, user)

    assert response.status_code == 500
    assert user_row(db_engine, user.id) == before
    assert login_response(lenient, user.email, STRONG_PASSWORD).status_code == 200


# Other multi-step changes: sign out everywhere, deactivation, an admin's password reset


def test_logout_all_failing_half_way_keeps_every_session(
    lenient: TestClient,
    user: Account,
    second_login: dict[str, str],
    db_engine: Engine,
    failing_end_credentials: None,
) -> None:
    user_before, sessions_before = user_row(db_engine, user.id), session_rows(db_engine)

    response = lenient.post("/logout/all", headers=user.headers)

    assert response.status_code == 500
    assert user_row(db_engine, user.id) == user_before
    assert session_rows(db_engine) == sessions_before
    assert me(lenient, second_login["access_token"]).status_code == 200


def test_deactivation_failing_half_way_leaves_the_user_active(
    lenient: TestClient,
    superuser: Account,
    other_user: Account,
    db_engine: Engine,
    failing_end_credentials: None,
) -> None:
    response = lenient.patch(
        f"/users/{other_user.id}", json={"is_active": False}, headers=superuser.headers
    )

    assert response.status_code == 500
    assert user_row(db_engine, other_user.id).is_active is True
    assert me(lenient, other_user.access_token).status_code == 200


def test_admin_password_reset_failing_half_way_keeps_the_old_password(
    lenient: TestClient,
    superuser: Account,
    other_user: Account,
    db_engine: Engine,
    failing_end_credentials: None,
) -> None:
    before = user_row(db_engine, other_user.id)

    response = lenient.patch(
        f"/users/{other_user.id}", json={"password": NEW_PASSWORD}, headers=superuser.headers
    )

    assert response.status_code == 500
    assert user_row(db_engine, other_user.id) == before
    assert login_response(lenient, other_user.email, OTHER_PASSWORD).status_code == 200


def test_email_change_request_failing_at_commit_keeps_the_old_email_and_nothing_pending(
    app: FastAPI, lenient: TestClient, user: Account, db_engine: Engine
) -> None:
    with commits_failing(app):
        response = lenient.patch(
            "/users/me",
            json={"email": "ada.new@example.com", "current_password": STRONG_PASSWORD},
            headers=auth_headers(user.access_token),
        )

    assert response.status_code == 500
    assert user_row(db_engine, user.id).email == "ada@example.com"
    assert user_row(db_engine, user.id).pending_email is None
    assert login_response(lenient, "ada.new@example.com", STRONG_PASSWORD).status_code == 401


def test_email_confirmation_failing_at_commit_changes_nothing_and_leaves_the_link(
    app: FastAPI,
    lenient: TestClient,
    user: Account,
    db_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    links: list[str] = []
    monkeypatch.setattr(
        AccountMail, "email_change", lambda _mail, **message: links.append(message["token"])
    )
    asked = lenient.patch(
        "/users/me",
        json={"email": "ada.new@example.com", "current_password": STRONG_PASSWORD},
        headers=auth_headers(user.access_token),
    )
    assert asked.status_code == 200, asked.text

    with commits_failing(app):
        response = lenient.post("/email/confirm", json={"token": links[0]})

    assert response.status_code == 500
    assert user_row(db_engine, user.id).email == "ada@example.com"
    assert user_row(db_engine, user.id).pending_email == "ada.new@example.com"
    assert lenient.post("/email/confirm", json={"token": links[0]}).status_code == 200
