"""What can go wrong, in the domain's words: the services raise these, and
errors.py alone decides how each is told over HTTP (status, code, message,
headers). Nothing here knows about HTTP.
"""

from collections.abc import Sequence
from enum import StrEnum


class Problem(StrEnum):
    # Signing in and tokens
    NOT_AUTHENTICATED = "not_authenticated"
    INVALID_CREDENTIALS = "invalid_credentials"
    EMAIL_NOT_VERIFIED = "email_not_verified"
    TOKEN_INVALID = "token_invalid"
    TOKEN_EXPIRED = "token_expired"
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
    UNKNOWN_SCOPE = "unknown_scope"
    SCOPE_NOT_ALLOWED = "scope_not_allowed"
    INSUFFICIENT_SCOPE = "insufficient_scope"
    RATE_LIMITED = "rate_limited"
    # Mailed links
    ACCOUNT_TOKEN_INVALID = "account_token_invalid"
    # Accounts
    FORBIDDEN = "forbidden"
    NO_SUCH_USER = "no_such_user"
    NO_SUCH_SESSION = "no_such_session"
    EMAIL_TAKEN = "email_taken"
    LAST_SUPERUSER = "last_superuser"
    CURRENT_PASSWORD_REQUIRED = "current_password_required"
    CURRENT_PASSWORD_WRONG = "current_password_wrong"
    WEAK_PASSWORD = "weak_password"
    # Input the request layer refuses
    FIELD_REQUIRED = "field_required"
    SENT_TWICE = "sent_twice"
    # RFC 7009 2.2.1 makes these a 400 on the revocation endpoint
    PARAMETER_MISSING = "parameter_missing"
    PARAMETER_REPEATED = "parameter_repeated"
    INVALID_VALUE = "invalid_value"
    INVALID_EMAIL = "invalid_email"
    INVALID_JSON = "invalid_json"
    BAD_REQUEST = "bad_request"
    REQUEST_TOO_LARGE = "request_too_large"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CORS_REJECTED = "cors_rejected"
    ORIGIN_REFUSED = "origin_refused"
    CSRF_FAILED = "csrf_failed"
    # The service itself
    INTERNAL_ERROR = "internal_error"
    SERVICE_UNAVAILABLE = "service_unavailable"
    THROTTLING_STORE_DOWN = "throttling_store_down"


class DomainError(Exception):
    """A `Problem`, for the fields it concerns.

    `messages` replaces the table's message where the words come from the
    domain (one per broken password rule); `params` fill its template (the
    wait of a 429) and its headers.
    """

    def __init__(
        self,
        problem: Problem,
        *fields: str | None,
        messages: Sequence[str] = (),
        **params: object,
    ) -> None:
        super().__init__(problem.value)
        self.problem = problem
        self.fields = fields
        self.messages = tuple(messages)
        self.params = params
