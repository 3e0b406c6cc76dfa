"""RFC 7009 token revocation: a client hands back a token it no longer needs."""

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from pydantic import BaseModel, Field

from service.deps import AuthenticationDep, RequesterDep, no_store, repeated_fields
from service.openapi import WITH_BODY, error_responses
from service.problems import DomainError, Problem

router = APIRouter(tags=["auth"])


class RevocationRequest(BaseModel):
    """RFC 7009 2.1. Nothing is bounded but by the body limit: any token that
    is not one of ours is a 200 (2.2), so a bound would only be a second answer."""

    token: str | None = Field(None, description="A refresh or access token of this service")
    token_type_hint: str | None = Field(
        None, description="`refresh_token` or `access_token`; others are ignored (RFC 7009 2.1)"
    )
    client_id: str | None = Field(
        None, description="Accepted and ignored: the clients are public (no client authentication)"
    )


@router.post(
    "/revoke",
    name="revoke",
    summary="Revoke a refresh or access token (RFC 7009): its login ends",
    response_class=Response,
    responses={
        200: {"description": "Revoked, or it was not a live token of ours: the same answer"},
        **error_responses(
            Problem.PARAMETER_MISSING, Problem.PARAMETER_REPEATED, *WITH_BODY, oauth=True
        ),
    },
)
async def revoke(
    form: Annotated[RevocationRequest, Form()],
    request: Request,
    authentication: AuthenticationDep,
    requester: RequesterDep,
) -> Response:
    repeated = await repeated_fields(request)
    if repeated:
        raise DomainError(Problem.PARAMETER_REPEATED, *repeated)
    if not form.token:
        raise DomainError(Problem.PARAMETER_MISSING, "token")
    await authentication.revoke(token=form.token, hint=form.token_type_hint, requester=requester)
    # RFC 7009 2.2 and RFC 6749 5.1: nothing about a token is cached.
    return no_store(Response(status_code=200))
