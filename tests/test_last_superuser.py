"""The last active superuser cannot demote, deactivate or delete itself: 409 last_superuser."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import Account, assert_error, me, promote, register, set_user, stored_user


@pytest.fixture
def second_superuser(client: TestClient, db_engine: Engine) -> Account:
    return promote(client, db_engine, register(client, email="admin2@example.com"))


@pytest.mark.parametrize("flag", ["is_superuser", "is_active"])
def test_the_only_superuser_clearing_its_own_flag_is_409_last_superuser(
    client: TestClient, superuser: Account, flag: str
) -> None:
    response = client.patch(f"/users/{superuser.id}", headers=superuser.headers, json={flag: False})

    assert_error(response, 409, "last_superuser", flag)


@pytest.mark.parametrize("flag", ["is_superuser", "is_active"])
def test_a_refused_change_of_the_only_superuser_leaves_it_unchanged(
    client: TestClient, superuser: Account, db_engine: Engine, flag: str
) -> None:
    client.patch(
        f"/users/{superuser.id}",
        headers=superuser.headers,
        json={flag: False, "full_name": "Changed"},
    )

    row = stored_user(db_engine, superuser.email)
    assert (row.is_superuser, row.is_active, row.full_name) == (True, True, None)
    assert me(client, superuser.access_token).status_code == 200


def test_the_only_superuser_deleting_itself_through_users_me_is_409(
    client: TestClient, superuser: Account, db_engine: Engine
) -> None:
    response = client.delete("/users/me", headers=superuser.headers)

    assert_error(response, 409, "last_superuser", None)
    assert stored_user(db_engine, superuser.email) is not None


def test_the_only_superuser_deleting_itself_by_id_is_409(
    client: TestClient, superuser: Account, db_engine: Engine
) -> None:
    response = client.delete(f"/users/{superuser.id}", headers=superuser.headers)

    assert_error(response, 409, "last_superuser", None)
    assert stored_user(db_engine, superuser.email) is not None


def test_the_only_superuser_putting_itself_inactive_is_409(
    client: TestClient, superuser: Account
) -> None:
    response = client.put(
        f"/users/{superuser.id}", headers=superuser.headers, json={"is_active": False}
    )

    assert_error(response, 409, "last_superuser", "is_active")


@pytest.mark.parametrize("flag", ["is_superuser", "is_active"])
def test_a_superuser_may_clear_its_own_flag_while_another_remains(
    client: TestClient, superuser: Account, second_superuser: Account, flag: str
) -> None:
    response = client.patch(f"/users/{superuser.id}", headers=superuser.headers, json={flag: False})

    assert response.status_code == 200, response.text
    assert response.json()[flag] is False


@pytest.mark.parametrize("flag", ["is_superuser", "is_active"])
def test_a_superuser_may_clear_another_superusers_flag_while_itself_remains(
    client: TestClient, superuser: Account, second_superuser: Account, flag: str
) -> None:
    response = client.patch(
        f"/users/{second_superuser.id}", headers=superuser.headers, json={flag: False}
    )

    assert response.status_code == 200, response.text


def test_a_superuser_may_delete_itself_while_another_remains(
    client: TestClient, superuser: Account, second_superuser: Account, db_engine: Engine
) -> None:
    response = client.delete("/users/me", headers=superuser.headers)

    assert response.status_code == 204, response.text
    assert stored_user(db_engine, superuser.email) is None


def test_a_superuser_may_delete_another_superuser_while_itself_remains(
    client: TestClient, superuser: Account, second_superuser: Account
) -> None:
    response = client.delete(f"/users/{second_superuser.id}", headers=superuser.headers)

    assert response.status_code == 204, response.text


def test_an_inactive_superuser_does_not_count_as_the_one_that_remains(
    client: TestClient, superuser: Account, second_superuser: Account, db_engine: Engine
) -> None:
    set_user(db_engine, second_superuser.id, is_active=False)

    response = client.delete("/users/me", headers=superuser.headers)

    assert_error(response, 409, "last_superuser", None)


def test_the_second_of_two_superusers_demoting_itself_in_turn_is_409(
    client: TestClient, superuser: Account, second_superuser: Account
) -> None:
    first = client.patch(
        f"/users/{superuser.id}", headers=superuser.headers, json={"is_superuser": False}
    )
    second = client.patch(
        f"/users/{second_superuser.id}",
        headers=second_superuser.headers,
        json={"is_superuser": False},
    )

    assert first.status_code == 200, first.text
    assert_error(second, 409, "last_superuser", "is_superuser")


def test_setting_the_only_superusers_flags_to_true_is_allowed(
    client: TestClient, superuser: Account
) -> None:
    response = client.patch(
        f"/users/{superuser.id}",
        headers=superuser.headers,
        json={"is_superuser": True, "is_active": True},
    )

    assert response.status_code == 200, response.text


def test_an_ordinary_user_may_delete_itself_with_one_superuser_about(
    client: TestClient, superuser: Account, user: Account
) -> None:
    response = client.delete("/users/me", headers=user.headers)

    assert response.status_code == 204, response.text


def test_an_ordinary_user_may_delete_itself_when_there_is_no_superuser(
    client: TestClient, user: Account
) -> None:
    response = client.delete("/users/me", headers=user.headers)

    assert response.status_code == 204, response.text


def test_the_last_superuser_may_demote_an_ordinary_user(
    client: TestClient, superuser: Account, user: Account
) -> None:
    response = client.patch(
        f"/users/{user.id}", headers=superuser.headers, json={"is_active": False}
    )

    assert response.status_code == 200, response.text
