"""Sessions a person can see and end: their own, and anyone's for superusers."""

from typing import Annotated

from fastapi import APIRouter, Path, status

from service.deps import (
    LoginSessionsDep,
    ReadsSessions,
    RequesterDep,
    SessionsReadTarget,
    SessionsWriteTarget,
    WritesSessions,
)
from service.devices import UNKNOWN_DEVICE
from service.logins import LiveLogin, Principal
from service.openapi import ALWAYS, SIGNED_IN, error_responses
from service.problems import Problem
from service.schemas import SessionPublic

router = APIRouter(prefix="/users", tags=["sessions"])

SessionId = Annotated[str, Path(description="A session's id, as the list gives it")]
_FOR_SOMEONE = (*SIGNED_IN, Problem.FORBIDDEN, Problem.NO_SUCH_USER, *ALWAYS)


def _shown(logins: list[LiveLogin], principal: Principal) -> list[SessionPublic]:
    return [
        SessionPublic(
            id=login.id,
            created_at=login.created_at,
            last_used_at=login.last_used_at,
            expires_at=login.expires_at,
            device=login.device or UNKNOWN_DEVICE,
            ip=login.ip,
            current=login.id == principal.login_id,
        )
        for login in logins
    ]


@router.get(
    "/me/sessions",
    summary="The signed-in user's sessions, newest first",
    response_model=list[SessionPublic],
    responses=error_responses(*SIGNED_IN, *ALWAYS),
)
async def my_sessions(principal: ReadsSessions, sessions: LoginSessionsDep) -> list[SessionPublic]:
    return _shown(await sessions.live(user_id=principal.user.id), principal)


@router.delete(
    "/me/sessions",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End every session of the signed-in user but this one",
    responses=error_responses(*SIGNED_IN, *ALWAYS),
)
async def end_my_other_sessions(
    principal: WritesSessions, sessions: LoginSessionsDep, requester: RequesterDep
) -> None:
    user = principal.user
    await sessions.end_others(
        actor=principal, user_id=user.id, email=user.email, requester=requester
    )


@router.delete(
    "/me/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End one session of the signed-in user (this one too: it is a logout)",
    responses=error_responses(*SIGNED_IN, Problem.NO_SUCH_SESSION, *ALWAYS),
)
async def end_my_session(
    session_id: SessionId,
    principal: WritesSessions,
    sessions: LoginSessionsDep,
    requester: RequesterDep,
) -> None:
    user = principal.user
    await sessions.end(
        actor=principal,
        user_id=user.id,
        email=user.email,
        session_id=session_id,
        requester=requester,
    )


@router.get(
    "/{user_id}/sessions",
    summary="A user's sessions (itself, or anyone for superusers)",
    response_model=list[SessionPublic],
    responses=error_responses(*_FOR_SOMEONE),
)
async def user_sessions(
    target: SessionsReadTarget, sessions: LoginSessionsDep
) -> list[SessionPublic]:
    return _shown(await sessions.live(user_id=target.user.id), target.principal)


@router.delete(
    "/{user_id}/sessions",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End every session of a user (but the caller's own)",
    responses=error_responses(*_FOR_SOMEONE),
)
async def end_user_sessions(
    target: SessionsWriteTarget, sessions: LoginSessionsDep, requester: RequesterDep
) -> None:
    user = target.user
    await sessions.end_others(
        actor=target.principal, user_id=user.id, email=user.email, requester=requester
    )


@router.delete(
    "/{user_id}/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End one session of a user (itself, or anyone for superusers)",
    responses=error_responses(*_FOR_SOMEONE, Problem.NO_SUCH_SESSION),
)
async def end_user_session(
    session_id: SessionId,
    target: SessionsWriteTarget,
    sessions: LoginSessionsDep,
    requester: RequesterDep,
) -> None:
    user = target.user
    await sessions.end(
        actor=target.principal,
        user_id=user.id,
        email=user.email,
        session_id=session_id,
        requester=requester,
    )
