"""Signing keys: the key ring tokens are signed and checked with, and its JWKS.

With security.py, the only modules that know PyJWT and key formats. A ring
holds one signing key and any number of keys that only verify (a standby key
published before it signs, a previous one whose tokens still live); a key
left out of the ring is revoked. HMAC secrets never leave the process: the
JWKS lists public keys only.
"""

import base64
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import ECAlgorithm, OKPAlgorithm

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC_ALGORITHMS = frozenset({"EdDSA", "ES256"})
ALGORITHMS = HMAC_ALGORITHMS | ASYMMETRIC_ALGORITHMS
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", re.S)


class KeyConfigError(ValueError):
    """A key setting that cannot be used; its message never quotes key material."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str
    # What PyJWT signs and verifies with, parsed once: never a PEM per request.
    private: Any = field(repr=False)
    public: Any = field(repr=False)
    # The public JWK, for the JWKS; None for an HMAC secret, which is never published.
    jwk: dict[str, str] | None = None


@dataclass(frozen=True)
class PublishedKeys:
    """The JWKS as served: its document, and how long caches may keep it."""

    document: dict[str, list[dict[str, str]]]
    max_age_seconds: int

    @property
    def cache_control(self) -> str:
        return f"public, max-age={self.max_age_seconds}"


class KeyRing:
    """The keys tokens verify against, by kid, and the one that signs."""

    def __init__(self, keys: Iterable[SigningKey], *, signing_kid: str | None = None) -> None:
        self._keys = {key.kid: key for key in keys}
        if not self._keys:
            raise KeyConfigError("no signing key")
        kid = signing_kid or next(iter(self._keys))
        if kid not in self._keys:
            raise KeyConfigError(f"JWT_SIGNING_KID {kid!r} is none of the keys' kids")
        self.signing = self._keys[kid]

    @property
    def kids(self) -> list[str]:
        return list(self._keys)

    def find(self, kid: object) -> SigningKey | None:
        return self._keys.get(kid) if isinstance(kid, str) else None

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [key.jwk for key in self._keys.values() if key.jwk is not None]}

    def published(self, *, max_age_seconds: int) -> PublishedKeys:
        return PublishedKeys(document=self.jwks(), max_age_seconds=max_age_seconds)


def hmac_key(secret: str, algorithm: str) -> SigningKey:
    """The secret as a key; its kid is a digest that tells nothing about it."""
    if algorithm not in HMAC_ALGORITHMS:
        raise KeyConfigError(f"{algorithm} is not an HMAC algorithm")
    digest = hashlib.sha256(b"account-service kid\x00" + secret.encode()).digest()
    raw = secret.encode()
    return SigningKey(kid="hs-" + _b64(digest[:12]), algorithm=algorithm, private=raw, public=raw)


def private_key(pem: str) -> SigningKey:
    """An Ed25519 (EdDSA) or P-256 (ES256) private key from its PEM; kid: RFC 7638 thumbprint."""
    try:
        loaded = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise KeyConfigError(
            "an entry of JWT_PRIVATE_KEYS is not an unencrypted PEM private key"
        ) from None
    if isinstance(loaded, ed25519.Ed25519PrivateKey):
        algorithm, jwk = "EdDSA", OKPAlgorithm.to_jwk(loaded.public_key(), as_dict=True)
    elif isinstance(loaded, ec.EllipticCurvePrivateKey) and loaded.curve.name == "secp256r1":
        algorithm, jwk = "ES256", ECAlgorithm.to_jwk(loaded.public_key(), as_dict=True)
    else:
        raise KeyConfigError("JWT_PRIVATE_KEYS holds Ed25519 (EdDSA) or P-256 (ES256) keys only")
    kid = thumbprint(jwk)
    published = {**jwk, "kid": kid, "alg": algorithm, "use": "sig"}
    return SigningKey(
        kid=kid, algorithm=algorithm, private=loaded, public=loaded.public_key(), jwk=published
    )


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638: SHA-256 of the required members, sorted, without whitespace."""
    required = {"OKP": ("crv", "kty", "x"), "EC": ("crv", "kty", "x", "y")}[jwk["kty"]]
    canonical = json.dumps({name: jwk[name] for name in required}, separators=(",", ":"))
    return _b64(hashlib.sha256(canonical.encode()).digest())


def read_private_keys(setting: str | None) -> list[str]:
    """JWT_PRIVATE_KEYS, in order: PEM blocks one after the other, or `@/path`
    entries (a file of one or more PEM blocks), separated by commas or new
    lines. A literal `\\n` counts as a new line, for one-line platforms."""
    text = (setting or "").replace("\\n", "\n")
    pems: list[str] = []
    position = 0
    for block in [*_PEM_BLOCK.finditer(text), None]:
        between = text[position : block.start() if block else len(text)]
        pems.extend(pem for entry in re.split(r"[,\s]+", between) if entry for pem in _file(entry))
        if block:
            pems.append(block.group(0))
            position = block.end()
    return pems


def _file(entry: str) -> list[str]:
    if not entry.startswith("@"):
        raise KeyConfigError("JWT_PRIVATE_KEYS lists PEM private keys or @/path entries")
    try:
        content = Path(entry[1:]).read_text()
    except OSError as exc:
        raise KeyConfigError(f"cannot read the key file {entry[1:]}: {exc.strerror}") from None
    found = [match.group(0) for match in _PEM_BLOCK.finditer(content)]
    if not found:
        raise KeyConfigError(f"the key file {entry[1:]} holds no PEM private key")
    return found


def build_key_ring(
    *, algorithm: str, secret: str, private_pems: list[str], signing_kid: str | None
) -> KeyRing:
    """The ring the settings describe. With HMAC the secret signs, and private
    keys listed beside it only verify (published ahead of a move to EdDSA or
    ES256); otherwise the private keys are the whole ring."""
    keys = [private_key(pem) for pem in private_pems]
    if algorithm in HMAC_ALGORITHMS:
        secret_key = hmac_key(secret, algorithm)
        return KeyRing([secret_key, *keys], signing_kid=secret_key.kid)
    if algorithm not in ALGORITHMS:
        raise KeyConfigError(f"JWT_ALGORITHM is one of {', '.join(sorted(ALGORITHMS))}")
    if not keys:
        raise KeyConfigError(f"JWT_ALGORITHM={algorithm} needs JWT_PRIVATE_KEYS")
    ring = KeyRing(keys, signing_kid=signing_kid)
    if ring.signing.algorithm != algorithm:
        raise KeyConfigError(
            f"the signing key {ring.signing.kid} is a {ring.signing.algorithm} key, "
            f"not one for JWT_ALGORITHM={algorithm}"
        )
    return ring


def generate_private_key(algorithm: str) -> SigningKey:
    """A new private key for `algorithm`, for `python -m service keys`."""
    if algorithm == "EdDSA":
        key: Any = ed25519.Ed25519PrivateKey.generate()
    elif algorithm == "ES256":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        raise KeyConfigError(f"no key to generate for {algorithm}")
    return private_key(private_pem(key))


def private_pem(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
