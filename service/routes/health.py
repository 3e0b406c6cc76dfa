"""Liveness and database reachability, for the platform's health checks."""

from fastapi import APIRouter

from service.deps import DatabaseDep
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
def health_db(database: DatabaseDep) -> HealthDb:
    # A failure raises OperationalError, which the error handlers answer with 503.
    database.ping()
    return HealthDb()
