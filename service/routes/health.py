"""Liveness, and reachability of what requests need: the database and the
throttling store, for the platform's health checks."""

import logging

from fastapi import APIRouter

from service.deps import DatabaseDep, ThrottleDep
from service.openapi import error_responses
from service.problems import DomainError, Problem
from service.schemas import Health, HealthDb

logger = logging.getLogger("service.health")
router = APIRouter(prefix="/health", tags=["health"])
_STORE_LABELS = {"redis": "Redis", "database": "the database"}


@router.get("", summary="The process is up", response_model=Health)
async def health() -> Health:
    return Health()


@router.get(
    "/db",
    summary="The database and the throttling store answer",
    response_model=HealthDb,
    responses=error_responses(Problem.INTERNAL_ERROR, Problem.SERVICE_UNAVAILABLE),
)
def health_db(database: DatabaseDep, throttle: ThrottleDep) -> HealthDb:
    # A database failure raises OperationalError, which the error handlers answer with 503.
    database.ping()
    # Logins fail closed without the store, so "ok" without it would be a lie.
    if not throttle.store_is_up():
        label = _STORE_LABELS.get(throttle.store_name, throttle.store_name)
        logger.warning("throttling store unavailable: %s does not answer", label)
        raise DomainError(Problem.THROTTLING_STORE_DOWN, store=label)
    return HealthDb(throttling_store=throttle.store_name)
