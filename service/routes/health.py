"""Liveness and database reachability, for the platform's health checks."""

from fastapi import APIRouter
from sqlalchemy import text

from service.deps import DbSession
from service.openapi import INTERNAL, UNAVAILABLE, error_responses
from service.schemas import Health, HealthDb

router = APIRouter(prefix="/health", tags=["health"])


@router.get("", summary="The process is up", response_model=Health)
async def health() -> Health:
    return Health()


@router.get(
    "/db",
    summary="The database answers",
    response_model=HealthDb,
    responses=error_responses(INTERNAL, UNAVAILABLE),
)
def health_db(db: DbSession) -> HealthDb:
    # A failure raises OperationalError, which the error handlers answer with 503.
    db.execute(text("SELECT 1"))
    db.commit()
    return HealthDb()
