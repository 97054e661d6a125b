"""The job board: the queue of every ingress replica in one place (docs/scale.md).

With ``--ingress-replicas N`` the fal app runs in N ingress replicas, and Serve's proxy sends
each request to any of them. What a queue request must find again (its job, the images of its
result, the files uploaded for it) lives on the **board**: one Ray actor per Serve application
(:class:`JobBoard`), created and owned by the one replica of the ``LcmBoard`` deployment, so
the board lives exactly as long as the application (``serve shutdown``, ``serve delete`` and the
CLI's exit remove it with the application; it is not detached).

* **Submit anywhere.** An ingress writes an accepted queue job to the board before it answers
  the submit; status, result, the SSE status stream and cancel read and decide on the board,
  so any ingress answers them.
* **Run anywhere.** Each ingress long-polls the board for work (:meth:`JobBoard.poll`) up to
  its free job slots and runs what it gets on the model replicas. The poll is its **lease**:
  an ingress silent for ``lease_s`` seconds is taken for dead; the jobs it held are queued
  again at the head of the queue (run once more, by another ingress), and a job whose second
  holder dies too ends ``COMPLETED`` with ``error_type: generation_failed`` and a reason.
* **One outcome per job.** The board takes the first outcome of the current lease and drops
  any other (a late answer of an ingress taken for dead, the answer of a cancelled job): *at
  most once* for the answer and its webhook, *at least once* for the model, as with a model
  replica that dies (docs/scale.md).
* **Cancel.** A job not yet handed out is cancelled on the board; a running one ends at once,
  cancelled, and its holder is told (at its next poll) to stop the generation; its answer is
  dropped.
* **Files.** The images of ``sync_mode: false`` results (``/files/{id}``) and the uploads of
  ``/storage`` are kept on the board, with the same bounds as on one server
  (:class:`~.files.FileStore`, :class:`~.storage.UploadStore`), so every ingress serves them.

The board is one actor: when it dies (its node lost), Serve starts a new ``LcmBoard`` replica
with an empty board; the jobs it held are lost with it, as a single server's queue is without
``--state-dir``. Importing this module imports ray.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import ray
from ray import serve

from ..errors import GenerationFailed
from ..protocol.errors import REQUEST_CANCELLED
from ..schema import Input
from .answers import answer, http_status, rest_body
from .files import FileStore
from .jobs import Job, JobQueue, QueueFull, _log_entry
from .scheduler import Scheduler
from .storage import StoredFile, UploadLimits, UploadStore
from .webhooks import WebhookSender

__all__ = ["BOARD", "BoardClient", "BoardJobQueue", "JobBoard", "LcmBoard", "SharedFiles",
           "SharedUploads"]

log = logging.getLogger("lcm_widgets.server")

BOARD = "LcmBoard"
#: How often a job is handed out in all (the first run, plus one after its ingress died).
HOLDS = 2
#: Seconds one blocking board call may take before the ingress gives up on it.
CALL_TIMEOUT = 15.0
#: Webhooks of jobs the board ended itself, handed to one polling ingress per poll.
WEBHOOKS_PER_POLL = 16


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


class JobBoard:
    """The shared queue (a Ray async actor; see the module doc). Records are plain dicts:
    ``id, owner, app_id, input, base_url, webhook, status, version, logs, holder, lease,
    holds, via, created, started, finished`` and the outcome ``result, error, error_type,
    error_status, error_body, inference_time``."""

    def __init__(self, *, max_queue: int = 64, lease_s: float = 10.0, keep: int = 1024,
                 max_files: int = 512, uploads: UploadLimits | None = None) -> None:
        self.max_queue = max_queue
        self.lease_s = lease_s
        self.keep = keep
        self.jobs: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.waiting: deque[str] = deque()
        self.ingresses: dict[str, float] = {}  # ingress id -> monotonic time of its last poll
        self.cancels: dict[str, set[str]] = {}  # ingress id -> running jobs to stop
        self.webhooks: deque[str] = deque()  # jobs the board ended whose webhook is due
        self.files = FileStore(max_files=max_files)
        self.uploads = UploadStore(uploads or UploadLimits())
        self.counts = {"submitted": 0, "requeued": 0, "failed_holders": 0, "cancelled": 0,
                       "late_answers_dropped": 0, "ingress_deaths": 0, "released": 0}
        self._changed: asyncio.Event | None = None
        self._sweeper: asyncio.Task[None] | None = None

    # -- plumbing ---------------------------------------------------------------------------

    def _event(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())
        return self._changed

    def _notify(self, rec: dict[str, Any] | None = None) -> None:
        if rec is not None:
            rec["version"] += 1
        old = self._event()
        self._changed = asyncio.Event()
        old.set()

    def public(self, rec: dict[str, Any]) -> dict[str, Any]:
        """What an ingress gets of a record (the input stays on the board)."""
        out = {k: v for k, v in rec.items() if k != "input"}
        out["logs"] = list(rec["logs"])
        out["queue_position"] = self._position(rec["id"]) if rec["status"] == "IN_QUEUE" else 0
        return out

    def _position(self, job_id: str) -> int:
        try:
            return self.waiting.index(job_id)
        except ValueError:
            return 0  # handed out, not started yet

    def _settle(self, rec: dict[str, Any], r: Any, message: str,
                body: dict[str, Any] | None = None) -> None:
        """End ``rec`` with an error decided on the board (cancel, its holders died)."""
        rec.update(status="COMPLETED", error=message, error_type=r.error_type,
                   error_status=http_status(r), holder=None, finished=time.time(),
                   error_body=body or rest_body(Exception(message), r, message))
        rec["logs"].append(_log_entry(message, "ERROR"))
        if rec["webhook"]:
            self.webhooks.append(rec["id"])
        self._notify(rec)
        self._evict()

    def _evict(self) -> None:
        done = [k for k, r in self.jobs.items() if r["status"] == "COMPLETED"]
        for k in done[:max(0, len(done) - self.keep)]:
            del self.jobs[k]

    # -- the queue surface (any ingress) ---------------------------------------------------

    async def submit(self, rec: dict[str, Any]) -> tuple[str, Any]:
        """Accept a job: ``("ok", public record)`` or ``("full", reason)``."""
        self._event()
        if len(self.waiting) >= self.max_queue:
            return "full", (f"queue is full: {len(self.waiting)} requests waiting (max_queue "
                            f"{self.max_queue}); retry later")
        rec = {**rec, "status": "IN_QUEUE", "version": 0, "holder": None, "lease": 0,
               "holds": 0, "created": time.time(), "started": None, "finished": None,
               "result": None, "error": None, "error_type": None, "error_status": 500,
               "error_body": None, "inference_time": None}
        rec["logs"] = [_log_entry(f"request {rec['id']} queued (via ingress {rec['via']})")]
        self.jobs[rec["id"]] = rec
        self.waiting.append(rec["id"])
        self.counts["submitted"] += 1
        self._notify()
        return "ok", self.public(rec)

    async def get(self, job_id: str, owner: str | None = None) -> dict[str, Any] | None:
        rec = self.jobs.get(job_id)
        if rec is None or (owner is not None and rec["owner"] != owner):
            return None
        return self.public(rec)

    async def watch(self, job_id: str, version: int, timeout: float) -> dict[str, Any] | None:
        """The record once its version differs from ``version``; None after ``timeout``
        seconds without a change (or when the board does not know the job)."""
        deadline = time.monotonic() + timeout
        while True:
            rec = self.jobs.get(job_id)
            if rec is None:
                return None
            if rec["version"] != version:
                return self.public(rec)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event().wait(), left)

    async def cancel(self, job_id: str, owner: str | None = None) -> tuple[int, str]:
        """``(http_status, fal_status)``: 202 ``CANCELLATION_REQUESTED``, 400
        ``ALREADY_COMPLETED``, 404 ``NOT_FOUND``."""
        rec = self.jobs.get(job_id)
        if rec is None or (owner is not None and rec["owner"] != owner):
            return 404, "NOT_FOUND"
        if rec["status"] == "COMPLETED":
            return 400, "ALREADY_COMPLETED"
        self.counts["cancelled"] += 1
        if job_id in self.waiting:
            self.waiting.remove(job_id)
            self._settle(rec, REQUEST_CANCELLED, f"request {job_id} was cancelled before it "
                                                 "started")
            return 202, "CANCELLATION_REQUESTED"
        holder = rec["holder"]
        if holder is not None:
            self.cancels.setdefault(holder, set()).add(job_id)
        self._settle(rec, REQUEST_CANCELLED, f"request {job_id} was cancelled while running "
                                             f"on ingress {holder}; its result is discarded")
        return 202, "CANCELLATION_REQUESTED"

    # -- the worker surface (the ingress holding a job) -------------------------------------

    async def poll(self, ingress: str, want: int, timeout: float) -> dict[str, Any]:
        """An ingress's lease and its work: up to ``want`` jobs to run (with their input and
        lease number), the running jobs it should stop, webhooks due, and the queue's length.
        Waits up to ``timeout`` seconds for something to hand out."""
        deadline = time.monotonic() + timeout
        if ingress not in self.ingresses:
            log.info("job board: ingress %s polls", ingress)
        while True:
            self.ingresses[ingress] = time.monotonic()
            cancels = sorted(self.cancels.pop(ingress, set()))
            jobs: list[dict[str, Any]] = []
            while self.waiting and len(jobs) < want:
                rec = self.jobs[self.waiting.popleft()]
                rec["holder"] = ingress
                rec["lease"] += 1
                rec["holds"] += 1
                jobs.append({**self.public(rec), "input": rec["input"]})
                self._notify(rec)
            hooks: list[dict[str, Any]] = []
            while self.webhooks and len(hooks) < WEBHOOKS_PER_POLL:
                ended = self.jobs.get(self.webhooks.popleft())
                if ended is not None:
                    hooks.append(self.public(ended))
            left = deadline - time.monotonic()
            if jobs or cancels or hooks or left <= 0:
                self.ingresses[ingress] = time.monotonic()
                return {"jobs": jobs, "cancel": cancels, "webhooks": hooks,
                        "waiting": len(self.waiting), "remembered": len(self.jobs)}
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event().wait(), min(left, 1.0))

    def _held(self, job_id: str, ingress: str, lease: int) -> dict[str, Any] | None:
        rec = self.jobs.get(job_id)
        if rec is None or rec["status"] == "COMPLETED" or rec["holder"] != ingress or \
                rec["lease"] != lease:
            return None
        return rec

    async def started(self, job_id: str, ingress: str, lease: int) -> bool:
        rec = self._held(job_id, ingress, lease)
        if rec is None:
            return False
        rec["status"], rec["started"] = "IN_PROGRESS", time.time()
        rec["logs"].append(_log_entry(f"generating (ingress {ingress})"))
        self._notify(rec)
        return True

    async def finish(self, job_id: str, ingress: str, lease: int,
                     outcome: dict[str, Any]) -> bool:
        """The holder's outcome: True when taken (the job's one outcome), False when dropped
        (cancelled meanwhile, or the lease moved on)."""
        rec = self._held(job_id, ingress, lease)
        if rec is None:
            self.counts["late_answers_dropped"] += 1
            return False
        rec.update(outcome)
        rec.update(status="COMPLETED", holder=None, finished=time.time())
        self._notify(rec)
        self._evict()
        return True

    async def release(self, ingress: str) -> int:
        """An ingress that stops on purpose (Serve replacing or stopping it) hands its jobs
        back: they are queued again at the head, their order kept, and this hold is not
        counted against them. Returns how many."""
        self.ingresses.pop(ingress, None)
        self.cancels.pop(ingress, None)
        held = [r for r in self.jobs.values()
                if r["holder"] == ingress and r["status"] != "COMPLETED"]
        for rec in reversed(held):
            rec.update(status="IN_QUEUE", holder=None, started=None, holds=rec["holds"] - 1)
            rec["logs"].append(_log_entry(f"ingress {ingress} stopped; queued again", "WARN"))
            self.waiting.appendleft(rec["id"])
            self.counts["released"] += 1
            self._notify(rec)
        return len(held)

    # -- ingresses that stop polling -----------------------------------------------------

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.lease_s / 4))
            try:
                self.sweep()
            except Exception:
                log.exception("job board: sweep failed")

    def sweep(self, now: float | None = None) -> list[str]:
        """Take ingresses silent past the lease for dead: queue their jobs again (once), or
        end them. Returns the ingresses taken for dead."""
        now = time.monotonic() if now is None else now
        dead = [i for i, seen in self.ingresses.items() if now - seen > self.lease_s]
        for ingress in dead:
            del self.ingresses[ingress]
            self.cancels.pop(ingress, None)
            self.counts["ingress_deaths"] += 1
            held = [r for r in self.jobs.values()
                    if r["holder"] == ingress and r["status"] != "COMPLETED"]
            log.warning("job board: ingress %s silent for over %g s; %d job(s) it held",
                        ingress, self.lease_s, len(held))
            for rec in reversed(held):  # their order kept, at the head of the queue
                if rec["holds"] < HOLDS:
                    rec.update(status="IN_QUEUE", holder=None, started=None)
                    rec["logs"].append(_log_entry(
                        f"ingress {ingress} stopped answering while it held this job; "
                        "queued again", "WARN"))
                    self.waiting.appendleft(rec["id"])
                    self.counts["requeued"] += 1
                    self._notify(rec)
                else:
                    self.counts["failed_holders"] += 1
                    message = (f"generation: the ingress replica running it ({ingress}) died, "
                               f"after the one that ran it first did too; submit it again")
                    r, _ = answer(GenerationFailed(message))
                    self._settle(rec, r, message)
        return dead

    # -- files of results and uploads ------------------------------------------------------

    async def files_put(self, data: bytes, content_type: str) -> str:
        return self.files.put(data, content_type)

    async def files_get(self, file_id: str) -> tuple[bytes, str] | None:
        return self.files.get(file_id)

    async def files_count(self) -> int:
        return len(self.files)

    async def uploads_call(self, name: str, *args: Any, **kwargs: Any) -> tuple[str, Any]:
        """One :class:`~.storage.UploadStore` method on the board's store: ``("ok", value)``
        or ``("err", exception)`` (the ingress raises it again)."""
        if name not in SharedUploads.FORWARDED:
            return "err", ValueError(f"uploads: no method {name!r}")
        try:
            return "ok", getattr(self.uploads, name)(*args, **kwargs)
        except Exception as exc:
            return "err", exc

    async def stats(self) -> dict[str, Any]:
        """The board's part of ``/health``."""
        now = time.monotonic()
        running = sum(r["holder"] is not None and r["status"] != "COMPLETED"
                      for r in self.jobs.values())
        return {"waiting": len(self.waiting), "held": running, "remembered": len(self.jobs),
                "ingresses": {i: round(now - seen, 3) for i, seen in self.ingresses.items()},
                "lease_s": self.lease_s, "files": len(self.files),
                "uploads": self.uploads.kept(), **self.counts}

    async def ping(self) -> bool:
        return True


