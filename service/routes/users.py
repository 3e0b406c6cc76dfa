"""Sign-up, the signed-in user's own account, and user management."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from starlette.concurrency import run_in_threadpool

from service import accounts
from service.deps import (
    ClientAddress,
    CurrentPrincipal,
    CurrentUser,
    DbSession,
    Hasher,
    Mail,
    RequesterDep,
    Sessions,
    SettingsDep,
    TargetUser,
    ThrottleDep,
    require_superuser,
)
from service.openapi import ALWAYS, SIGNED_IN, WITH_BODY, Documented, error_responses
from service.problems import Problem
from service.schemas import PasswordChange, UserCreate, UserPublic, UserUpdate, UserUpdateMe

router = APIRouter(prefix="/users", tags=["users"])

_UPDATE_ERRORS = (
    *SIGNED_IN,
    Problem.FORBIDDEN,
    Problem.CURRENT_PASSWORD_WRONG,
    Problem.EMAIL_TAKEN,
    Problem.FIELD_REQUIRED,
    Problem.INVALID_EMAIL,
    Problem.WEAK_PASSWORD,
    *WITH_BODY,
)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Sign up",
    response_model=UserPublic,
    responses=error_responses(
        Problem.EMAIL_TAKEN,
        Problem.FIELD_REQUIRED,
        Problem.INVALID_EMAIL,
        Problem.WEAK_PASSWORD,
        Problem.RATE_LIMITED,
        *WITH_BODY,
    ),
)
async def sign_up(
    body: UserCreate,
    response: Response,
    db: DbSession,
    hasher: Hasher,
    throttle: ThrottleDep,
    address: ClientAddress,
    settings: SettingsDep,
    mail: Mail,
    requester: RequesterDep,
) -> UserPublic:
    # Counted before the hash, so a flood of sign-ups cannot spend the CPU.
    await run_in_threadpool(throttle.spend_signup, address)
    user = await accounts.register(
        db=db, hasher=hasher, settings=settings, mail=mail, requester=requester, data=body
    )
    response.headers["Location"] = f"/users/{user.id}"
    return UserPublic.model_validate(user)


@router.get(
    "/me",
    summary="The signed-in user",
    response_model=UserPublic,
    responses=error_responses(*SIGNED_IN, *ALWAYS),
)
async def read_me(user: CurrentUser) -> UserPublic:
    return user


@router.patch(
    "/me",
    summary="Change the signed-in user's name or email",
    response_model=UserPublic,
    responses=error_responses(*_UPDATE_ERRORS),
)
async def update_me(
    body: UserUpdateMe,
    principal: CurrentPrincipal,
    db: DbSession,
    hasher: Hasher,
    store: Sessions,
    settings: SettingsDep,
    mail: Mail,
    requester: RequesterDep,
) -> UserPublic:
    changes = UserUpdate.model_validate(body.model_dump(exclude_unset=True))
    return await _update_user(
        body=changes,
        target=principal.user,
        principal=principal,
        db=db,
        hasher=hasher,
        store=store,
        settings=settings,
        mail=mail,
        requester=requester,
    )


@router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete the signed-in user",
    responses=error_responses(*SIGNED_IN, Problem.LAST_SUPERUSER, *ALWAYS),
)
def delete_me(user: CurrentUser, db: DbSession) -> None:
    accounts.delete_user(db, user_id=user.id)


@router.post(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Change the password; every other session is signed out",
    responses=error_responses(
        *SIGNED_IN,
        Problem.CURRENT_PASSWORD_WRONG,
        Problem.FIELD_REQUIRED,
        Documented(Problem.WEAK_PASSWORD, "new_password"),
        *WITH_BODY,
    ),
)
async def change_my_password(
    body: PasswordChange,
    principal: CurrentPrincipal,
    db: DbSession,
    hasher: Hasher,
    store: Sessions,
    settings: SettingsDep,
    mail: Mail,
    requester: RequesterDep,
) -> None:
    await accounts.change_password(
        db=db,
        hasher=hasher,
        store=store,
        settings=settings,
        mail=mail,
        requester=requester,
        user_id=principal.user.id,
        login_id=principal.login_id,
        current_password=body.current_password,
        new_password=body.new_password,
    )


@router.get(
    "",
    summary="List users (superusers)",
    response_model=list[UserPublic],
    dependencies=[Depends(require_superuser)],
    responses=error_responses(*SIGNED_IN, Problem.FORBIDDEN, *ALWAYS),
)
def list_users(
    db: DbSession,
    skip: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> list[UserPublic]:
    return [
        UserPublic.model_validate(user) for user in accounts.list_users(db, skip=skip, limit=limit)
    ]


@router.get(
    "/{user_id}",
    summary="A user (itself, or anyone for superusers)",
    response_model=UserPublic,
    responses=error_responses(*SIGNED_IN, Problem.FORBIDDEN, Problem.NO_SUCH_USER, *ALWAYS),
)
async def read_user(user: TargetUser) -> UserPublic:
    return user


async def _update_user(
    body: UserUpdate,
    target: TargetUser,
    principal: CurrentPrincipal,
    db: DbSession,
    hasher: Hasher,
    store: Sessions,
    settings: SettingsDep,
    mail: Mail,
    requester: RequesterDep,
) -> UserPublic:
    user = await accounts.update_user(
        db=db,
        hasher=hasher,
        store=store,
        settings=settings,
        mail=mail,
        requester=requester,
        actor=principal.user,
        actor_login=principal.login_id,
        target_id=target.id,
        changes=body,
    )
    return UserPublic.model_validate(user)


for _method in ("PUT", "PATCH"):
    router.add_api_route(
        "/{user_id}",
        _update_user,
        methods=[_method],
        name=f"update_user_{_method.lower()}",
        summary="Change a user (itself, or anyone for superusers); fields absent stay as they are",
        response_model=UserPublic,
        responses=error_responses(*_UPDATE_ERRORS, Problem.NO_SUCH_USER, Problem.LAST_SUPERUSER),
    )


@router.delete(
    "/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a user (itself, or anyone for superusers)",
    responses=error_responses(
        *SIGNED_IN, Problem.FORBIDDEN, Problem.NO_SUCH_USER, Problem.LAST_SUPERUSER, *ALWAYS
    ),
)
def delete_user(user: TargetUser, db: DbSession) -> None:
    accounts.delete_user(db, user_id=user.id)
