"""The audit trail: authentication events, appended to `auth_events` and
read back by their user. The only module that writes `auth_events`.

Write-behind: `record()` only puts the event on a bounded queue, and a
daemon thread inserts what has gathered, at most FLUSH_INTERVAL_SECONDS
later, as one executemany in one transaction. Refresh is the hottest write
path (one statement per rotation): an INSERT of its own per request would
double its round trips, a batch costs a fraction of one. The trade-off: a
hard crash (SIGKILL, power loss) loses what was recorded in its last
interval. A normal shutdown writes everything (`shutdown()`), and a read
first writes what is pending (`flush()`), so one's own last action shows.

Recording never blocks the event loop and never fails its caller: a full
queue drops the event (counted, with a warning at most once a minute); a
failed insert is logged and dropped. Never a password, a token or a hash;
a failed login of an unknown email names no account.
"""

import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, insert, literal, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from service.audit_events import Event, EventKind, EventPage
from service.devices import device_name
from service.models import IP_MAX_LENGTH, USER_AGENT_MAX_LENGTH, AuthEvent, utcnow
from service.requester import Requester

logger = logging.getLogger("service.audit")

_EVENTS = AuthEvent.__table__
# Long enough to gather a burst into one INSERT, short enough that little
# is at stake in a crash.
FLUSH_INTERVAL_SECONDS = 0.2
MAX_PENDING = 10_000
MAX_BATCH = 500
DROP_WARNING_SECONDS = 60.0
# A read waits at most this long for pending events (the database may be down).
FLUSH_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class _Pending:
    at: datetime
    kind: str
    user_id: int | None
    login_id: str | None
    actor_id: int | None
    requester: Requester | None

    def row(self) -> dict[str, object]:
        # The device is named here, on the writer's thread: parsing a new
        # User-Agent costs more than the whole of record().
        requester = self.requester
        user_agent = requester.user_agent if requester else None
        return {
            "at": self.at,
            "kind": self.kind,
            "user_id": self.user_id,
            "login_id": self.login_id,
            "actor_id": self.actor_id,
            "ip": requester.ip[:IP_MAX_LENGTH] if requester and requester.ip else None,
            "user_agent": user_agent[:USER_AGENT_MAX_LENGTH] if user_agent else None,
            "device": device_name(user_agent) if requester else None,
        }


_SEEN_KINDS = (EventKind.LOGIN_SUCCEEDED.value, EventKind.USER_CREATED.value)


