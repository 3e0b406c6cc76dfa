"""Signing keys: EdDSA and ES256 beside HS256, rotation by kid, the JWKS, and
every way a token can name a key or an algorithm that is not ours."""

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from pydantic import ValidationError

from service.config import Settings
from service.signing_keys import SigningKey, generate_private_key, private_pem
from tests.helpers import (
    Account,
    assert_error,
    claims_of,
    forged_token,
    header_of,
    me,
    refresh,
    register,
    sign,
)

MakeClient = Callable[..., TestClient]
ASYMMETRIC = ["EdDSA", "ES256"]


def new_key(algorithm: str = "EdDSA") -> tuple[SigningKey, str]:
    key = generate_private_key(algorithm)
    return key, private_pem(key.private)


@pytest.fixture(scope="module")
def key_a() -> tuple[SigningKey, str]:
    return new_key()


@pytest.fixture(scope="module")
def key_b() -> tuple[SigningKey, str]:
    return new_key()


@pytest.fixture
def eddsa_client(make_client: MakeClient, key_a: tuple[SigningKey, str]) -> TestClient:
    return make_client(algorithm="EdDSA", jwt_private_keys=key_a[1])


def resign(token: str, key: SigningKey, algorithm: str | None = None, **header: Any) -> str:
    """`token`'s claims and header, signed again with `key`, and `header`'s changes."""
    headers = {**header_of(token), **header}
    headers.pop("alg")
    algorithm = algorithm or key.algorithm
    return jwt.encode(claims_of(token), key.private, algorithm=algorithm, headers=headers)


@pytest.mark.parametrize("algorithm", ASYMMETRIC)
def test_login_refresh_and_me_work_with_each_asymmetric_algorithm(
    make_client: MakeClient, algorithm: str
) -> None:
    key, pem = new_key(algorithm)
    client = make_client(algorithm=algorithm, jwt_private_keys=pem)
    user = register(client)

    assert header_of(user.access_token) == {"alg": algorithm, "kid": key.kid, "typ": "at+jwt"}
    assert me(client, user.access_token).status_code == 200
    pair = refresh(client, user.refresh_token)
    assert pair.status_code == 200, pair.text
    assert header_of(pair.json()["refresh_token"])["typ"] == "refresh+jwt"
    assert me(client, pair.json()["access_token"]).status_code == 200


def test_tokens_carry_kid_iss_aud_and_typ(make_client: MakeClient) -> None:
    client = make_client(public_url="https://accounts.example.com", jwt_audience="api")
    user = register(client)

    claims = claims_of(user.access_token)
    assert (claims["iss"], claims["aud"]) == ("https://accounts.example.com", "api")
    assert header_of(user.access_token)["typ"] == "at+jwt"
    assert header_of(user.access_token)["kid"].startswith("hs-")
    assert claims_of(user.refresh_token)["iss"] == "https://accounts.example.com"


def test_a_key_rotates_without_signing_anyone_out(
    make_client: MakeClient, key_a: tuple[SigningKey, str], key_b: tuple[SigningKey, str]
) -> None:
    only_a = make_client(algorithm="EdDSA", jwt_private_keys=key_a[1])
    user = register(only_a)
    # B is added and signs; A stays to verify what it signed.
    both = make_client(
        algorithm="EdDSA", jwt_private_keys=key_a[1] + key_b[1], jwt_signing_kid=key_b[0].kid
    )

    assert me(both, user.access_token).status_code == 200
    pair = refresh(both, user.refresh_token).json()
    assert header_of(pair["access_token"])["kid"] == key_b[0].kid

    only_b = make_client(algorithm="EdDSA", jwt_private_keys=key_b[1])
    assert me(only_b, pair["access_token"]).status_code == 200
    assert_error(me(only_b, user.access_token), 401, "invalid_token")


def test_a_removed_key_is_revoked_for_refresh_tokens_too(
    make_client: MakeClient, key_a: tuple[SigningKey, str], key_b: tuple[SigningKey, str]
) -> None:
    user = register(make_client(algorithm="EdDSA", jwt_private_keys=key_a[1]))

    only_b = make_client(algorithm="EdDSA", jwt_private_keys=key_b[1])

    assert_error(refresh(only_b, user.refresh_token), 401, "invalid_token")


def test_token_of_an_unknown_kid_is_401(eddsa_client: TestClient) -> None:
    user = register(eddsa_client)
    stranger, _ = new_key()

    forged = resign(user.access_token, stranger, kid=stranger.kid)

    assert_error(me(eddsa_client, forged), 401, "invalid_token")