@serve.deployment(name=BOARD, num_replicas=1, max_ongoing_requests=64,
                  ray_actor_options={"num_cpus": 0}, health_check_period_s=5)
class LcmBoard:
    """Owns the :class:`JobBoard` actor (named ``name`` in this replica's namespace): the
    board dies with this replica, which Serve removes with the application."""

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        from .ray_serve import bind_loopback

        bind_loopback()
        self.name = name
        self.namespace = ray.get_runtime_context().namespace
        actor_class: Any = ray.remote(JobBoard)
        self.actor: Any = actor_class.options(
            name=name, namespace=self.namespace, num_cpus=0, max_concurrency=10000,
            max_restarts=0).remote(**options)
        ray.get(self.actor.ping.remote(), timeout=120)

    async def locate(self) -> tuple[str, str]:
        """The board actor's name and namespace (what each ingress looks it up by)."""
        return self.name, self.namespace

    async def check_health(self) -> None:
        await asyncio.wait_for(self.actor.ping.remote(), 30)  # a dead board: a new replica


# -- the ingress side -----------------------------------------------------------------------


class BoardClient:
    """The ingress's way to the board actor: awaitable calls (the queue routes, the poll) and
    blocking ones for the app's synchronous surfaces (the file and upload stores, read while
    an input is validated or an output published; one actor call, about a millisecond on
    one node). Looks the actor up again by name when it was replaced."""

    def __init__(self, name: str, namespace: str) -> None:
        self.name, self.namespace = name, namespace
        self.actor = ray.get_actor(name, namespace=namespace)

    def _refresh(self) -> None:
        with contextlib.suppress(Exception):
            self.actor = ray.get_actor(self.name, namespace=self.namespace)

    def call(self, method: str, *args: Any, timeout: float = CALL_TIMEOUT, **kw: Any) -> Any:
        from ray.exceptions import RayActorError

        for attempt in range(2):
            try:
                return ray.get(getattr(self.actor, method).remote(*args, **kw), timeout=timeout)
            except RayActorError:
                if attempt:
                    raise
                self._refresh()
        raise AssertionError("unreachable")

    async def acall(self, method: str, *args: Any, timeout: float = CALL_TIMEOUT,
                    **kw: Any) -> Any:
        from ray.exceptions import RayActorError

        for attempt in range(2):
            try:
                return await asyncio.wait_for(getattr(self.actor, method).remote(*args, **kw),
                                              timeout)
            except RayActorError:
                if attempt:
                    raise
                self._refresh()
        raise AssertionError("unreachable")


