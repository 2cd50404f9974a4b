"""A small, bounded pool of threads for the CPU-heavy XML work of a login (parse, schema,
decryption, signature verification), so that it never runs on the event loop.

lxml and xmlsec are C code that release the GIL while they parse, validate and verify
(measured: while a 0.55 s xmlsec verification ran in the pool, the loop's worst tick was late
by 0.6 ms; on the loop it was late by the whole 0.55 s), so the loop keeps serving every other
tenant and SCIM meanwhile. Each job has a time budget; a thread cannot be interrupted, so a job
keeps its slot until its thread really returns, and when every slot is taken a new job is
refused at once (:class:`Busy`) instead of queueing without bound.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import AsyncIterator, Callable
from typing import ParamSpec, TypeVar

from aiohttp import web

P = ParamSpec("P")
T = TypeVar("T")


class Busy(Exception):
    """Every slot is taken: the work was not started."""


class OverBudget(Exception):
    """The work did not finish within its time budget (its answer, if any, is dropped)."""


class XmlWorkers:
    """``threads`` threads and at most ``max_pending`` jobs, queued or running, at a time."""

    def __init__(self, *, threads: int, max_pending: int, budget: float) -> None:
        if threads < 1 or max_pending < threads or budget <= 0:
            raise ValueError("need threads >= 1, max_pending >= threads and budget > 0")
        self.threads = threads
        self.max_pending = max_pending
        self.budget = budget
        self.pending = 0
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    async def lifecycle(self, _app: web.Application) -> AsyncIterator[None]:
        """``cleanup_ctx``: the pool exists while the application runs."""
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.threads, thread_name_prefix="sso-xml"
        )
        try:
            yield
        finally:
            pool, self._pool = self._pool, None
            # Drop what has not started; wait for what has, off the loop.
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` in the pool, within the budget; its exceptions propagate."""
        if self._pool is None:
            raise RuntimeError("XmlWorkers run outside the application's lifetime")
        if self.pending >= self.max_pending:
            raise Busy(f"{self.pending} XML jobs already pending (limit {self.max_pending})")
        self.pending += 1
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[T] = loop.create_future()
        job = self._pool.submit(functools.partial(fn, *args, **kwargs))
        # The slot is freed when the thread is done (or the job was cancelled before it
        # started), never merely when the caller stops waiting. The answer is handed over in
        # the same call: one wake-up of the loop per job, not two (``asyncio.wrap_future``
        # plus a release callback cost ~5 % of sso-login's CPU under SAML load, in
        # ``_write_to_self``).
        job.add_done_callback(lambda done: loop.call_soon_threadsafe(self._finish, done, answer))
        try:
            return await asyncio.wait_for(answer, self.budget)
        except TimeoutError as exc:
            job.cancel()  # only takes if it is still queued
            raise OverBudget(f"XML work exceeded its time budget of {self.budget:g} s") from exc

    def _finish(self, job: concurrent.futures.Future[T], answer: asyncio.Future[T]) -> None:
        self.pending -= 1
        if answer.done():  # the caller stopped waiting (over budget, or cancelled)
            return
        if job.cancelled():
            answer.cancel()
        elif (error := job.exception()) is not None:
            answer.set_exception(error)
        else:
            answer.set_result(job.result())
