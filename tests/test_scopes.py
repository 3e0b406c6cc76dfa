"""Roles and scopes: what a login is granted, what each route needs, and
what a role change does (docs/API-NOTES.md, "Roles and scopes")."""

from http.cookies import SimpleCookie

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.config import Settings
from service.scopes import ALLOWED, DESCRIPTIONS, Role
from tests.helpers import (
    STRONG_PASSWORD,
    Account,
    assert_envelope,
    assert_error,
    auth_headers,
    claims_of,
    count_sessions,
    login_response,
    me,
    refresh,
    register,
    sign,
)

USER_SCOPES = " ".join(sorted(ALLOWED[Role.USER]))
ADMIN_SCOPES = " ".join(sorted(ALLOWED[Role.ADMIN]))


def log_in(client: TestClient, account: Account, scope: str | None = None) -> dict:
    form = {} if scope is None else {"scope": scope}
    response = login_response(client, account.email, account.password, **form)
    assert response.status_code == 200, response.text
    return response.json()


def as_bearer(tokens: dict) -> dict[str, str]:
    return auth_headers(tokens["access_token"])


def refresh_grant(client: TestClient, refresh_token: str, **form: str) -> httpx.Response:
    return client.post(
        "/login", data={"grant_type": "refresh_token", "refresh_token": refresh_token, **form}
    )


# What a login is granted


def test_a_login_without_scope_is_granted_the_whole_user_role(
    client: TestClient, user: Account
) -> None:
    tokens = log_in(client, user)

    assert tokens["scope"] == USER_SCOPES


def test_an_admins_login_without_scope_is_granted_the_whole_admin_role(
    client: TestClient, superuser: Account
) -> None:
    tokens = log_in(client, superuser)

    assert tokens["scope"] == ADMIN_SCOPES


def test_a_blank_scope_counts_as_none_sent(client: TestClient, user: Account) -> None:
    assert log_in(client, user, scope="   ")["scope"] == USER_SCOPES


def test_a_login_is_granted_only_what_it_asked_for(client: TestClient, user: Account) -> None:
    tokens = log_in(client, user, scope="sessions:read profile:read")

    assert tokens["scope"] == "profile:read sessions:read"


def test_a_login_is_not_granted_what_the_role_does_not_allow(
    client: TestClient, user: Account
) -> None:
    tokens = log_in(client, user, scope="profile:read users:read users:write")

    assert tokens["scope"] == "profile:read"


def test_the_access_token_carries_the_granted_scope(client: TestClient, user: Account) -> None:
    tokens = log_in(client, user, scope="events:read profile:read")

    assert claims_of(tokens["access_token"])["scope"] == "events:read profile:read"


def test_the_refresh_token_carries_no_scope(client: TestClient, user: Account) -> None:
    # The login holds the grant: a refresh token is only a pointer to it.
    assert "scope" not in claims_of(log_in(client, user)["refresh_token"])


def test_an_unknown_scope_is_400_invalid_scope_before_the_password_is_checked(
    client: TestClient, user: Account
) -> None:
    response = login_response(client, user.email, "not-the-password", scope="profile:read admin")

    errors = assert_error(response, 400, "invalid_scope", "scope", oauth_error="invalid_scope")
    assert "users:write" in errors[0]["message"]
    assert "admin" not in errors[0]["message"].split()


def test_asking_only_for_scopes_the_role_lacks_is_400_invalid_scope_and_opens_no_login(
    client: TestClient, user: Account, db_engine: Engine
) -> None:
    before = count_sessions(db_engine, user.id)

    response = login_response(client, user.email, user.password, scope="users:read")

    errors = assert_error(response, 400, "invalid_scope", "scope", oauth_error="invalid_scope")
    assert "profile:read" in errors[0]["message"]
    assert count_sessions(db_engine, user.id) == before


def test_asking_for_scopes_the_role_lacks_with_a_wrong_password_is_401(
    client: TestClient, user: Account
) -> None:
    # The role is told only to whoever has the password.
    response = login_response(client, user.email, "not-the-password", scope="users:read")

    assert_error(response, 401, "invalid_credentials")


