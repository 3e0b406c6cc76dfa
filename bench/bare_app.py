"""The yardstick: a bare FastAPI app served exactly like the service.

`GET /bare` is the framework and server alone. `GET /two-selects` is a plain
`def` route (so it pays the threadpool hop the service's database routes pay)
running two one-row SELECTs through an ORM Session on the service's own
engine, pool and threadpool settings: what a token rotation should cost at most.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.orm import sessionmaker

from service.config import get_settings
from service.database import make_engine

ONE_ROW = text("SELECT id FROM users WHERE id = :id")


def create_app() -> FastAPI:
    settings = get_settings()
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

    @app.get("/two-selects")
    def two_selects(user_id: int = 1) -> dict[str, int | None]:
        with sessions() as session:
            first = session.execute(ONE_ROW, {"id": user_id}).scalar_one_or_none()
            second = session.execute(ONE_ROW, {"id": user_id}).scalar_one_or_none()
        return {"first": first, "second": second}

    return app