class SharedFiles(FileStore):
    """The images of ``sync_mode: false`` answers, kept on the board (any ingress serves
    ``/files/{id}``). The bounds are the board's store's."""

    def __init__(self, board: BoardClient, *, max_files: int = 512) -> None:
        super().__init__(max_files=max_files)
        self.board = board

    def __len__(self) -> int:
        n: int = self.board.call("files_count")
        return n

    def put(self, data: bytes, content_type: str) -> str:
        file_id: str = self.board.call("files_put", data, content_type)
        return file_id

    def get(self, file_id: str) -> tuple[bytes, str] | None:
        item: tuple[bytes, str] | None = self.board.call("files_get", file_id)
        return item


class SharedUploads(UploadStore):
    """The ``/storage`` uploads, their signed upload slots and storage tokens, kept on the
    board: a file uploaded through one ingress is an input at every ingress."""

    FORWARDED = ("kept", "mint_token", "token_owner", "initiate", "complete", "put", "get",
                 "__len__")

    def __init__(self, board: BoardClient, limits: UploadLimits) -> None:
        super().__init__(limits)
        self.board = board

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        kind, value = self.board.call("uploads_call", name, *args, **kwargs)
        if kind == "err":
            raise value
        return value

    def __len__(self) -> int:
        n: int = self._call("__len__")
        return n

    @property
    def total_bytes(self) -> int:
        size: int = self._call("kept")["bytes"]
        return size

    def kept(self) -> dict[str, object]:
        out: dict[str, object] = self._call("kept")
        return {**out, "where": "the job board (shared by every ingress replica)"}

    def mint_token(self, owner: str) -> tuple[str, float]:
        out: tuple[str, float] = self._call("mint_token", owner)
        return out

    def token_owner(self, token: str) -> str | None:
        out: str | None = self._call("token_owner", token)
        return out

    def initiate(self, owner: str, *, content_type: str, file_name: str) -> tuple[str, str]:
        out: tuple[str, str] = self._call("initiate", owner, content_type=content_type,
                                          file_name=file_name)
        return out

    def complete(self, upload_id: str, data: bytes, content_type: str | None) -> str | None:
        out: str | None = self._call("complete", upload_id, data, content_type)
        return out

    def put(self, owner: str, data: bytes, *, content_type: str, file_name: str) -> str:
        out: str = self._call("put", owner, data, content_type=content_type,
                              file_name=file_name)
        return out

    def get(self, file_id: str, owner: str) -> StoredFile | None:
        out: StoredFile | None = self._call("get", file_id, owner)
        return out