@pytest.mark.parametrize(
    "scope", ["profile:read\x00", "profile:read\tsessions:read", "x" * 1025, "é"]
)
def test_a_hostile_scope_is_refused_with_the_envelope(
    client: TestClient, user: Account, scope: str
) -> None:
    response = login_response(client, user.email, user.password, scope=scope)

    assert response.status_code in (400, 422), response.text
    oauth_error = "invalid_scope" if response.status_code == 400 else "invalid_request"
    assert_envelope(response, oauth_error=oauth_error)
    assert response.json()["errors"][0]["field"] == "scope"


def test_scope_sent_twice_is_422(client: TestClient, user: Account) -> None:
    response = client.post(
        "/login",
        content=f"username={user.email}&password={user.password}&scope=profile:read"
        "&scope=users:read",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert_error(response, 422, "invalid_value", "scope")


def test_a_cookie_login_is_granted_the_whole_role(client: TestClient, user: Account) -> None:
    response = client.post(
        "/cookie/login",
        data={"username": user.email, "password": user.password},
        headers={"Origin": "http://testserver"},
    )

    assert response.status_code == 200, response.text
    cookies: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        cookies.load(header)
    access = next(cookie.value for name, cookie in cookies.items() if name.endswith("access_token"))
    assert claims_of(access)["scope"] == USER_SCOPES


# What each route needs


def test_a_token_without_the_routes_scope_is_403_insufficient_scope(
    client: TestClient, user: Account
) -> None:
    tokens = log_in(client, user, scope="profile:read")

    response = client.get("/users/me/sessions", headers=as_bearer(tokens))

    assert_error(response, 403, "insufficient_scope", None)
    assert response.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", scope="sessions:read"'
    )


def test_a_token_with_the_routes_scope_is_let_through(client: TestClient, user: Account) -> None:
    tokens = log_in(client, user, scope="sessions:read")

    assert client.get("/users/me/sessions", headers=as_bearer(tokens)).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/users/me", "profile:read"),
        ("PATCH", "/users/me", "profile:write"),
        ("DELETE", "/users/me", "profile:write"),
        ("POST", "/users/me/password", "profile:write"),
        ("POST", "/users/me/verify", "profile:write"),
        ("GET", "/users/me/sessions", "sessions:read"),
        ("DELETE", "/users/me/sessions", "sessions:write"),
        ("GET", "/users/me/events", "events:read"),
        ("POST", "/logout/all", "sessions:write"),
        ("GET", "/users/{id}", "profile:read"),
        ("PATCH", "/users/{id}", "profile:write"),
        ("DELETE", "/users/{id}", "profile:write"),
        ("GET", "/users/{id}/sessions", "sessions:read"),
        ("DELETE", "/users/{id}/sessions", "sessions:write"),
        ("GET", "/users/{id}/events", "events:read"),
    ],
)
def test_each_own_account_route_needs_its_scope(
    client: TestClient, user: Account, method: str, path: str, scope: str
) -> None:
    others = " ".join(sorted(ALLOWED[Role.USER] - {scope}))
    tokens = log_in(client, user, scope=others)

    response = client.request(
        method, path.format(id=user.id), headers=as_bearer(tokens), json={"full_name": "Ada"}
    )

    assert_error(response, 403, "insufficient_scope")
    assert f'scope="{scope}"' in response.headers["www-authenticate"]
    assert me(client, log_in(client, user)["access_token"]).status_code == 200


def test_listing_users_needs_users_read(client: TestClient, superuser: Account) -> None:
    tokens = log_in(client, superuser, scope="users:write")

    response = client.get("/users", headers=as_bearer(tokens))

    assert_error(response, 403, "insufficient_scope")
    assert 'scope="users:read"' in response.headers["www-authenticate"]


def test_listing_users_with_users_read_is_200(client: TestClient, superuser: Account) -> None:
    tokens = log_in(client, superuser, scope="users:read")

    assert client.get("/users", headers=as_bearer(tokens)).status_code == 200


def test_an_admin_reading_another_user_without_users_read_is_403_insufficient_scope(
    client: TestClient, superuser: Account, user: Account
) -> None:
    tokens = log_in(client, superuser, scope="profile:read users:write")

    response = client.get(f"/users/{user.id}", headers=as_bearer(tokens))

    assert_error(response, 403, "insufficient_scope")
    assert 'scope="users:read"' in response.headers["www-authenticate"]


