"""The fal-compatible server deployed on Ray Serve: an ingress and a model that scale apart
(docs/scale.md).

Two deployments make one Serve application:

* **``LcmIngress``** (one replica) is the whole app of :func:`~.app.create_app`: sync REST,
  queue, realtime WebSocket, tokens, storage, ``/stream``, ``/health``. Its scheduler is a
  :class:`RemoteScheduler`: the lanes stay here (a realtime session's bounded deque with
  newest-wins, the queue's FIFO), but each item runs on a model replica through a
  :class:`~ray.serve.handle.DeploymentHandle` instead of on a local worker, so N replicas run
  N generations at once.
* **``LcmModel``** (``--replicas N`` or ``--autoscale MIN,MAX``, ``--gpus-per-replica``) holds
  the real backend behind its own :class:`~.scheduler.Scheduler`: sessions of one replica are
  served round-robin and batched there as on a single server.

**Pinning.** :class:`PinnedRouter` (a Serve request router) keeps every request that carries a
``session_id`` on the replica it first chose, the one holding the fewest sessions of this
ingress. A realtime session sends its lane's key as ``session_id``, so all its frames run on one
replica for its life; when that replica dies its next frame is pinned again to a live one (the
frame that was running gets an ``x-fal-error``; the session keeps only its newest frames, as
always). Queue and sync jobs carry no ``session_id`` and go to the least-loaded replica.

**Jobs on a dying replica.** A job whose replica dies mid-run is run again once on a live
replica (*at least once* for the model, *at most once* for its answer: the first run never
answered anyone); a second death ends it with a clear ``generation_failed`` error. Nothing is
dropped silently.

Importing this module imports ray: ``lcm-widgets serve --ray`` imports it only when asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Sequence
from typing import Any

from ray import serve
from ray.serve.request_router import PendingRequest, ReplicaID, RequestRouter, RunningReplica

from ..backends.base import Backend, BackendInfo
from ..errors import GenerationFailed
from ..schema import Input, Output
from .config import ServerConfig
from .scheduler import Lane, Scheduler, WorkItem

__all__ = ["INGRESS", "MODEL", "PinnedRouter", "RemoteScheduler", "app_builder", "build_app",
           "live_replicas"]

log = logging.getLogger("lcm_widgets.server")

INGRESS = "LcmIngress"
MODEL = "LcmModel"
#: The request router of the model deployment, by import path (what the serve config names).
ROUTER_PATH = "lcm_widgets.server.ray_serve:PinnedRouter"
#: ``session_id`` prefix that targets one replica by its id (``/health`` asks each this way).
TARGET = "@replica:"
#: Pins remembered per router (oldest forgotten first; a closing session drops its own).
MAX_PINS = 65536
#: How often a job whose replica died is tried in all (the first run plus one re-run).
JOB_ATTEMPTS = 2

# deployment name -> the live replicas' ids, as this process's routers last saw them
_LIVE: dict[str, list[str]] = {}


def _live() -> dict[str, list[str]]:
    """This process's :data:`_LIVE`, the module's own (Serve may hand a router class over by
    value, with a copy of the module's globals: the imported module is the one to share)."""
    import importlib

    live: dict[str, list[str]] = importlib.import_module(__name__)._LIVE
    return live


def live_replicas(deployment: str = MODEL) -> list[str]:
    """Ids of the model replicas the router of this process routes to (for ``/health``)."""
    return list(_live().get(deployment, []))


class PinnedRouter(RequestRouter):
    """Sticky routing: a ``session_id`` stays on one replica while that replica lives.

    A new session goes to the replica holding the fewest pinned sessions (then the shortest
    queue), so two sessions land on different replicas. ``session_id`` ``@replica:<id>``
    targets that replica (health probes); none: the least-loaded replica (jobs)."""

    def initialize_state(self, **kwargs: Any) -> None:
        self._pins: OrderedDict[str, ReplicaID] = OrderedDict()

    def update_replicas(self, replicas: list[RunningReplica]) -> None:
        super().update_replicas(replicas)
        _live()[self._deployment_id.name] = sorted(r.replica_id.unique_id for r in replicas)

    async def choose_replicas(self, candidate_replicas: list[RunningReplica],
                              pending_request: PendingRequest | None = None
                              ) -> list[list[RunningReplica]]:
        if not candidate_replicas:
            return []
        if pending_request is None:
            return [candidate_replicas]
        pending_request.routing_context.should_backoff = True
        sid = pending_request.metadata.session_id
        if not sid:
            return [candidate_replicas]  # the base picks the shortest queue among them
        live = {r.replica_id: r for r in candidate_replicas}
        if sid.startswith(TARGET):
            want = sid[len(TARGET):]
            return [[r] for rid, r in live.items() if rid.unique_id == want]
        closing = pending_request.metadata.call_method == "close_session"
        pinned = self._pins.get(sid)
        if pinned in live:
            if closing:
                self._pins.pop(sid, None)
            return [[live[pinned]]]
        if closing:  # its replica is gone, and so is its state: nothing to close
            return []
        counts = Counter(rid for rid in self._pins.values() if rid in live)
        best = min(candidate_replicas,
                   key=lambda r: (counts[r.replica_id],
                                  self.replica_queue_len_cache.get(r.replica_id) or 0))
        self._pins[sid] = best.replica_id
        while len(self._pins) > MAX_PINS:
            self._pins.popitem(last=False)
        return [[best]]


# -- the model deployment -------------------------------------------------------------------


def make_backend(model: str, device: str | None = None, delay: float = 0.0) -> Backend:
    """The backend a model replica serves: ``echo`` (``delay`` seconds a call) or a LocalLCM
    model id (``tiny``, ``lcm-dreamshaper-v7``, a folder)."""
    if model == "echo":
        from ..backends.echo import EchoBackend

        return EchoBackend(delay=delay)
    from ..backends.local import LocalLCM

    return LocalLCM(model, device=device)


class ModelReplica:
    """One model replica: the backend behind its own scheduler (a lane per pinned session,
    one for jobs). Calls answer ``("ok", Output, seconds)`` or ``("err", exception,
    seconds)``: a model error is a value here, and only a dead replica raises."""

    def __init__(self, model: str, device: str | None = None, *, batch: bool = False,
                 generation_timeout: float | None = None, delay: float = 0.0) -> None:
        bind_loopback()
        self.backend = make_backend(model, device, delay)
        self.scheduler = Scheduler(self.backend, batch=batch,
                                   generation_timeout=generation_timeout)
        self.jobs = self.scheduler.open_lane("jobs")
        self.sessions: dict[str, Lane] = {}
        self.in_flight = 0
        self.started = time.time()
        try:
            self.replica_id = serve.get_replica_context().replica_id.unique_id
        except Exception:  # outside Serve (a unit test): any unique name
            self.replica_id = uuid.uuid4().hex[:8]

    def info(self) -> BackendInfo:
        return self.backend.info

    async def generate(self, key: str, inp: Input) -> tuple[str, Any, float]:
        """Run ``inp`` on session lane ``key`` (``""``: the jobs lane)."""
        lane = self.jobs
        if key:
            lane = self.sessions.get(key) or self.sessions.setdefault(
                key, self.scheduler.open_lane(key))
        fut: asyncio.Future[tuple[Output | BaseException, float]] = \
            asyncio.get_running_loop().create_future()

        def deliver(res: Output | BaseException, elapsed: float) -> None:
            if not fut.done():
                fut.set_result((res, elapsed))

        item = WorkItem(inp=inp, deliver=deliver)
        self.in_flight += 1
        try:
            self.scheduler.push(lane, item)
            res, elapsed = await fut
        except asyncio.CancelledError:  # the ingress cancelled it (queue cancel, hang-up)
            if not self.scheduler.remove(lane, item):
                self.scheduler.abort(item)
            raise
        finally:
            self.in_flight -= 1
        if isinstance(res, BaseException):
            return "err", res, elapsed
        return "ok", res, elapsed

    async def close_session(self, key: str) -> None:
        lane = self.sessions.pop(key, None)
        if lane is not None:
            self.scheduler.close_lane(lane)

    async def stats(self) -> dict[str, Any]:
        """What ``/health`` lists for this replica."""
        sch = self.scheduler
        info = self.backend.info
        return {"id": self.replica_id, "pid": os.getpid(), "node": _node_ip(),
                "model": {"name": info.name, "model": info.model, "device": info.device},
                "in_flight": self.in_flight, "pending": sch.pending, "busy": sch.busy,
                "sessions": len(self.sessions), "generations": sch.generations,
                "generation_timeouts": sch.timeouts, "batching": sch.batching(),
                "uptime_s": round(time.time() - self.started, 3)}

    async def check_health(self) -> None:
        return None


def _node_ip() -> str:
    try:
        import ray

        return str(ray.util.get_node_ip_address())
    except Exception:
        return "unknown"


# -- the ingress side -------------------------------------------------------------------------


class _InfoOnly:
    """What the job queue reads of ``scheduler.backend``: its info."""

    def __init__(self, info: BackendInfo) -> None:
        self.info = info


class RemoteScheduler:
    """The :class:`~.scheduler.Scheduler` surface the app uses, running items on model
    replicas. A session lane runs one item at a time, pinned (``session_id`` = its key); the
    jobs lane runs up to ``job_concurrency`` at once, unpinned. Lanes keep the scheduler's
    rules: bounded session deques drop their oldest item, jobs wait in FIFO order."""

    def __init__(self, handle: Any, info: BackendInfo, *, batch: bool = False,
                 generation_timeout: float | None = None, job_concurrency: int = 8,
                 retry_delay: float = 0.5) -> None:
        self.handle = handle
        self.info = info
        self.backend = _InfoOnly(info)
        self.batch = bool(batch and info.batch_limit > 1)
        self.max_batch = info.batch_limit if self.batch else 1
        self.generation_timeout = generation_timeout
        self.job_concurrency = job_concurrency
        self.retry_delay = retry_delay
        self.timeouts = 0
        self.aborts = 0
        self.generations = 0
        self.batches = 0
        self.lanes = 0
        self.replica_deaths = 0  # calls that found their replica dead
        self.job_reruns = 0
        self._prefix = uuid.uuid4().hex[:12]  # this ingress: keys stay unique across ingresses
        self._active: dict[Lane, int] = {}
        self._tasks: dict[int, tuple[Lane, WorkItem, asyncio.Task[None]]] = {}
        self._aborted: set[int] = set()
        self._jobs_lane: Lane | None = None

    # -- the Scheduler surface -----------------------------------------------------------

    def open_lane(self, name: str, maxlen: int | None = None) -> Lane:
        self.lanes += 1
        lane = Lane(f"{self._prefix}-{name}", maxlen)
        if name == "jobs" and self._jobs_lane is None:
            self._jobs_lane = lane
        return lane

    def close_lane(self, lane: Lane) -> None:
        lane.closed = True
        lane.items.clear()
        self.lanes -= 1
        for running_lane, item, _task in list(self._tasks.values()):
            if running_lane is lane:
                self.abort(item)
        if lane is not self._jobs_lane:
            self._spawn(self._close_remote(lane.name))

    def push(self, lane: Lane, item: WorkItem) -> WorkItem | None:
        if lane.closed:
            raise RuntimeError(f"lane {lane.name} is closed")
        dropped = None
        if lane.items.maxlen is not None and len(lane.items) == lane.items.maxlen:
            dropped = lane.items[0]
            lane.dropped += 1
        lane.items.append(item)
        self._pump(lane)
        return dropped

    def remove(self, lane: Lane, item: WorkItem) -> bool:
        try:
            lane.items.remove(item)
        except ValueError:
            return False
        return True

    def abort(self, item: WorkItem) -> bool:
        entry = self._tasks.get(id(item))
        if entry is None:
            return False
        self._aborted.add(id(item))
        entry[2].cancel()
        return True

    def batching(self) -> dict[str, Any]:
        return {"enabled": self.batch, "max_images": self.max_batch,
                "where": "on each model replica (see replicas)"}

    @property
    def pending(self) -> int:
        return sum(len(lane.items) for lane in self._active) + (
            len(self._jobs_lane.items) if self._jobs_lane is not None and
            self._jobs_lane not in self._active else 0)

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    def start(self) -> None:
        return None

    async def stop(self) -> None:
        for _lane, _item, task in list(self._tasks.values()):
            task.cancel()
        for _lane, _item, task in list(self._tasks.values()):
            with contextlib.suppress(BaseException):
                await task

    # -- running items on replicas -------------------------------------------------------

    def _limit(self, lane: Lane) -> int:
        return self.job_concurrency if lane is self._jobs_lane else 1

    def _pump(self, lane: Lane) -> None:
        while lane.items and self._active.get(lane, 0) < self._limit(lane):
            item = lane.items.popleft()
            self._active[lane] = self._active.get(lane, 0) + 1
            task = asyncio.get_running_loop().create_task(self._run(lane, item))
            self._tasks[id(item)] = (lane, item, task)

    async def _run(self, lane: Lane, item: WorkItem) -> None:
        if item.on_start is not None:
            _safe(item.on_start)
        t0 = time.perf_counter()
        result: Output | BaseException
        elapsed: float | None = None
        try:
            result, elapsed = await self._call(lane, item)
        except asyncio.CancelledError:
            if id(item) not in self._aborted:
                raise
            self.aborts += 1
            result = GenerationFailed("generation: cancelled while running")
        except Exception as exc:
            result = exc
        finally:
            self._tasks.pop(id(item), None)
            self._aborted.discard(id(item))
            n = self._active.get(lane, 1) - 1
            if n > 0:
                self._active[lane] = n
            else:
                self._active.pop(lane, None)
        self.generations += 1
        self.batches += 1
        if isinstance(result, GenerationFailed) and "took longer" in str(result):
            self.timeouts += 1
        _safe(item.deliver, result, elapsed if elapsed is not None else
              time.perf_counter() - t0)
        if not lane.closed:
            self._pump(lane)

    async def _call(self, lane: Lane, item: WorkItem) -> tuple[Output | BaseException, float]:
        from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError

        is_job = lane is self._jobs_lane
        attempts = JOB_ATTEMPTS if is_job else 1
        key = "" if is_job else lane.name
        for attempt in range(1, attempts + 1):
            try:
                response = self.handle.options(session_id=key).generate.remote(key, item.inp)
                _kind, value, elapsed = await response
            except (ActorDiedError, ActorUnavailableError, RayActorError) as exc:
                self.replica_deaths += 1
                if attempt < attempts:
                    self.job_reruns += 1
                    log.warning("model replica died while running job %s; running it again "
                                "on a live replica (%s)", item.inp.request_id, exc)
                    await asyncio.sleep(self.retry_delay)
                    continue
                what = ("the job was run again and its replica died too" if is_job
                        else "send the frame again")
                return GenerationFailed(f"generation: the model replica died while running "
                                        f"it ({type(exc).__name__}); {what}"), 0.0
            return value, elapsed  # an Output, or the model's error as a value
        raise AssertionError("unreachable")

    async def _close_remote(self, key: str) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                self.handle.options(session_id=key).close_session.remote(key), 10)

    def _spawn(self, coro: Any) -> None:
        try:
            asyncio.get_running_loop().create_task(coro)
        except RuntimeError:  # no loop (shutting down)
            coro.close()

    async def replicas(self, timeout: float = 2.0) -> list[dict[str, Any]]:
        """Each live model replica's stats (``/health``); a replica that does not answer in
        ``timeout`` seconds is listed with its error."""
        ids = live_replicas(MODEL)

        async def one(rid: str) -> dict[str, Any]:
            try:
                stats: dict[str, Any] = await asyncio.wait_for(
                    self.handle.options(session_id=TARGET + rid).stats.remote(), timeout)
                return stats
            except Exception as exc:
                return {"id": rid, "error": f"{type(exc).__name__}: {exc}"[:200]}

        return list(await asyncio.gather(*(one(r) for r in ids)))


