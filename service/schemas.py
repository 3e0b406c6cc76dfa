"""The API's request and response shapes. Tables live in models.py."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from service.audit_events import EventKind, EventPage
from service.config import serving_settings
from service.emails import InvalidEmailError, normalize_email
from service.models import EMAIL_MAX_LENGTH, FULL_NAME_MAX_LENGTH
from service.passwords import password_problems
from service.text import has_control_characters

# Passwords are refused past 72 bytes anyway; this bounds the work spent on input.
PASSWORD_INPUT_LIMIT = 1024


def is_encodable(value: str) -> bool:
    """False for strings with lone surrogates, which JSON can carry but UTF-8 cannot."""
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _unicode_text(value: str) -> str:
    if not is_encodable(value):
        raise PydanticCustomError("invalid_text", "Must be valid Unicode text")
    return value


def _printable_text(value: str | None) -> str | None:
    """Text the database can store and a person could have typed: no control characters."""
    if value is None:
        return None
    _unicode_text(value)
    if has_control_characters(value):
        raise PydanticCustomError("invalid_text", "Must not contain control characters")
    return value


def _normalize_email(value: object) -> str:
    if not isinstance(value, str) or not is_encodable(value):
        raise PydanticCustomError("invalid_email", "Must be an email address")
    try:
        return normalize_email(value)
    except InvalidEmailError as exc:
        if exc.reason is None:
            raise PydanticCustomError("invalid_email", exc.message) from exc
        raise PydanticCustomError(
            "invalid_email", exc.message + ": {reason}", {"reason": exc.reason}
        ) from exc


EmailAddress = Annotated[
    str,
    BeforeValidator(_normalize_email),
    WithJsonSchema(
        {"type": "string", "format": "email", "maxLength": EMAIL_MAX_LENGTH},
        mode="validation",
    ),
]
FullName = Annotated[
    str | None, Field(max_length=FULL_NAME_MAX_LENGTH), AfterValidator(_printable_text)
]
PasswordInput = Annotated[
    str, Field(max_length=PASSWORD_INPUT_LIMIT), AfterValidator(_unicode_text)
]
# Opaque strings the service only compares or decodes, e.g. tokens and the login name.
PrintableText = Annotated[str, AfterValidator(_printable_text)]
Timestamp = Annotated[
    datetime,
    PlainSerializer(
        lambda value: value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), return_type=str
    ),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]


def check_new_password(password: str, email: str | None) -> str:
    """Raise one validation error that lists every rule `password` breaks."""
    problems = password_problems(
        password, min_length=serving_settings().password_min_length, email=email
    )
    if problems:
        raise PydanticCustomError("weak_password", problems[0], {"problems": problems})
    return password


# A new password for an account the request does not name: the rules but
# similarity to the email, which the service judges, knowing the account.
NewPasswordInput = Annotated[
    PasswordInput, AfterValidator(lambda password: check_new_password(password, None))
]


class RequestModel(BaseModel):
    # A misspelt field is an error, not a silently ignored no-op.
    model_config = ConfigDict(extra="forbid")


def _not_null(value: Any) -> Any:
    """Optional fields of a partial update may be left out, but not sent as null."""
    if value is None:
        raise PydanticCustomError("null_value", "May be left out, but not null")
    return value


class UserCreate(RequestModel):
    email: EmailAddress
    password: PasswordInput
    full_name: FullName = None

    @field_validator("password")
    @classmethod
    def _strong_password(cls, password: str, info: ValidationInfo) -> str:
        return check_new_password(password, info.data.get("email"))


class UserUpdateMe(RequestModel):
    """PATCH /users/me: absent fields are left as they are."""

    full_name: FullName = None
    email: EmailAddress | None = None
    current_password: PasswordInput | None = None

    _present_means_not_null = field_validator("email", "current_password")(_not_null)


class UserUpdate(RequestModel):
    """PUT/PATCH /users/{id}: absent fields are left as they are."""

    email: EmailAddress | None = None
    full_name: FullName = None
    password: PasswordInput | None = None
    # JSON true or false only: "yes", 0 or "off" are mistakes, not flags.
    is_active: StrictBool | None = None
    is_superuser: StrictBool | None = None
    current_password: PasswordInput | None = None

    _present_means_not_null = field_validator(
        "email", "password", "is_active", "is_superuser", "current_password"
    )(_not_null)

    @field_validator("password")
    @classmethod
    def _strong_password(cls, password: str, info: ValidationInfo) -> str:
        return check_new_password(password, info.data.get("email"))


class PasswordChange(RequestModel):
    current_password: PasswordInput
    new_password: NewPasswordInput


class RefreshRequest(RequestModel):
    refresh_token: Annotated[PrintableText, Field(min_length=1, max_length=4096)]


class ForgotPassword(RequestModel):
    email: EmailAddress


# Tokens sent by mail are 43 characters; a bound keeps hostile input cheap.
AccountTokenText = Annotated[PrintableText, Field(min_length=1, max_length=128)]


class PasswordReset(RequestModel):
    token: AccountTokenText
    new_password: NewPasswordInput


class EmailVerification(RequestModel):
    token: AccountTokenText


class EmailChangeConfirmation(RequestModel):
    token: AccountTokenText


class Accepted(BaseModel):
    """A 202: the request is taken; what follows happens by mail."""

    status: Literal["accepted"] = "accepted"


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str = Field(examples=["ada@example.com"])
    full_name: str | None = Field(examples=["Ada Lovelace"])
    is_active: bool
    is_superuser: bool = Field(description="Whether the role is `admin`")
    role: str = Field(
        description="`user` or `admin`: what the account's logins may be granted",
        examples=["user"],
    )
    is_verified: bool = Field(description="The owner has shown the address is theirs")
    pending_email: str | None = Field(
        description="An address asked for and not yet confirmed from its mailbox",
        examples=[None],
    )
    created_at: Timestamp
    updated_at: Timestamp


class SessionPublic(BaseModel):
    """A login as its owner sees it."""

    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="Opaque; the id to end it by")
    created_at: Timestamp
    last_used_at: Timestamp = Field(description="The last refresh, or the login itself")
    expires_at: Timestamp = Field(description="When it ends unless it is refreshed again")
    device: str = Field(examples=["Firefox on Ubuntu"], description="Read from the User-Agent")
    ip: str | None = Field(
        examples=["198.51.100.7"], description="The client address, as the trusted proxies name it"
    )
    current: bool = Field(description="The session of the token that asked")


class AuthEventPublic(BaseModel):
    """One event of the audit trail, as its user (or a superuser) sees it."""

    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="Increases with time; pages are cut by it")
    at: Timestamp
    kind: EventKind
    session_id: str | None = Field(
        validation_alias="login_id", description="The login session the event concerns"
    )
    ip: str | None = Field(description="The client address, as resolved through trusted proxies")
    device: str | None = Field(examples=["Firefox on Ubuntu"])
    user_agent: str | None
    actor_id: int | None = Field(
        description="The superuser who acted, when it was not the user itself"
    )


class AuthEventsPage(BaseModel):
    events: list[AuthEventPublic]
    next_before: int | None = Field(
        description="Pass as `before` for the next (older) page; null on the last one"
    )

    @classmethod
    def of(cls, page: EventPage) -> "AuthEventsPage":
        return cls(
            events=[AuthEventPublic.model_validate(event) for event in page.events],
            next_before=page.next_before,
        )


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds the access token lives")
    scope: str = Field(
        description="The scopes the access token was granted, space-separated (RFC 6749 5.1)",
        examples=["events:read profile:read profile:write sessions:read sessions:write"],
    )


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class HealthDb(BaseModel):
    status: Literal["ok"] = "ok"
    db: Literal["reachable"] = "reachable"
    # Where login and sign-up attempts are counted; it answered too.
    throttling_store: Literal["database", "redis", "off"]
