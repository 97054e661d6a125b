"""REST and queue jobs: a bounded FIFO on the scheduler, status, logs, cancel, webhooks.

Every HTTP generation (sync ``POST /{app}`` and queue submits alike) becomes a :class:`Job` on
the scheduler's job lane. At most ``max_queue`` jobs may wait; one more is refused with
:class:`QueueFull` (a :class:`~lcm_widgets.errors.ServerBusy`: HTTP 429 ``queue_full``). Queue
jobs are remembered after they finish (up to ``keep`` of them) so their status and result can
be read; sync jobs are not.

Status follows fal's queue (docs/server.md, "Queue"): ``IN_QUEUE`` (with ``queue_position``),
then ``IN_PROGRESS`` and ``COMPLETED`` (with ``logs``, a list or null, and ``metrics``). A failed
or cancelled job is ``COMPLETED`` with ``error`` and ``error_type``; its result answers with the
error's HTTP status. Status, ``error_type`` and body come from the error table
(:mod:`.answers`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import ServerBusy
from ..protocol.errors import REQUEST_CANCELLED, SERVER_BUSY, ErrorCode
from ..schema import Input, Output
from .answers import CATCH_ALL, answer, http_status, is_catch_all, rest_body
from .files import FileStore, publish
from .scheduler import Scheduler, WorkItem
from .store import JobStore, StoredJob
from .webhooks import WebhookSender

__all__ = ["Job", "JobQueue", "QueueFull"]

Status = Literal["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]

log = logging.getLogger("lcm_widgets.server")


class QueueFull(ServerBusy):
    """The job queue holds ``max_queue`` waiting jobs already (``str()`` is the reason)."""

    def __init__(self, reason: str) -> None:
        super().__init__(SERVER_BUSY.code, reason)
        self.args = (reason,)


def _log_entry(message: str, level: str = "INFO") -> dict[str, Any]:
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
    return {"message": message, "level": level, "source": "USER", "timestamp": now}


@dataclass(eq=False)
class Job:
    """One REST or queue request and what became of it."""

    id: str
    app_id: str
    inp: Input
    base_url: str
    webhook: str | None = None
    owner: str = "anonymous"  # Principal.owner of who submitted it (auth.owner_of)
    durable: bool = False  # kept in the JobStore (a queue job with state_dir set)
    status: Status = "IN_QUEUE"
    logs: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] | None = None
    error: str | None = None
    error_type: str | None = None
    error_status: int = 500
    error_body: dict[str, Any] | None = None
    inference_time: float | None = None
    cancelled: bool = False
    item: WorkItem | None = None
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop()
                                       .create_future())
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def changed(self) -> asyncio.Event:
        """An event set at the job's next status change (take it before checking status)."""
        return self._changed

    def _notify(self) -> None:
        old, self._changed = self._changed, asyncio.Event()
        old.set()

    def urls(self) -> dict[str, str]:
        """``response_url``, ``status_url`` and ``cancel_url`` on the queue surface."""
        base = f"{self.base_url.rstrip('/')}/queue/{self.app_id}/requests/{self.id}"
        return {"response_url": base, "status_url": base + "/status",
                "cancel_url": base + "/cancel"}