def test_token_naming_our_kid_signed_by_another_key_is_401(eddsa_client: TestClient) -> None:
    user = register(eddsa_client)
    stranger, _ = new_key()

    assert_error(me(eddsa_client, resign(user.access_token, stranger)), 401, "invalid_token")


def test_public_key_as_hmac_secret_is_401(make_client: MakeClient) -> None:
    key, pem = new_key("ES256")
    client = make_client(algorithm="ES256", jwt_private_keys=pem)
    user = register(client)
    public_pem = key.public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {**header_of(user.access_token), "alg": "HS256"}
    signing_input = forged_token(header, claims_of(user.access_token)).rsplit(".", 1)[0]
    # By hand: PyJWT itself refuses a PEM as an HMAC secret.
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"

    assert_error(me(client, forged), 401, "invalid_token")


@pytest.mark.parametrize("alg", ["none", "None", "ES256", "HS256"])
def test_eddsa_token_with_another_alg_in_its_header_is_401(
    eddsa_client: TestClient, alg: str
) -> None:
    user = register(eddsa_client)
    _header, payload, signature = user.access_token.split(".")
    header = forged_token({**header_of(user.access_token), "alg": alg}, {}).split(".")[0]

    forged_with_signature = f"{header}.{payload}.{signature}"
    forged_without = f"{header}.{payload}."

    assert_error(me(eddsa_client, forged_with_signature), 401, "invalid_token")
    assert_error(me(eddsa_client, forged_without), 401, "invalid_token")


@pytest.mark.parametrize("member", ["jku", "x5u", "jwk"])
def test_key_location_headers_are_ignored(
    eddsa_client: TestClient, key_a: tuple[SigningKey, str], member: str
) -> None:
    user = register(eddsa_client)
    stranger, _ = new_key()
    pointer: Any = stranger.jwk if member == "jwk" else "https://attacker.example/keys.json"

    # The attacker's key, named and handed over in the header: still not ours.
    forged = resign(user.access_token, stranger, kid=stranger.kid, **{member: pointer})
    # Our own key's token with the same member: checked against our keys, as ever.
    ours = resign(user.access_token, key_a[0], **{member: pointer})

    assert_error(me(eddsa_client, forged), 401, "invalid_token")
    assert me(eddsa_client, ours).status_code == 200


@pytest.mark.parametrize(
    "change",
    [
        {"iss": "https://someone-else.example"},
        {"aud": "another-service"},
        {"aud": ["another-service"]},
    ],
)
def test_token_of_another_issuer_or_audience_is_401(
    client: TestClient, user: Account, settings: Settings, change: dict[str, Any]
) -> None:
    forged = sign({**claims_of(user.access_token), **change}, settings.signing_key)

    assert_error(me(client, forged), 401, "invalid_token")


@pytest.mark.parametrize("missing", ["iss", "aud"])
def test_token_without_issuer_or_audience_is_401(
    client: TestClient, user: Account, settings: Settings, missing: str
) -> None:
    claims = {k: v for k, v in claims_of(user.access_token).items() if k != missing}

    assert_error(me(client, sign(claims, settings.signing_key)), 401, "invalid_token")


@pytest.mark.parametrize("typ", ["JWT", "refresh+jwt", None])
def test_access_token_of_another_typ_is_401(
    client: TestClient, user: Account, settings: Settings, typ: str | None
) -> None:
    headers = {"typ": typ} if typ else {}
    claims = claims_of(user.access_token)
    forged = jwt.encode(claims, settings.signing_key, algorithm="HS256", headers=headers)
    if typ:
        forged = sign(claims, settings.signing_key, headers=headers)

    assert_error(me(client, forged), 401, "invalid_token")


def test_refresh_token_typed_as_access_token_is_401(client: TestClient, user: Account) -> None:
    assert header_of(user.refresh_token)["typ"] == "refresh+jwt"

    assert_error(me(client, user.refresh_token), 401, "invalid_token")


def legacy_token(token: str, secret: str) -> str:
    """`token` as the service signed it before kids: no kid, iss, aud or typ."""
    claims = {k: v for k, v in claims_of(token).items() if k not in ("iss", "aud")}
    return jwt.encode(claims, secret, algorithm="HS256")


def test_refresh_token_from_before_kids_still_renews_its_login(
    client: TestClient, user: Account, settings: Settings
) -> None:
    response = refresh(client, legacy_token(user.refresh_token, settings.signing_key))

    assert response.status_code == 200, response.text
    assert header_of(response.json()["access_token"])["kid"].startswith("hs-")


