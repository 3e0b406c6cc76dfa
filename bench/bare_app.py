"""The yardstick: a bare FastAPI app served exactly like the service.

`GET /bare` is the framework and server alone. `GET /two-selects` runs two
one-row SELECTs through an ORM Session on the service's own engine, pool and
threadpool settings, in one threadpool hop as the service's database routes
do (a plain `def` route with a response model would pay a second hop, for
validating its answer): what a token rotation should cost at most.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.orm import sessionmaker
from starlette.concurrency import run_in_threadpool

from service.config import load_settings
from service.database import make_engine

ONE_ROW = text("SELECT id FROM users WHERE id = :id")


def create_app() -> FastAPI:
    settings = load_settings()
    engine = make_engine(settings)
    sessions = sessionmaker(engine)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        to_thread.current_default_thread_limiter().total_tokens = (
            settings.db_pool_size + settings.db_max_overflow
        )
        yield
        engine.dispose()

    app = FastAPI(title="bench yardstick", lifespan=lifespan)

    @app.get("/bare")
    async def bare() -> dict[str, str]:
        return {"status": "ok"}

    def select_twice(user_id: int) -> dict[str, int | None]:
        with sessions() as session:
            first = session.execute(ONE_ROW, {"id": user_id}).scalar_one_or_none()
            second = session.execute(ONE_ROW, {"id": user_id}).scalar_one_or_none()
        return {"first": first, "second": second}

    @app.get("/two-selects")
    async def two_selects(user_id: int = 1) -> dict[str, int | None]:
        return await run_in_threadpool(select_twice, user_id)

    return app
