"""The audit trail, read by its user (and by superusers, of anyone)."""

from typing import Annotated

from fastapi import APIRouter, Query

from service.audit_events import MAX_EVENT_ID
from service.deps import AuthenticationDep, EventsReadTarget, ReadsEvents
from service.openapi import ALWAYS, SIGNED_IN, error_responses
from service.problems import Problem
from service.schemas import AuthEventsPage

router = APIRouter(prefix="/users", tags=["users"])

Before = Annotated[
    int | None,
    Query(ge=1, le=MAX_EVENT_ID, description="Only events older than this id (`next_before`)"),
]
Limit = Annotated[int, Query(ge=1, le=100)]


@router.get(
    "/me/events",
    summary="The signed-in user's audit trail, newest first",
    response_model=AuthEventsPage,
    responses=error_responses(*SIGNED_IN, *ALWAYS),
)
async def read_my_events(
    principal: ReadsEvents,
    authentication: AuthenticationDep,
    before: Before = None,
    limit: Limit = 50,
) -> AuthEventsPage:
    page = await authentication.events(user_id=principal.user.id, before=before, limit=limit)
    return AuthEventsPage.of(page)


@router.get(
    "/{user_id}/events",
    summary="A user's audit trail, newest first (itself, or anyone for superusers)",
    response_model=AuthEventsPage,
    responses=error_responses(*SIGNED_IN, Problem.FORBIDDEN, Problem.NO_SUCH_USER, *ALWAYS),
)
async def read_user_events(
    target: EventsReadTarget,
    authentication: AuthenticationDep,
    before: Before = None,
    limit: Limit = 50,
) -> AuthEventsPage:
    page = await authentication.events(user_id=target.user.id, before=before, limit=limit)
    return AuthEventsPage.of(page)