def test_an_admin_with_only_users_read_cannot_change_another_user(
    client: TestClient, superuser: Account, user: Account
) -> None:
    tokens = log_in(client, superuser, scope="users:read")

    response = client.patch(
        f"/users/{user.id}", headers=as_bearer(tokens), json={"full_name": "Eve"}
    )

    assert_error(response, 403, "insufficient_scope")
    assert 'scope="users:write"' in response.headers["www-authenticate"]
    assert client.get(f"/users/{user.id}", headers=as_bearer(tokens)).json()["full_name"] is None


def test_an_admin_with_users_write_ends_another_users_sessions(
    client: TestClient, superuser: Account, user: Account
) -> None:
    tokens = log_in(client, superuser, scope="users:write")

    response = client.delete(f"/users/{user.id}/sessions", headers=as_bearer(tokens))

    assert response.status_code == 204, response.text
    assert_error(me(client, user.access_token), 401, "invalid_token")


def test_an_admin_may_act_on_itself_with_the_users_scope_alone(
    client: TestClient, superuser: Account
) -> None:
    tokens = log_in(client, superuser, scope="users:read")

    response = client.get(f"/users/{superuser.id}", headers=as_bearer(tokens))

    assert response.status_code == 200, response.text


def test_a_user_acting_on_another_is_403_forbidden_whatever_its_scopes(
    client: TestClient, user: Account, superuser: Account
) -> None:
    response = client.get(f"/users/{superuser.id}", headers=user.headers)

    assert_error(response, 403, "forbidden")


def test_an_insufficient_scope_on_another_user_says_nothing_of_whether_it_exists(
    client: TestClient, superuser: Account
) -> None:
    tokens = log_in(client, superuser, scope="profile:read")

    responses = [
        client.get(f"/users/{user_id}", headers=as_bearer(tokens)) for user_id in (2, 999_999)
    ]

    assert [r.status_code for r in responses] == [403, 403]
    assert responses[0].json() == responses[1].json()


def test_an_access_token_without_a_scope_claim_is_401(
    client: TestClient, user: Account, settings: Settings
) -> None:
    # A token from before scopes: refused, and its client refreshes.
    claims = claims_of(user.access_token)
    del claims["scope"]

    response = me(client, sign(claims, settings.signing_key))

    assert_error(response, 401, "invalid_token")


def test_an_access_token_claiming_more_scopes_is_refused_for_its_signature(
    client: TestClient, user: Account
) -> None:
    claims = {**claims_of(user.access_token), "scope": ADMIN_SCOPES}

    assert_error(me(client, sign(claims, "guessed-secret-guessed-secret-00")), 401, "invalid_token")


# Refresh


def test_a_refresh_gives_the_logins_scopes_again(client: TestClient, user: Account) -> None:
    tokens = log_in(client, user, scope="profile:read")

    refreshed = refresh(client, tokens["refresh_token"])

    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["scope"] == "profile:read"
    assert claims_of(refreshed.json()["access_token"])["scope"] == "profile:read"


def test_the_refresh_grant_with_scope_narrows_the_access_token(
    client: TestClient, user: Account
) -> None:
    tokens = log_in(client, user)

    refreshed = refresh_grant(client, tokens["refresh_token"], scope="profile:read")

    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["scope"] == "profile:read"
    assert_error(
        client.get("/users/me/sessions", headers=as_bearer(refreshed.json())),
        403,
        "insufficient_scope",
    )


def test_a_refresh_never_widens_the_grant(client: TestClient, user: Account) -> None:
    tokens = log_in(client, user, scope="profile:read")

    refreshed = refresh_grant(client, tokens["refresh_token"], scope="profile:read sessions:write")

    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["scope"] == "profile:read"


def test_an_admin_scope_asked_at_refresh_is_not_granted_to_a_user(
    client: TestClient, user: Account
) -> None:
    refreshed = refresh_grant(client, log_in(client, user)["refresh_token"], scope="users:write")

    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["scope"] == ""
    assert_error(me(client, refreshed.json()["access_token"]), 403, "insufficient_scope")


