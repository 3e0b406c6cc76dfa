"""The one rule about superusers as a group: at least one active superuser
remains. Every change that could take one away (demoting, deactivating,
deleting) calls `keep_one_active` first, in the change's own transaction.
"""

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.models import User
from service.problems import DomainError, Problem

_ACTIVE_SUPERUSER = (User.is_superuser.is_(True), User.is_active.is_(True))


def last_superuser(field: str | None) -> DomainError:
    return DomainError(Problem.LAST_SUPERUSER, field)


def keep_one_active(db: Session, *, losing: int, field: str | None = None) -> None:
    """409 if user `losing` is the only active superuser; call it in the
    transaction that is about to demote, deactivate or delete that user.

    The active superusers stay locked until that transaction ends, so two
    superusers removing each other at once are serialized: the second sees
    the first's change and is refused. On a refusal the transaction is rolled
    back at once, so no lock is held while the error is answered.
    """
    remaining = _lock_active_superusers(db)
    if remaining == [losing]:
        db.rollback()
        raise last_superuser(field)


def _lock_active_superusers(db: Session) -> list[int]:
    if db.get_bind().dialect.name == "postgresql":
        # Row locks; under READ COMMITTED a waiter re-reads the rows once the
        # holder commits, so it counts what the holder left. Ordered by id so
        # two lockers take the rows in one order and cannot deadlock.
        return list(
            db.scalars(
                select(User.id).where(*_ACTIVE_SUPERUSER).order_by(User.id).with_for_update()
            )
        )
    # SQLite has no row locks: a write that changes nothing takes the
    # database's write lock now rather than at the change, so the count below
    # and the change cannot interleave with another writer's. It names
    # updated_at itself, or the column's onupdate would stamp every superuser.
    db.execute(
        update(User)
        .where(*_ACTIVE_SUPERUSER)
        .values(updated_at=User.updated_at)
        .execution_options(synchronize_session=False)
    )
    return list(db.scalars(select(User.id).where(*_ACTIVE_SUPERUSER).order_by(User.id)))
