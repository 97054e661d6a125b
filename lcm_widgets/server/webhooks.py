"""Webhook delivery for queue jobs submitted with ``?fal_webhook=<url>``.

When a job finishes, its receiver gets ``POST <url>`` with JSON
``{"request_id", "gateway_request_id", "status": "OK"|"ERROR", "payload", "error"?}``.
A delivery that fails with a network error, 408, 429 or a 5xx is retried with exponential
backoff (``backoff * 2**n`` seconds, capped at ``max_backoff``) up to ``attempts`` times; any
other answer ends it. Deliveries run as background tasks and never delay the model worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol
from urllib.parse import urlparse

import httpx

__all__ = ["WebhookSender", "check_webhook_url"]

log = logging.getLogger("lcm_widgets.server")

_RETRY_STATUS = {408, 429}


class _HasLogs(Protocol):
    logs: list[dict[str, Any]]


def check_webhook_url(url: str) -> str | None:
    """An error message for a webhook URL the server cannot call, else None."""
    parsed = urlparse(url)
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        return f"fal_webhook: must be an http(s) URL, got {url[:100]!r}"
    return None


class WebhookSender:
    """Posts webhook bodies with retries; :meth:`aclose` waits for none and cancels all."""

    def __init__(self, *, attempts: int = 5, backoff: float = 0.5, max_backoff: float = 30.0,
                 timeout: float = 10.0) -> None:
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.delivered = 0
        self.failed = 0

    def deliver(self, url: str, body: dict[str, Any], job: _HasLogs | None = None) -> None:
        """Start delivering ``body`` to ``url`` in the background."""
        task = asyncio.get_running_loop().create_task(self._deliver(url, body, job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, body: dict[str, Any], job: _HasLogs | None) -> None:
        from .jobs import _log_entry

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
        headers = {"x-fal-webhook-request-id": str(body.get("request_id", ""))}
        for attempt in range(1, self.attempts + 1):
            try:
                resp = await self._client.post(url, json=body, headers=headers)
                problem = None if resp.status_code < 500 and \
                    resp.status_code not in _RETRY_STATUS else f"HTTP {resp.status_code}"
                if problem is None and resp.status_code >= 400:
                    self.failed += 1
                    msg = f"webhook {url} refused the delivery with HTTP {resp.status_code}"
                    if job is not None:
                        job.logs.append(_log_entry(msg, "WARN"))
                    return
            except httpx.HTTPError as exc:
                problem = f"{exc.__class__.__name__}: {exc}"
            if problem is None:
                self.delivered += 1
                if job is not None:
                    job.logs.append(_log_entry(f"webhook delivered (attempt {attempt})"))
                return
            log.warning("webhook %s attempt %d/%d failed: %s", url, attempt, self.attempts,
                        problem)
            if job is not None:
                job.logs.append(_log_entry(f"webhook attempt {attempt} failed: {problem}",
                                           "WARN"))
            if attempt < self.attempts:
                await asyncio.sleep(min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))
        self.failed += 1

    async def aclose(self) -> None:
        """Cancel pending deliveries and close the HTTP client."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()
            self._client = None