class AuditTrail:
    """The trail of one application instance: a queue and the thread that empties it."""

    def __init__(
        self,
        engine: Engine,
        *,
        interval: float = FLUSH_INTERVAL_SECONDS,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.engine = engine
        self.interval = interval
        self.dropped = 0
        # None is the writer's signal to stop.
        self._queue: queue.Queue[_Pending | None] = queue.Queue(maxsize=max_pending)
        # Guards the counters below; the writer signals progress on it.
        self._progress = threading.Condition()
        self._recorded = 0
        self._settled = 0
        self._last_drop_warning = float("-inf")
        self._closed = False
        self._thread: threading.Thread | None = None
        # Cuts the writer's wait for a batch short: someone is waiting.
        self._hurry = threading.Event()

    def record(
        self,
        kind: EventKind,
        *,
        user_id: int | None = None,
        login_id: str | None = None,
        actor_id: int | None = None,
        requester: Requester | None = None,
    ) -> None:
        """Queue an event for writing; never blocks, never raises."""
        pending = _Pending(utcnow(), kind.value, user_id, login_id, actor_id, requester)
        with self._progress:
            if self._closed:
                return
            try:
                self._queue.put_nowait(pending)
            except queue.Full:
                self._dropped()
                return
            self._recorded += 1
            if self._thread is None:
                self._start()

    def flush(self, timeout: float = FLUSH_TIMEOUT_SECONDS) -> bool:
        """Wait until every event recorded so far is written (or given up on);
        False if that took longer than `timeout`."""
        deadline = time.monotonic() + timeout
        with self._progress:
            target = self._recorded
            while self._settled < target:
                self._hurry.set()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._progress.wait(min(remaining, self.interval))
        return True

    def shutdown(self, timeout: float = FLUSH_TIMEOUT_SECONDS) -> None:
        """Write what is pending, then stop the writer."""
        self.flush(timeout)
        with self._progress:
            self._closed = True
            thread = self._thread
        if thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._hurry.set()
        thread.join(timeout)

    # Reads, on the caller's thread

    def page(self, user_id: int, *, before: int | None, limit: int) -> EventPage:
        """The user's events newest first, those with ids below `before` if given."""
        query = select(_EVENTS).where(_EVENTS.c.user_id == user_id)
        if before is not None:
            query = query.where(_EVENTS.c.id < before)
        # One more than asked for tells whether there is a next page.
        query = query.order_by(_EVENTS.c.id.desc()).limit(limit + 1)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        events = [Event(**row._asdict()) for row in rows[:limit]]
        return EventPage(events, events[-1].id if len(rows) > limit else None)

    def seen_recently(self, user_id: int, *, device: str, ip: str | None, since: datetime) -> bool:
        """Whether the user logged in (or signed up) from this device and address since `since`."""
        stored_ip = ip[:IP_MAX_LENGTH] if ip else None
        query = (
            select(literal(1))
            .where(
                _EVENTS.c.user_id == user_id,
                # Signing up from a device makes it the account's, as a login does.
                _EVENTS.c.kind.in_(_SEEN_KINDS),
                _EVENTS.c.device == device,
                (_EVENTS.c.ip == stored_ip) if stored_ip else _EVENTS.c.ip.is_(None),
                _EVENTS.c.at >= since,
            )
            .limit(1)
        )
        try:
            with self.engine.connect() as connection:
                return connection.scalar(query) is not None
        except SQLAlchemyError as exc:
            # Reading the trail serves a notice, never the login itself: one
            # that cannot be read counts as seen, and the login goes on.
            logger.warning("audit: trail not read: %s", type(exc).__name__)
            return True

    # The writer's thread

    def _start(self) -> None:
        # On first use: an app that records nothing has no thread.
        self._thread = threading.Thread(target=self._run, name="audit", daemon=True)
        try:
            self._thread.start()
        except RuntimeError as exc:  # no thread to be had: the events wait in the queue
            logger.warning("audit: writer not started: %s", exc)
            self._thread = None

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            # A full batch already waiting has nothing to wait for.
            if self._queue.qsize() < MAX_BATCH:
                self._hurry.wait(self.interval)
                self._hurry.clear()
            batch, stop = self._take(first)
            self._write(batch)
            with self._progress:
                self._settled += len(batch)
                self._progress.notify_all()
            if stop:
                return

    def _take(self, first: _Pending) -> tuple[list[_Pending], bool]:
        """`first` and what else is queued, up to MAX_BATCH; and whether to stop after."""
        batch = [first]
        while len(batch) < MAX_BATCH:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _write(self, batch: list[_Pending]) -> None:
        try:
            rows = [pending.row() for pending in batch]
            with self.engine.begin() as connection:
                connection.execute(insert(_EVENTS), rows)
        except Exception as exc:  # whatever failed, no request may see it
            first_line = str(exc).splitlines()[0][:200] if str(exc) else ""
            logger.warning(
                "audit: %d events not written: %s: %s", len(batch), type(exc).__name__, first_line
            )

    def _dropped(self) -> None:
        # Under self._progress.
        self.dropped += 1
        now = time.monotonic()
        if now - self._last_drop_warning >= DROP_WARNING_SECONDS:
            self._last_drop_warning = now
            logger.warning(
                "audit: queue full (%d events), %d dropped so far",
                self._queue.maxsize,
                self.dropped,
            )


def prune(db: Session, *, older_than: datetime) -> int:
    """Delete the events from before `older_than`; how many went."""
    deleted = db.execute(
        delete(AuthEvent)
        .where(AuthEvent.at < older_than)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.commit()
    return deleted
