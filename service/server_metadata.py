"""What RFC 8414 lets a client learn of this authorization server, and the
issuer every URL of it hangs from."""

from typing import Any

from service.config import Settings
from service.scopes import DESCRIPTIONS

# Only the password and refresh grants: there is no authorization endpoint.
GRANT_TYPES = ("password", "refresh_token")


def issuer(settings: Settings) -> str:
    """The issuer identifier (RFC 8414 2): the one place it is decided.

    It is the `iss` of every token (JWT_ISSUER, else PUBLIC_URL), as RFC 8414 3.3 requires.
    """
    return settings.token_issuer.rstrip("/")


def authorization_server_metadata(settings: Settings) -> dict[str, Any]:
    base = issuer(settings)
    return {
        "issuer": base,
        "token_endpoint": f"{base}/login",
        "revocation_endpoint": f"{base}/revoke",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "grant_types_supported": list(GRANT_TYPES),
        "scopes_supported": sorted(DESCRIPTIONS),
        # REQUIRED by RFC 8414 2 even without an authorization endpoint (which
        # may be left out when no grant uses it): none are supported, so none.
        "response_types_supported": [],
        # Public clients: nothing to authenticate them with (docs/API-NOTES.md).
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "service_documentation": f"{base}/docs",
    }
