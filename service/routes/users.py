"""Sign-up, the signed-in user's own account, and user management."""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from service.deps import (
    AccountsDep,
    CurrentUser,
    ReadsUsers,
    ReadTarget,
    RequesterDep,
    WritesProfile,
    WriteTarget,
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
    # Asking for a new address of one's own mails a link: at most so many an hour.
    Problem.RATE_LIMITED,
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
    body: UserCreate, response: Response, accounts: AccountsDep, requester: RequesterDep
) -> UserPublic:
    user = await accounts.sign_up(body, requester=requester)
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
    summary="Change the signed-in user's name, or ask for a new email (confirmed by mail)",
    response_model=UserPublic,
    responses=error_responses(*_UPDATE_ERRORS),
)
async def update_me(
    body: UserUpdateMe, principal: WritesProfile, accounts: AccountsDep, requester: RequesterDep
) -> UserPublic:
    changes = UserUpdate.model_validate(body.model_dump(exclude_unset=True))
    user = await accounts.update(
        actor=principal, target_id=principal.user.id, changes=changes, requester=requester
    )
    return UserPublic.model_validate(user)


@router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete the signed-in user",
    responses=error_responses(*SIGNED_IN, Problem.LAST_SUPERUSER, *ALWAYS),
)
async def delete_me(
    principal: WritesProfile, accounts: AccountsDep, requester: RequesterDep
) -> None:
    await accounts.delete(actor=principal, user_id=principal.user.id, requester=requester)


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
    principal: WritesProfile,
    accounts: AccountsDep,
    requester: RequesterDep,
) -> None:
    await accounts.change_password(
        actor=principal,
        current_password=body.current_password,
        new_password=body.new_password,
        requester=requester,
    )


@router.get(
    "",
    summary="List users (superusers)",
    response_model=list[UserPublic],
    responses=error_responses(*SIGNED_IN, Problem.FORBIDDEN, *ALWAYS),
)
async def list_users(
    _: ReadsUsers,
    accounts: AccountsDep,
    skip: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> list[UserPublic]:
    return [UserPublic.model_validate(user) for user in await accounts.page(skip=skip, limit=limit)]


@router.get(
    "/{user_id}",
    summary="A user (itself, or anyone for superusers)",
    response_model=UserPublic,
    responses=error_responses(*SIGNED_IN, Problem.FORBIDDEN, Problem.NO_SUCH_USER, *ALWAYS),
)
async def read_user(target: ReadTarget) -> UserPublic:
    return target.user


async def _update_user(
    body: UserUpdate, target: WriteTarget, accounts: AccountsDep, requester: RequesterDep
) -> UserPublic:
    user = await accounts.update(
        actor=target.principal, target_id=target.user.id, changes=body, requester=requester
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
async def delete_user(target: WriteTarget, accounts: AccountsDep, requester: RequesterDep) -> None:
    await accounts.delete(actor=target.principal, user_id=target.user.id, requester=requester)