def test_access_token_from_before_kids_is_401(
    client: TestClient, user: Account, settings: Settings
) -> None:
    legacy = legacy_token(user.access_token, settings.signing_key)

    assert_error(me(client, legacy), 401, "invalid_token")


def test_hs256_refresh_token_renews_its_login_after_the_move_to_eddsa(
    user: Account, make_client: MakeClient, key_a: tuple[SigningKey, str]
) -> None:
    eddsa = make_client(algorithm="EdDSA", jwt_private_keys=key_a[1])

    response = refresh(eddsa, user.refresh_token)

    assert response.status_code == 200, response.text
    assert header_of(response.json()["access_token"])["alg"] == "EdDSA"
    assert_error(me(eddsa, user.access_token), 401, "invalid_token")


def test_expired_eddsa_token_is_401_token_expired(
    eddsa_client: TestClient, key_a: tuple[SigningKey, str]
) -> None:
    user = register(eddsa_client)
    past = int(time.time()) - 60
    claims = {**claims_of(user.access_token), "iat": past - 900, "exp": past}
    headers = {"kid": key_a[0].kid, "typ": "at+jwt"}

    expired = jwt.encode(claims, key_a[0].private, algorithm="EdDSA", headers=headers)

    assert_error(me(eddsa_client, expired), 401, "token_expired")


def test_jwks_publishes_each_public_key_and_no_private_part(
    make_client: MakeClient, key_a: tuple[SigningKey, str]
) -> None:
    es_key, es_pem = new_key("ES256")
    client = make_client(algorithm="EdDSA", jwt_private_keys=f"{key_a[1]}\n{es_pem}")

    keys = client.get("/.well-known/jwks.json").json()["keys"]

    assert [key["kid"] for key in keys] == [key_a[0].kid, es_key.kid]
    assert [key["alg"] for key in keys] == ["EdDSA", "ES256"]
    assert all(not {"d", "k", "p", "q"} & set(key) for key in keys)


def test_jwks_of_hs256_is_empty_and_never_the_secret(
    client: TestClient, settings: Settings
) -> None:
    response = client.get("/.well-known/jwks.json")

    assert response.json() == {"keys": []}
    assert settings.signing_key not in response.text


def test_jwks_may_be_cached_for_jwks_max_age_seconds(make_client: MakeClient) -> None:
    response = make_client(jwks_max_age_seconds=300).get("/.well-known/jwks.json")

    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")


def test_jwt_algorithm_and_its_older_name_algorithm_both_set_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALGORITHM", "HS512")
    assert Settings().algorithm == "HS512"
    monkeypatch.setenv("JWT_ALGORITHM", "HS384")
    assert Settings().algorithm == "HS384"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"algorithm": "EdDSA"}, "needs JWT_PRIVATE_KEYS"),
        ({"algorithm": "ES256", "jwt_private_keys": "EDDSA"}, "not one for JWT_ALGORITHM=ES256"),
        ({"algorithm": "EdDSA", "jwt_private_keys": "EDDSA", "jwt_signing_kid": "x"}, "none of"),
        ({"algorithm": "EdDSA", "jwt_private_keys": "not a key"}, "PEM"),
        ({"algorithm": "EdDSA", "jwt_private_keys": "@/nonexistent/key.pem"}, "cannot read"),
    ],
)
def test_unusable_key_settings_are_refused_at_start(
    key_a: tuple[SigningKey, str], overrides: dict[str, str], message: str
) -> None:
    values = {k: key_a[1] if v == "EDDSA" else v for k, v in overrides.items()}

    with pytest.raises(ValidationError) as refused:
        Settings(**values)

    assert message in str(refused.value)
    assert "PRIVATE KEY" not in str(refused.value)


def test_a_broken_pem_is_refused_without_quoting_it() -> None:
    broken = new_key()[1].replace("A", "B")

    with pytest.raises(ValidationError) as refused:
        Settings(algorithm="EdDSA", jwt_private_keys=broken)

    assert broken.splitlines()[1] not in str(refused.value)
    assert broken.splitlines()[1] not in repr(refused.value)


def test_keys_come_from_files_and_one_line_values(
    tmp_path: Any, key_a: tuple[SigningKey, str], key_b: tuple[SigningKey, str]
) -> None:
    path = tmp_path / "a.pem"
    path.write_text(key_a[1])
    one_line = key_b[1].strip().replace("\n", "\\n")

    ring = Settings(algorithm="EdDSA", jwt_private_keys=f"@{path},{one_line}").key_ring()

    assert ring.kids == [key_a[0].kid, key_b[0].kid]
    assert ring.signing.kid == key_a[0].kid
