"""Discovery documents under /.well-known: the JWKS other services verify
access tokens with (RFC 7517), served from the key ring create_app built."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.deps import PublishedKeysDep

router = APIRouter(prefix="/.well-known", tags=["discovery"])

JWKS_EXAMPLE = {
    "keys": [
        {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
            "kid": "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
            "alg": "EdDSA",
            "use": "sig",
        }
    ]
}


@router.get(
    "/jwks.json",
    summary="The public keys access tokens are signed with",
    description="Public keys only: with the HS256 default the secret is never "
    'published and the set is empty (`{"keys": []}`). A key appears here before '
    "it signs and stays while tokens it signed live; caches may keep the set "
    "for JWKS_MAX_AGE_SECONDS.",
    responses={200: {"content": {"application/json": {"example": JWKS_EXAMPLE}}}},
)
async def jwks(keys: PublishedKeysDep) -> JSONResponse:
    return JSONResponse(keys.document, headers={"Cache-Control": keys.cache_control})
