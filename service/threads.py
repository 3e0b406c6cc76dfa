"""The one way the services leave the event loop for blocking work."""

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from anyio import to_thread

T = TypeVar("T")


async def in_thread(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` on the threadpool, which is as large as the
    connection pool (see main.py): database work and throttling counters."""
    return await to_thread.run_sync(partial(fn, *args, **kwargs))