def test_a_narrowed_refresh_leaves_the_login_its_whole_grant(
    client: TestClient, user: Account
) -> None:
    tokens = log_in(client, user)
    narrowed = refresh_grant(client, tokens["refresh_token"], scope="profile:read").json()

    again = refresh(client, narrowed["refresh_token"])

    assert again.json()["scope"] == USER_SCOPES


def test_an_unknown_scope_at_refresh_is_400_and_spends_no_token(
    client: TestClient, user: Account
) -> None:
    tokens = log_in(client, user)

    response = refresh_grant(client, tokens["refresh_token"], scope="root")

    assert_error(response, 400, "invalid_scope", "scope", oauth_error="invalid_scope")
    assert refresh(client, tokens["refresh_token"]).status_code == 200


# A role change


def test_promoting_a_user_ends_every_session_of_it(
    client: TestClient, superuser: Account, user: Account
) -> None:
    response = client.patch(
        f"/users/{user.id}", headers=superuser.headers, json={"is_superuser": True}
    )

    assert response.status_code == 200, response.text
    assert response.json()["role"] == "admin"
    assert_error(me(client, user.access_token), 401, "invalid_token")
    assert_error(refresh(client, user.refresh_token), 401, "invalid_token")


def test_a_promoted_users_next_login_is_granted_the_admin_role(
    client: TestClient, superuser: Account, user: Account
) -> None:
    client.patch(f"/users/{user.id}", headers=superuser.headers, json={"is_superuser": True})

    assert log_in(client, user)["scope"] == ADMIN_SCOPES


def test_an_admin_demoting_itself_ends_its_own_session_too(
    client: TestClient, superuser: Account, db_engine: Engine
) -> None:
    other = register(client, email="second@example.com", password=STRONG_PASSWORD)
    client.patch(f"/users/{other.id}", headers=superuser.headers, json={"is_superuser": True})

    response = client.patch(
        f"/users/{superuser.id}", headers=superuser.headers, json={"is_superuser": False}
    )

    assert response.status_code == 200, response.text
    assert response.json()["role"] == "user"
    assert_error(me(client, superuser.access_token), 401, "invalid_token")
    assert log_in(client, superuser)["scope"] == USER_SCOPES


def test_setting_the_same_role_again_ends_no_session(
    client: TestClient, superuser: Account, user: Account
) -> None:
    client.patch(f"/users/{user.id}", headers=superuser.headers, json={"is_superuser": False})

    assert me(client, user.access_token).status_code == 200


def test_role_is_read_only_in_the_user_object(client: TestClient, user: Account) -> None:
    response = client.patch("/users/me", headers=user.headers, json={"role": "admin"})

    assert_error(response, 422, "invalid_value", "role")


# What clients can learn


def test_the_openapi_document_offers_the_scopes_to_authorize(client: TestClient) -> None:
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]

    assert schemes["OAuth2PasswordBearer"]["flows"]["password"]["scopes"] == DESCRIPTIONS


def test_the_openapi_document_names_each_routes_scope(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    assert paths["/users/me/sessions"]["delete"]["security"] == [
        {"OAuth2PasswordBearer": ["sessions:write"]}
    ]
    assert paths["/users"]["get"]["security"] == [{"OAuth2PasswordBearer": ["users:read"]}]


def test_the_openapi_document_gives_the_admin_alternative_on_users_id(
    client: TestClient,
) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/users/{user_id}"]["patch"]

    assert operation["security"] == [
        {"OAuth2PasswordBearer": ["profile:write"]},
        {"OAuth2PasswordBearer": ["users:write"]},
    ]


def test_the_server_metadata_lists_the_scopes(client: TestClient) -> None:
    metadata = client.get("/.well-known/oauth-authorization-server").json()

    assert metadata["scopes_supported"] == sorted(DESCRIPTIONS)


def test_an_admin_setting_its_own_flags_needs_users_write(
    client: TestClient, superuser: Account
) -> None:
    tokens = log_in(client, superuser, scope="profile:read profile:write")

    response = client.patch(
        f"/users/{superuser.id}", headers=as_bearer(tokens), json={"is_active": False}
    )

    assert_error(response, 403, "insufficient_scope")
    assert 'scope="users:write"' in response.headers["www-authenticate"]
    assert me(client, tokens["access_token"]).status_code == 200
