"""Sending due deliveries: claim them from the user-store (only the oldest pending delivery per
endpoint and user is ever handed out, so a user's events arrive in order), send each
concurrently with the others, record every attempt, and decide what follows a failure.

Several instances share the work: a claim is a lease, so each delivery is in one instance's
hands at a time, and one whose instance died is handed out again when its lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from roster_shared.events.envelope import utcnow

from webhooks import signing
from webhooks.errors import StoreError
from webhooks.retry import RetryPolicy
from webhooks.sender import Result, Sender
from webhooks.store import WebhookStore
from webhooks.vault import Vault, VaultError

log = logging.getLogger(__name__)

CLAIM_COALESCE = 0.01
"""Seconds a woken dispatcher waits before claiming, so that a burst shares one claim."""


class Dispatcher:
    """The claim-send-record loop of one instance."""

    def __init__(
        self,
        store: WebhookStore,
        sender: Sender,
        vault: Vault,
        policy: RetryPolicy,
        *,
        holder: str,
        concurrency: int = 64,
        claim_batch: int = 200,
        lease_seconds: float = 60.0,
        poll_interval: float = 1.0,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._sender = sender
        self._vault = vault
        self._policy = policy
        self._holder = holder
        self._slots = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._batch = claim_batch
        self._lease = lease_seconds
        self._poll = poll_interval
        self._clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        # Attempts wait here and are recorded in batches (one request, one transaction): a
        # delivery's successor for the same user becomes due only once it is recorded.
        self._results: list[dict[str, Any]] = []
        self._results_ready = asyncio.Event()
        self._recorder: asyncio.Task[None] | None = None
        registry = registry or CollectorRegistry()
        self._attempts = Counter(
            "roster_webhook_attempts",
            "Delivery attempts by outcome",
            ["outcome"],
            registry=registry,
        )
        self._latency = Histogram(
            "roster_webhook_attempt_seconds", "Time of one delivery attempt", registry=registry
        )

    def wake(self) -> None:
        """Look for due deliveries now (new events were recorded, or a slot freed up)."""
        self._wake.set()

    async def start(self) -> None:
        """Run the loop in the background."""
        self._task = asyncio.create_task(self._run(), name="webhook-dispatcher")
        self._recorder = asyncio.create_task(self._record_loop(), name="webhook-recorder")

    async def stop(self) -> None:
        """Stop claiming; let the attempts in flight finish and be recorded."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._inflight:
            await asyncio.wait(self._inflight, timeout=self._sender.timeout + 5)
        if self._recorder is not None:
            self._recorder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recorder
            self._recorder = None
        await self._flush()  # what finished last is recorded too

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            free = self._concurrency - len(self._inflight)
            claimed: list[dict[str, Any]] = []
            if free > 0:
                try:
                    claimed = await self._store.claim(
                        self._holder, min(free, self._batch), self._lease
                    )
                except StoreError as error:
                    log.warning("claiming deliveries failed (%s); trying again", error.detail)
                except Exception:
                    log.exception("claiming deliveries failed; trying again")
            for delivery in claimed:
                task = asyncio.create_task(self._deliver(delivery))
                self._inflight.add(task)
                task.add_done_callback(self._finished)
            if not claimed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll)
                    # Woken: let the events and attempts arriving together share one claim.
                    await asyncio.sleep(CLAIM_COALESCE)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)

    async def _record_loop(self) -> None:
        while True:
            await self._results_ready.wait()
            await asyncio.sleep(0.005)  # let the attempts finishing together share a request
            await self._flush()

    async def _flush(self) -> None:
        self._results_ready.clear()
        batch, self._results = self._results, []
        if not batch:
            return
        try:
            await self._store.record_attempts(self._holder, batch)
        except Exception as error:
            # The leases run out and the deliveries are sent again: at-least-once.
            log.warning("recording %d attempts failed: %s", len(batch), error)
        self.wake()  # slots are free, and the deliveries' successors may be due

    async def _deliver(self, delivery: dict[str, Any]) -> None:
        async with self._slots:
            attempted_at = self._clock()
            try:
                secrets = [self._vault.decrypt(s["ciphertext"]) for s in delivery["secrets"]]
            except VaultError as error:
                result = Result(delivered=False, latency_ms=0, error=str(error), refused=True)
            else:
                body = delivery["payload"].encode()
                headers = signing.headers(secrets, delivery["event_id"], int(time.time()), body)
                result = await self._sender.send(delivery["url"], body, headers)
            self._latency.observe(result.latency_ms / 1000)
            self._attempts.labels(
                "delivered" if result.delivered else "refused" if result.refused else "failed"
            ).inc()
            self._results.append(
                {"delivery_id": delivery["id"], **self._attempt(delivery, attempted_at, result)}
            )
            self._results_ready.set()

    def _attempt(
        self, delivery: dict[str, Any], attempted_at: datetime, result: Result
    ) -> dict[str, Any]:
        attempt: dict[str, Any] = {
            "attempted_at": attempted_at.isoformat(),
            "delivered": result.delivered,
            "latency_ms": result.latency_ms,
            "status_code": result.status_code,
            "error": result.error[:1024] if result.error else None,
            "response": result.response[:2048] if result.response else None,
        }
        if result.delivered:
            return attempt
        attempts = int(delivery["attempts"]) + 1
        first = (
            datetime.fromisoformat(delivery["first_attempt_at"])
            if delivery.get("first_attempt_at")
            else attempted_at
        )
        now = self._clock()
        following = (
            None
            if result.refused
            else self._policy.next_attempt(attempts, first, now, result.retry_after)
        )
        if following is None:
            since = first.isoformat(timespec="seconds")
            attempt["pause_reason"] = (
                f"refused destination: {result.error}"
                if result.refused
                else f"failing since {since} ({attempts} attempts); last: {result.error}"
            )[:1024]
            following = now
        attempt["next_attempt_at"] = following.isoformat()
        return attempt
