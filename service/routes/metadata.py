"""RFC 8414 authorization-server metadata, for OAuth2 client libraries that discover."""

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.config import serving_settings
from service.openapi import error_responses
from service.problems import Problem
from service.server_metadata import authorization_server_metadata

router = APIRouter(tags=["auth"])


@router.get(
    "/.well-known/oauth-authorization-server",
    summary="OAuth 2.0 authorization-server metadata (RFC 8414)",
    response_class=JSONResponse,
    responses={
        200: {"description": "The metadata", "content": {"application/json": {}}},
        **error_responses(Problem.INTERNAL_ERROR),
    },
)
async def oauth_authorization_server() -> JSONResponse:
    content: dict[str, Any] = authorization_server_metadata(serving_settings())
    # It changes only with a deployment's settings.
    return JSONResponse(content, headers={"Cache-Control": "public, max-age=3600"})