def _safe(fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except Exception:
        log.exception("ingress callback failed")


# -- the deployments and the application builder -------------------------------------------


@serve.deployment(name=MODEL, max_ongoing_requests=256, health_check_period_s=2,
                  health_check_timeout_s=10, graceful_shutdown_timeout_s=5)
class LcmModel(ModelReplica):
    """The model deployment (see :class:`ModelReplica`)."""


@serve.deployment(name=INGRESS, num_replicas=1, max_ongoing_requests=1024,
                  ray_actor_options={"num_cpus": 0})
@serve.ingress(None)
class LcmIngress:
    """The fal-compatible app, its generations run by :data:`MODEL` replicas, its queue on
    the job board (:mod:`.ray_board`) shared by every ingress replica."""

    async def __init__(self, model: Any, board: Any,  # type: ignore[misc]
                       config: ServerConfig, job_concurrency: int) -> None:
        # (Serve awaits an async __init__)
        import functools

        from .app import create_app
        from .auth import Authenticator
        from .ray_board import BoardClient, BoardJobQueue, SharedFiles, SharedUploads
        from .state import SharedParts

        bind_loopback()
        try:
            self.replica_id = serve.get_replica_context().replica_id.unique_id
        except Exception:
            self.replica_id = uuid.uuid4().hex[:8]
        info: BackendInfo = await model.info.remote()
        self.scheduler = RemoteScheduler(model, info, batch=config.batch,
                                         generation_timeout=config.generation_timeout,
                                         job_concurrency=job_concurrency)
        name, namespace = await board.locate.remote()
        self.board = BoardClient(name, namespace)
        shared = SharedParts(
            auth=Authenticator(config.keys, enabled=config.auth, secret=config.token_secret),
            files=SharedFiles(self.board, max_files=config.max_files),
            uploads=SharedUploads(self.board, config.uploads))
        self._backend = _InfoBackend(info)
        self._model = model
        make_jobs = functools.partial(BoardJobQueue, board=self.board, ingress=self.replica_id,
                                      concurrency=job_concurrency)
        self._lcm_app = create_app(self._backend, config, scheduler=self.scheduler,
                                   health_extra=self._health, shared=shared,
                                   make_jobs=make_jobs)
        self.jobs: BoardJobQueue = self._lcm_app.state.lcm.jobs
        self._lcm_app.add_middleware(IngressHeader, replica=self.replica_id)

    async def _health(self) -> dict[str, Any]:
        sch = self.scheduler
        replicas = await sch.replicas()
        models = {(r["model"]["name"], r["model"]["model"]) for r in replicas if "model" in r}
        if len(models) == 1 and models != {(sch.info.name, sch.info.model)}:
            # the model was redeployed after this ingress started: read its info again
            with contextlib.suppress(Exception):
                info = await asyncio.wait_for(self._model.info.remote(), 10)
                sch.info = self._backend.info = info
                sch.backend.info = info
        try:
            board = await self.board.acall("stats", timeout=5)
        except Exception as exc:
            board = {"error": f"{type(exc).__name__}: {exc}"[:200]}
        board.update(name=self.board.name, namespace=self.board.namespace)
        return {"ray": {"replicas": replicas, "replica_deaths": sch.replica_deaths,
                        "job_reruns": sch.job_reruns,
                        "in_flight": sum(r.get("in_flight", 0) for r in replicas),
                        "ingress": {"id": self.replica_id, "pid": os.getpid(),
                                    "node": _node_ip(), **self.jobs.stats()},
                        "board": board}}

    def __serve_build_asgi_app__(self) -> Any:
        return self._lcm_app


#: The response header naming the ingress replica that answered.
INGRESS_HEADER = "x-lcm-ingress"


class IngressHeader:
    """ASGI middleware: ``x-lcm-ingress: <replica id>`` on every HTTP answer."""

    def __init__(self, app: Any, replica: str) -> None:
        self.app = app
        self.value = replica.encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                  (INGRESS_HEADER.encode(), self.value)]}
            await send(message)

        await self.app(scope, receive, send_with)


