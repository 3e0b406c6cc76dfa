"""The one form an email address has in this service: what sign-up stores,
and what every lookup by a typed address compares with.

`email_validator` normalizes the domain (IDNA, so `xn--bcher-kva` and
`bücher` are one domain; fullwidth letters fold to ASCII) and the local
part (Unicode NFC); then the whole address is lower-cased, which makes the
unique index on users.email case-insensitive.
"""

from email_validator import EmailNotValidError, validate_email

from service.models import EMAIL_MAX_LENGTH

# RFC 5321 allows 64 + 1 + 255 octets; longer input is refused before it is parsed.
EMAIL_INPUT_LIMIT = 320


class InvalidEmailError(ValueError):
    """Not an address this service can store; `reason` is the validator's, if any."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message if reason is None else f"{message}: {reason}")
        self.message = message
        self.reason = reason


def normalize_email(value: str) -> str:
    """The stored form of `value`, or InvalidEmailError."""
    candidate = value.strip()
    if len(candidate) > EMAIL_INPUT_LIMIT:
        raise InvalidEmailError("The email address is too long")
    try:
        address = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmailError("Not a valid email address", str(exc)) from exc
    normalized = address.normalized.lower()
    if len(normalized) > EMAIL_MAX_LENGTH:
        raise InvalidEmailError("The email address is too long")
    return normalized


def lookup_form(value: str) -> str:
    """What to look an account up by (and count its logins under) for a typed
    address: the stored form when `value` is an address, else the text itself,
    trimmed and lower-cased, which no stored address equals."""
    try:
        return normalize_email(value)
    except InvalidEmailError:
        return value.strip().lower()
