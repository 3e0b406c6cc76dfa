"""CSRF tokens for cookie logins: one per login, derived from its id with a
key of the service's, so a token is bound to the session it was given for and
needs no storage (OWASP's signed double-submit cookie)."""

import base64
import hashlib
import hmac


class CsrfTokens:
    def __init__(self, secret: str) -> None:
        # A key of its own, so a CSRF token can never pass for anything signed
        # with the secret itself.
        self._key = hashlib.sha256(b"csrf-token-key\x00" + secret.encode()).digest()

    def for_login(self, login_id: str) -> str:
        mac = hmac.new(self._key, login_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def matches(self, login_id: str, presented: str) -> bool:
        # As bytes: compare_digest refuses str that is not ASCII, and a header may be anything.
        return hmac.compare_digest(self.for_login(login_id).encode(), presented.encode())