def bind_loopback() -> None:
    """On a node whose address is 127.0.0.1, make this Serve replica's inter-deployment gRPC
    server listen there too (Ray 2.60 binds it on ``[::]``, every address, whatever the
    node's address is). Called from each deployment's constructor, which Serve runs before it
    starts that server; elsewhere (a node with a routable address) nothing changes."""
    if _node_ip() != "127.0.0.1":
        return
    try:
        import ray.serve._private.replica as replica_mod
    except ImportError:
        return
    add = replica_mod.add_port_to_grpc_server
    if getattr(add, "_lcm_loopback", False):
        return

    def add_loopback(server: Any, address: str) -> Any:
        if address.startswith("[::]:"):
            address = "127.0.0.1:" + address[len("[::]:"):]
        return add(server, address)

    add_loopback._lcm_loopback = True  # type: ignore[attr-defined]
    replica_mod.add_port_to_grpc_server = add_loopback  # type: ignore[attr-defined]


class _InfoBackend:
    """The ingress's stand-in for the model: its info (the model runs on the replicas)."""

    def __init__(self, info: BackendInfo) -> None:
        self.info = info

    async def generate(self, inp: Input) -> Output:
        raise GenerationFailed("the ingress runs no model; its scheduler sends work to replicas")

    async def aclose(self) -> None:
        return None


