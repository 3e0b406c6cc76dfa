"""What the audit trail records and gives back: the kinds of event, an event
as read, and a page of them. audit.py writes and reads them."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

# The largest id the column can hold (BIGINT on PostgreSQL, INTEGER on SQLite).
MAX_EVENT_ID = 2**63 - 1


class EventKind(StrEnum):
    LOGIN_SUCCEEDED = "login_succeeded"
    LOGIN_FAILED = "login_failed"
    LOGIN_THROTTLED = "login_throttled"
    REFRESHED = "refreshed"
    REFRESH_REUSE_DETECTED = "refresh_reuse_detected"
    LOGGED_OUT = "logged_out"
    SIGNED_OUT_EVERYWHERE = "signed_out_everywhere"
    SESSION_ENDED = "session_ended"
    PASSWORD_CHANGED = "password_changed"
    PASSWORD_RESET = "password_reset"
    EMAIL_CHANGE_REQUESTED = "email_change_requested"
    EMAIL_CHANGED = "email_changed"
    EMAIL_VERIFIED = "email_verified"
    USER_CREATED = "user_created"
    USER_UPDATED = "user_updated"
    USER_DEACTIVATED = "user_deactivated"
    USER_DELETED = "user_deleted"


@dataclass(frozen=True, slots=True)
class Event:
    """One stored event, as read back."""

    id: int
    at: datetime
    kind: str
    user_id: int | None
    login_id: str | None
    actor_id: int | None
    ip: str | None
    user_agent: str | None
    device: str | None


@dataclass(frozen=True, slots=True)
class EventPage:
    """Events newest first; `next_before` is the `before` of the next page, if any."""

    events: list[Event]
    next_before: int | None
