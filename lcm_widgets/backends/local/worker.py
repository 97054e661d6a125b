"""The one model thread of a :class:`~.backend.LocalLCM`: all model work runs there, under a lock.

One thread, not a pool: torch keeps an OpenMP team per calling thread, and on a busy CPU several
teams spin against each other (measured here: 2-3x slower frames). The lock serialises work
submitted from several threads or event loops (two Studios sharing one LocalLCM), and work is
never run on an event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from ...errors import BackendError, GenerationFailed, LCMWidgetsError

__all__ = ["ModelThread"]

T = TypeVar("T")

CLOSED = "LocalLCM is closed; create a new one"


class ModelThread:
    """Runs callables on one named worker thread, under one lock, in ``torch.inference_mode``.

    Errors from :mod:`lcm_widgets.errors` pass through; any other exception becomes
    :class:`~lcm_widgets.errors.GenerationFailed` naming ``model`` (the cause chained). After
    :meth:`close` every call raises :class:`~lcm_widgets.errors.BackendError`.
    """

    def __init__(self, torch: Any, model: str, name: str) -> None:
        self._torch = torch
        self.model = model
        self.name = name
        self.lock = threading.Lock()
        self.closed = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    def job(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` here, under the lock, in inference mode, with errors translated."""
        with self.lock:
            if self.closed:
                raise BackendError(CLOSED)
            try:
                with self._torch.inference_mode():
                    return fn()
            except LCMWidgetsError:
                raise
            except Exception as exc:
                raise GenerationFailed(f"local model {self.model!r} failed: "
                                       f"{type(exc).__name__}: {exc}") from exc

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Queue :meth:`job` of ``fn`` on the thread."""
        try:
            return self._executor.submit(self.job, fn)
        except RuntimeError as exc:  # submit after shutdown: closed meanwhile
            raise BackendError(CLOSED) from exc

    def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the thread and wait (directly, when already on it)."""
        if threading.current_thread().name.startswith(self.name):
            return self.job(fn)
        return self.submit(fn).result()

    async def run_async(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the thread without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(fn))

    def close(self, release: Callable[[], None]) -> None:
        """Mark closed and call ``release`` under the lock (once), then stop the thread."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            release()
        self._executor.shutdown(wait=False)