class BoardJobQueue(JobQueue):
    """The app's :class:`~.jobs.JobQueue` with its queue jobs on the board.

    Queue jobs (``remember=True``) are submitted to, read from and cancelled on the board;
    the routes get a :class:`~.jobs.Job` made from the board's record. Sync runs stay in this
    ingress (their client is connected here). :meth:`run_forever` polls the board for jobs and
    runs them on this ingress's job lane (``job_concurrency`` at once)."""

    def __init__(self, scheduler: Scheduler, files: FileStore, *, board: BoardClient,
                 ingress: str, concurrency: int = 8, max_queue: int = 64,
                 webhooks: WebhookSender | None = None, output_drop: Collection[str] = (),
                 poll_timeout: float = 1.0, **_: Any) -> None:
        super().__init__(scheduler, files, max_queue=max_queue, webhooks=webhooks,
                         output_drop=output_drop)
        self.board = board
        self.ingress = ingress
        self.concurrency = concurrency
        self.poll_timeout = poll_timeout
        self._held: dict[str, Job] = {}
        self._waiting = 0
        self._remembered = 0
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.polls = 0
        self.poll_errors = 0
        self.ran = 0

    # -- what the routes read ------------------------------------------------------------

    @property
    def length(self) -> int:
        return self._waiting  # the board's, as of this ingress's last poll

    @property
    def remembered(self) -> int:
        return self._remembered

    def _view(self, rec: dict[str, Any]) -> Job:
        job = Job(id=rec["id"], app_id=rec["app_id"],
                  inp=Input.model_construct(), base_url=rec["base_url"],
                  webhook=rec["webhook"], owner=rec["owner"], status=rec["status"],
                  logs=list(rec["logs"]), result=rec["result"], error=rec["error"],
                  error_type=rec["error_type"], error_status=int(rec["error_status"]),
                  error_body=rec["error_body"], inference_time=rec["inference_time"])
        job.board_version = rec["version"]  # type: ignore[attr-defined]
        job.board_position = rec["queue_position"]  # type: ignore[attr-defined]
        if job.status == "COMPLETED":
            job.done.set_result(None)
        return job

    def get(self, request_id: str, owner: str | None = None) -> Job | None:
        rec = self.board.call("get", request_id, owner)
        return None if rec is None else self._view(rec)

    def submit(self, inp: Input, *, app_id: str, base_url: str, webhook: str | None = None,
               remember: bool = True, owner: str = "anonymous") -> Job:
        if not remember:  # a sync run: answered here, to its connected client
            return super().submit(inp, app_id=app_id, base_url=base_url, webhook=webhook,
                                  remember=False, owner=owner)
        kind, value = self.board.call("submit", self._record(
            inp, app_id=app_id, base_url=base_url, webhook=webhook, owner=owner))
        if kind == "full":
            raise QueueFull(value)
        return self._view(value)

    async def aget(self, request_id: str, owner: str | None = None) -> Job | None:
        rec = await self.board.acall("get", request_id, owner)
        return None if rec is None else self._view(rec)

    async def asubmit(self, inp: Input, *, app_id: str, base_url: str,
                      webhook: str | None = None, owner: str = "anonymous") -> Job:
        kind, value = await self.board.acall("submit", self._record(
            inp, app_id=app_id, base_url=base_url, webhook=webhook, owner=owner))
        if kind == "full":
            raise QueueFull(value)
        return self._view(value)

    async def acancel(self, job: Job) -> tuple[int, str]:
        if not hasattr(job, "board_version"):
            return super().cancel(job)
        code, text = await self.board.acall("cancel", job.id, job.owner)
        return int(code), str(text)

    def _record(self, inp: Input, *, app_id: str, base_url: str, webhook: str | None,
                owner: str) -> dict[str, Any]:
        import uuid

        return {"id": str(uuid.uuid4()), "owner": owner, "app_id": app_id,
                "input": inp.model_dump(), "base_url": base_url, "webhook": webhook,
                "via": self.ingress}

    def position(self, job: Job) -> int:
        pos = getattr(job, "board_position", None)
        return super().position(job) if pos is None else int(pos)

    def cancel(self, job: Job) -> tuple[int, str]:
        if not hasattr(job, "board_version"):
            return super().cancel(job)  # a sync run of this ingress
        code, text = self.board.call("cancel", job.id, job.owner)
        return int(code), str(text)

    def watch(self, job: Job) -> Callable[[float], Awaitable[Job | None]]:
        if not hasattr(job, "board_version"):
            return super().watch(job)
        version = job.board_version

        async def wait(timeout: float) -> Job | None:
            rec = await self.board.acall("watch", job.id, version, timeout,
                                         timeout=timeout + CALL_TIMEOUT)
            return None if rec is None else self._view(rec)

        return wait

    def stored_file(self, file_id: str) -> tuple[bytes, str] | None:
        return None

    def restore(self) -> None:
        """Called when the app starts: start polling the board."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run_forever())

    async def aclose(self) -> None:
        """Stop polling and hand the jobs this ingress holds back to the board (the app is
        stopping: Serve replaces or stops this replica)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self._held:
            with contextlib.suppress(Exception):
                await self.board.acall("release", self.ingress, timeout=5)
            self._held.clear()

    # -- running the board's jobs --------------------------------------------------------

    async def run_forever(self) -> None:
        """Poll the board (the lease) and run what it hands out; never returns."""
        while True:
            try:
                want = max(0, self.concurrency - len(self._held))
                work = await self.board.acall("poll", self.ingress, want, self.poll_timeout,
                                              timeout=self.poll_timeout + CALL_TIMEOUT)
                self.polls += 1
            except asyncio.CancelledError:
                raise
            except Exception:
                self.poll_errors += 1
                log.exception("ingress %s: polling the job board failed", self.ingress)
                await asyncio.sleep(0.5)
                continue
            self._waiting, self._remembered = work["waiting"], work["remembered"]
            for job_id in work["cancel"]:
                job = self._held.get(job_id)
                if job is not None and job.item is not None:
                    job.cancelled = True
                    if not self.scheduler.remove(self.lane, job.item):
                        self.scheduler.abort(job.item)
            for rec in work["jobs"]:
                self._run(rec)
            for rec in work["webhooks"]:
                if rec["webhook"] and self.webhooks is not None:
                    self._post_webhook(self._view(rec))

    def _run(self, rec: dict[str, Any]) -> None:
        job = Job(id=rec["id"], app_id=rec["app_id"], inp=Input.model_validate(rec["input"]),
                  base_url=rec["base_url"], webhook=rec["webhook"], owner=rec["owner"],
                  logs=list(rec["logs"]))
        job.board_lease = rec["lease"]  # type: ignore[attr-defined]
        self._held[job.id] = job
        self.ran += 1
        self._enqueue(job)

    def _start(self, job: Job) -> None:
        lease = getattr(job, "board_lease", None)
        if lease is None:
            super()._start(job)
            return
        job.status = "IN_PROGRESS"
        job.logs.append(_log_entry(f"generating on {self.scheduler.backend.info.name} "
                                   f"(ingress {self.ingress})"))
        self._spawn(self.board.acall("started", job.id, self.ingress, lease))

    def _settle(self, job: Job) -> None:
        lease = getattr(job, "board_lease", None)
        if lease is None:
            super()._settle(job)
            return
        self._held.pop(job.id, None)
        if not job.done.done():
            job.done.set_result(None)
        outcome = {"result": job.result, "error": job.error, "error_type": job.error_type,
                   "error_status": job.error_status, "error_body": job.error_body,
                   "inference_time": job.inference_time, "logs": job.logs}

        async def report() -> None:
            taken = await self.board.acall("finish", job.id, self.ingress, lease, outcome)
            if taken and job.webhook and self.webhooks is not None:
                self._post_webhook(job)

        self._spawn(report())

    def _spawn(self, coro: Any) -> None:
        async def guarded() -> None:
            try:
                await coro
            except Exception:
                log.exception("ingress %s: a job board call failed", self.ingress)

        task = asyncio.get_running_loop().create_task(guarded())
        self._tasks.add(task)  # held until done (the loop keeps weak references only)
        task.add_done_callback(self._tasks.discard)

    def stats(self) -> dict[str, Any]:
        return {"held": len(self._held), "polls": self.polls, "poll_errors": self.poll_errors,
                "ran": self.ran}