class JobQueue:
    """The job lane of the scheduler plus the store of queue jobs."""

    def __init__(self, scheduler: Scheduler, files: FileStore, *, max_queue: int = 64,
                 keep: int = 1024, webhooks: WebhookSender | None = None,
                 store: JobStore | None = None, output_drop: Collection[str] = ()) -> None:
        self.scheduler = scheduler
        #: Output fields the app's answers leave out (:attr:`~lcm_widgets.apps.AppSchema.
        #: output_drop`).
        self.output_drop = tuple(output_drop)
        self.files = files
        self.max_queue = max_queue
        self.keep = keep
        self.webhooks = webhooks
        self.lane = scheduler.open_lane("jobs")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        #: Durable store of queue jobs (``ServerConfig.state_dir``), None: memory only.
        self.store = store
        self.restored = {"finished": 0, "requeued": 0, "webhooks": 0}

    @property
    def length(self) -> int:
        """Jobs waiting to start."""
        return len(self.lane.items)

    @property
    def remembered(self) -> int:
        """Queue jobs held in memory (at most ``keep`` finished ones, and all unfinished)."""
        return len(self._jobs)

    def get(self, request_id: str, owner: str | None = None) -> Job | None:
        """A remembered queue job; with ``owner``, only when that caller submitted it (anyone
        else is told it does not exist)."""
        job = self._jobs.get(request_id)
        if job is None and self.store is not None:  # forgotten here, still in the store
            row = self.store.get(request_id)
            if row is not None and row.outcome is not None:
                job = self._from_stored(row)
        if job is None or (owner is not None and job.owner != owner):
            return None
        return job

    def stored_file(self, file_id: str) -> tuple[bytes, str] | None:
        """An image of a stored queue result (after a restart the file store is empty)."""
        return self.store.file(file_id) if self.store is not None else None

    def submit(self, inp: Input, *, app_id: str, base_url: str, webhook: str | None = None,
               remember: bool = True, owner: str = "anonymous") -> Job:
        """Queue a job; raises :class:`QueueFull` when ``max_queue`` jobs are waiting."""
        if self.length >= self.max_queue:
            raise QueueFull(f"queue is full: {self.length} requests waiting (max_queue "
                            f"{self.max_queue}); retry later")
        job = Job(id=str(uuid.uuid4()), app_id=app_id, inp=inp, base_url=base_url,
                  webhook=webhook, owner=owner)
        job.logs.append(_log_entry(f"request {job.id} queued"))
        if remember and self.store is not None:  # on disk before the submit is answered
            self.store.add(job.id, owner=owner, app_id=app_id, inp=inp.model_dump(),
                           base_url=base_url, webhook=webhook)
            job.durable = True
        self._enqueue(job)
        if remember:
            self._jobs[job.id] = job
            self._evict()
        return job

    def _enqueue(self, job: Job) -> None:
        job.item = WorkItem(inp=job.inp, deliver=lambda res, el: self._finish(job, res, el),
                            on_start=lambda: self._start(job))
        self.scheduler.push(self.lane, job.item)

    def restore(self) -> None:
        """Read the store back after a (re)start: finished jobs answer again, unfinished ones
        are queued again in their order of arrival, undelivered webhooks are posted."""
        if self.store is None:
            return
        for row in self.store.load():
            if row.outcome is not None:
                job = self._from_stored(row)
                self.restored["finished"] += 1
                if row.webhook_pending and job.webhook and self.webhooks is not None:
                    self.restored["webhooks"] += 1
                    self._post_webhook(job)
            else:
                job = Job(id=row.id, app_id=row.app_id, inp=Input.model_validate(row.input),
                          base_url=row.base_url, webhook=row.webhook, owner=row.owner,
                          durable=True)
                job.logs.append(_log_entry(f"request {job.id} queued again after a server "
                                           f"restart (it was {row.status})", "WARN"))
                self.restored["requeued"] += 1
                self._enqueue(job)
            self._jobs[job.id] = job
        self._evict()

    def _from_stored(self, row: StoredJob) -> Job:
        """A finished job as the store has it."""
        out = row.outcome or {}
        job = Job(id=row.id, app_id=row.app_id, inp=Input.model_validate(row.input),
                  base_url=row.base_url, webhook=row.webhook, owner=row.owner, durable=True,
                  status="COMPLETED", logs=list(out.get("logs", [])), result=out.get("result"),
                  error=out.get("error"), error_type=out.get("error_type"),
                  error_status=int(out.get("error_status", 500)),
                  error_body=out.get("error_body"), inference_time=out.get("inference_time"))
        job.done.set_result(None)
        return job

    def position(self, job: Job) -> int:
        """0-based position among waiting jobs."""
        for i, item in enumerate(self.lane.items):
            if item is job.item:
                return i
        return 0

    def cancel(self, job: Job) -> tuple[int, str]:
        """Cancel a job: ``(http_status, fal_status)``. A waiting job leaves the lane; a
        running one is stopped (:meth:`Scheduler.abort`, which frees the worker) and answered
        as cancelled; finished jobs cannot be cancelled."""
        if job.status == "COMPLETED":
            return 400, "ALREADY_COMPLETED"
        if job.status == "IN_QUEUE" and job.item is not None and \
                self.scheduler.remove(self.lane, job.item):
            self._fail(job, REQUEST_CANCELLED,
                       f"request {job.id} was cancelled before it started")
            return 202, "CANCELLATION_REQUESTED"
        job.cancelled = True
        if job.item is not None and self.scheduler.abort(job.item):
            job.logs.append(_log_entry("cancellation requested; the running generation was "
                                       "stopped", "WARN"))
        else:
            job.logs.append(_log_entry("cancellation requested; its result will be "
                                       "discarded", "WARN"))
        return 202, "CANCELLATION_REQUESTED"

    # the queue routes' awaitable surface (a queue shared by several processes, :mod:`.ray_board`,
    # answers these without holding the event loop; here they are the plain methods)

    async def aget(self, request_id: str, owner: str | None = None) -> Job | None:
        """:meth:`get`, awaitable."""
        return self.get(request_id, owner)

    async def asubmit(self, inp: Input, *, app_id: str, base_url: str,
                      webhook: str | None = None, owner: str = "anonymous") -> Job:
        """:meth:`submit` of a queue job (``remember=True``), awaitable."""
        return self.submit(inp, app_id=app_id, base_url=base_url, webhook=webhook,
                           owner=owner)

    async def acancel(self, job: Job) -> tuple[int, str]:
        """:meth:`cancel`, awaitable."""
        return self.cancel(job)

    def watch(self, job: Job) -> Callable[[float], Awaitable[Job | None]]:
        """A waiter for the job's next status change after now: ``await wait(timeout)`` gives
        the job as it is then, or None after ``timeout`` seconds without a change (the SSE
        status stream; a queue shared by several processes, :mod:`.ray_board`, reads the
        shared record)."""
        changed = job.changed()

        async def wait(timeout: float) -> Job | None:
            try:
                await asyncio.wait_for(changed.wait(), timeout)
            except TimeoutError:
                return None
            return job

        return wait

    async def aclose(self) -> None:
        """Stop what the queue runs in the background (nothing here)."""
        return None

    def status(self, job: Job, *, logs: bool) -> dict[str, Any]:
        """The status JSON fal's clients parse."""
        out: dict[str, Any] = {"status": job.status, "request_id": job.id, **job.urls()}
        if job.status == "IN_QUEUE":
            out["queue_position"] = self.position(job)
            out["logs"] = None
            return out
        out["logs"] = list(job.logs) if logs else None
        if job.status == "COMPLETED":
            out["metrics"] = ({"inference_time": job.inference_time}
                              if job.inference_time is not None else {})
            if job.error is not None:
                out["error"] = job.error
                out["error_type"] = job.error_type
        return out

    # -- transitions (called by the worker, on the loop) --------------------------------

    def _start(self, job: Job) -> None:
        job.status = "IN_PROGRESS"
        job.logs.append(_log_entry(f"generating on {self.scheduler.backend.info.name}"))
        if job.durable and self.store is not None:
            self.store.started(job.id)
        job._notify()

    def _finish(self, job: Job, result: Output | BaseException, elapsed: float) -> None:
        job.inference_time = elapsed
        if job.cancelled:
            self._fail(job, REQUEST_CANCELLED,
                       f"request {job.id} was cancelled; its result was discarded")
            return
        if isinstance(result, BaseException):
            r, message = answer(result)
            if is_catch_all(r):
                message = f"internal error: {message}"
            self._fail(job, r, message, body=rest_body(result, r, message))
            return
        try:
            job.result = publish(result, sync_mode=job.inp.sync_mode, files=self.files,
                                 base_url=job.base_url, request_id=job.inp.request_id or job.id,
                                 num_inference_steps=job.inp.num_inference_steps,
                                 inference_s=elapsed, drop=self.output_drop)
        except Exception as exc:
            self._fail(job, CATCH_ALL, f"could not encode the output: {exc}")
            return
        job.status = "COMPLETED"
        job.logs.append(_log_entry(f"completed in {elapsed:.3f} s"))
        self._settle(job)

    def _fail(self, job: Job, r: ErrorCode, message: str,
              body: dict[str, Any] | None = None) -> None:
        job.status = "COMPLETED"
        job.error, job.error_type, job.error_status = message, r.error_type, http_status(r)
        job.error_body = body or rest_body(Exception(message), r, message)
        job.logs.append(_log_entry(message, "ERROR"))
        self._settle(job)

    def _settle(self, job: Job) -> None:
        if job.durable and self.store is not None:
            self._persist(job)
        if not job.done.done():
            job.done.set_result(None)
        job._notify()
        if job.webhook and self.webhooks is not None:
            self._post_webhook(job)

    def _post_webhook(self, job: Job) -> None:
        assert self.webhooks is not None and job.webhook is not None
        store = self.store if job.durable else None
        self.webhooks.deliver(job.webhook, self.webhook_body(job), job,
                              on_done=None if store is None else
                              (lambda _ok: store.webhook_done(job.id)))

    def _persist(self, job: Job) -> None:
        """Write a finished job's outcome and its result's images to the store."""
        assert self.store is not None
        files: list[tuple[str, str, bytes]] = []
        for img in (job.result or {}).get("images", []) if job.error is None else []:
            url = str(img.get("url", ""))
            if "/files/" in url:
                fid = url.rsplit("/files/", 1)[1]
                item = self.files.get(fid)
                if item is not None:
                    files.append((fid, item[1], item[0]))
        outcome = {"result": job.result, "error": job.error, "error_type": job.error_type,
                   "error_status": job.error_status, "error_body": job.error_body,
                   "inference_time": job.inference_time, "logs": job.logs}
        try:
            self.store.finished(job.id, outcome, files)
            self.store.prune()
        except Exception:  # the answer in memory still stands; say the disk failed
            log.exception("could not store the outcome of job %s", job.id)

    @staticmethod
    def webhook_body(job: Job) -> dict[str, Any]:
        """What the webhook receiver gets (fal's webhook payload, docs/server.md "Queue")."""
        body: dict[str, Any] = {"request_id": job.id, "gateway_request_id": job.id}
        if job.error is None:
            body.update(status="OK", payload=job.result)
        else:
            body.update(status="ERROR", payload=job.error_body, error=job.error)
        return body

    def _evict(self) -> None:
        while len(self._jobs) > self.keep:
            oldest = next((k for k, j in self._jobs.items() if j.status == "COMPLETED"), None)
            if oldest is None:
                break
            del self._jobs[oldest]