#: The keys ``build_app`` reads from its ``args`` (a serve config's ``args:``).
ARG_DEFAULTS: dict[str, Any] = {
    "model": "echo", "device": None, "echo_delay": 0.0, "replicas": 1, "autoscale": None,
    "target_in_flight": 2.0, "gpus_per_replica": 0.0, "cpus_per_replica": 1.0,
    "app_id": "fal-ai/fast-lcm-diffusion", "auth": True, "batch": False, "max_queue": 64,
    "session_timeout": 60.0, "generation_timeout": 120.0, "job_concurrency": 8,
    "ingress_replicas": 1, "ingress_lease_s": 10.0,
}


def build_app(args: dict[str, Any], *, keys: Sequence[str] | None = None,
              token_secret: bytes | None = None) -> Any:
    """The Serve application (``serve deploy`` calls this with the config's ``args``).

    Keys come from ``keys`` or, when None, the environment (``LCM_WIDGETS_KEYS``,
    ``FAL_KEY``); the token secret from ``token_secret`` or ``LCM_WIDGETS_TOKEN_SECRET``, else
    a random one made here, once: every ingress replica gets the same, so a token minted
    at one is valid at all."""
    from .auth import keys_from_env

    unknown = set(args) - set(ARG_DEFAULTS)
    if unknown:
        raise ValueError(f"args: unknown key(s) {sorted(unknown)}; known: "
                         f"{sorted(ARG_DEFAULTS)}")
    a = {**ARG_DEFAULTS, **args}
    from ..commands.serve_ray import validate_ingress, validate_scale

    n, pair, gpus = validate_scale(a["replicas"], a["autoscale"], a["gpus_per_replica"],
                                   a["target_in_flight"])
    n_ingress, lease_s = validate_ingress(a["ingress_replicas"], a["ingress_lease_s"])
    if keys is None:
        keys = keys_from_env()
    if token_secret is None:
        env = os.environ.get("LCM_WIDGETS_TOKEN_SECRET")
        token_secret = env.encode() if env else secrets.token_bytes(32)
    config = ServerConfig(app_id=a["app_id"], keys=list(keys), auth=bool(a["auth"]),
                          token_secret=token_secret, max_queue=int(a["max_queue"]),
                          session_timeout=a["session_timeout"] or None, batch=bool(a["batch"]),
                          generation_timeout=a["generation_timeout"] or None)
    actor: dict[str, Any] = {"num_cpus": float(a["cpus_per_replica"])}
    if gpus:
        actor["num_gpus"] = gpus
    options: dict[str, Any] = {
        "ray_actor_options": actor,
        "request_router_config": {"request_router_class": ROUTER_PATH},
    }
    if pair is not None:
        lo, hi = pair
        options["autoscaling_config"] = {
            "min_replicas": lo, "max_replicas": hi, "initial_replicas": max(lo, 1),
            "target_ongoing_requests": float(a["target_in_flight"])}
    else:
        options["num_replicas"] = n
    model = LcmModel.options(**options).bind(  # type: ignore[attr-defined]
        a["model"], a["device"], batch=bool(a["batch"]),
        generation_timeout=a["generation_timeout"] or None, delay=float(a["echo_delay"]))
    from .ray_board import LcmBoard

    board = LcmBoard.bind(  # type: ignore[attr-defined]
        f"lcm-widgets-board-{secrets.token_hex(6)}",  # one board per build of the app
        {"max_queue": config.max_queue, "lease_s": lease_s, "max_files": config.max_files,
         "uploads": config.uploads})
    return LcmIngress.options(num_replicas=n_ingress).bind(  # type: ignore[attr-defined]
        model, board, config, int(a["job_concurrency"]))


def app_builder(args: dict[str, Any]) -> Any:
    """What a serve config's ``import_path`` names: :func:`build_app` with keys and token
    secret from the cluster's environment."""
    return build_app(args)
