"""Account recovery by email, proving an address is one's own, and
confirming a new one."""

from fastapi import APIRouter, BackgroundTasks, status

from service.deps import EmailChangesDep, RecoveryDep, RequesterDep, WritesProfile
from service.openapi import ALWAYS, SIGNED_IN, WITH_BODY, Documented, error_responses
from service.problems import Problem
from service.schemas import (
    Accepted,
    EmailChangeConfirmation,
    EmailVerification,
    ForgotPassword,
    PasswordReset,
    UserPublic,
)

router = APIRouter(tags=["recovery"])

WEAK_NEW_PASSWORD = Documented(Problem.WEAK_PASSWORD, "new_password")


@router.post(
    "/password/forgot",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Mail a password reset link; the same answer whether or not the account exists",
    response_model=Accepted,
    responses=error_responses(
        Problem.INVALID_EMAIL, Problem.FIELD_REQUIRED, Problem.RATE_LIMITED, *WITH_BODY
    ),
)
async def forgot_password(
    body: ForgotPassword,
    background: BackgroundTasks,
    recovery: RecoveryDep,
    requester: RequesterDep,
) -> Accepted:
    if await recovery.may_send_password_reset(email=body.email, requester=requester):
        # Looked up after the answer has gone, so its timing tells nothing either.
        background.add_task(recovery.send_password_reset, email=body.email, requester=requester)
    return Accepted()


@router.post(
    "/password/reset",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Set a new password with a reset link's token; every session is signed out",
    responses=error_responses(
        Problem.ACCOUNT_TOKEN_INVALID, Problem.FIELD_REQUIRED, WEAK_NEW_PASSWORD, *WITH_BODY
    ),
)
async def reset_password(
    body: PasswordReset, recovery: RecoveryDep, requester: RequesterDep
) -> None:
    await recovery.reset_password(
        token=body.token, new_password=body.new_password, requester=requester
    )


@router.post(
    "/users/me/verify",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Mail a link that confirms the signed-in user's email address",
    response_model=Accepted,
    responses=error_responses(*SIGNED_IN, Problem.RATE_LIMITED, *ALWAYS),
)
async def request_verification(
    principal: WritesProfile, recovery: RecoveryDep, requester: RequesterDep
) -> Accepted:
    await recovery.send_verification(user_id=principal.user.id, requester=requester)
    return Accepted()


@router.post(
    "/verify",
    summary="Confirm an email address with a verification link's token",
    response_model=UserPublic,
    responses=error_responses(Problem.ACCOUNT_TOKEN_INVALID, Problem.FIELD_REQUIRED, *WITH_BODY),
)
async def verify_email(
    body: EmailVerification, recovery: RecoveryDep, requester: RequesterDep
) -> UserPublic:
    user = await recovery.verify_email(token=body.token, requester=requester)
    return UserPublic.model_validate(user)


@router.post(
    "/email/confirm",
    summary="Confirm a new email address with the token of the link mailed to it; "
    "the account moves to it",
    response_model=UserPublic,
    responses=error_responses(
        Problem.ACCOUNT_TOKEN_INVALID,
        # The address was free when asked for, but reserved nothing.
        Documented(Problem.EMAIL_TAKEN, "token"),
        Problem.FIELD_REQUIRED,
        *WITH_BODY,
    ),
)
async def confirm_email_change(
    body: EmailChangeConfirmation, email_changes: EmailChangesDep, requester: RequesterDep
) -> UserPublic:
    # Public like /verify: the link may be opened on a device that is not signed in.
    user = await email_changes.confirm(token=body.token, requester=requester)
    return UserPublic.model_validate(user)
