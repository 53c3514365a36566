"""One render at a time per model, off the event loop, the newest request of each client first in mind.

A person drawing sends a new sketch every few hundred milliseconds; only the
latest matters. The queue therefore keeps at most one waiting job per client:
a newer one takes the older one's place in line, and the older one's caller
gets :class:`Superseded`. Jobs of different clients are served in arrival order.
Jobs run on the queue's own worker thread, so the event loop keeps answering
other requests (styles, thumbnails, other models) while a model renders.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Hashable, TypeVar

import torch

T = TypeVar("T")


class Superseded(Exception):
    """A newer request from the same client replaced this one before it ran."""


class RenderQueue:
    """Run jobs one at a time on a worker thread; per client only the newest waiting job is kept.

    Parameters
    ----------
    name : str
        Names the worker thread (for debuggers and ``py-spy``).
    threads : int or None
        torch intra-op threads of the worker. ``torch.set_num_threads`` does not
        carry over to new threads under OpenMP, so the worker sets it itself.

    Examples
    --------
    >>> queue = RenderQueue("demo")
    >>> asyncio.run(queue.submit(lambda: 6 * 7, client="a"))
    42
    >>> queue.close()
    """

    def __init__(self, name: str, threads: int | None = None) -> None:
        initializer = (lambda: torch.set_num_threads(threads)) if threads else None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"render-{name}", initializer=initializer)
        self._waiting: OrderedDict[Hashable, tuple[Callable[[], object], asyncio.Future]] = OrderedDict()
        self._running = False
        self._anonymous = itertools.count()

    @property
    def waiting(self) -> int:
        """Jobs queued and not started."""
        return len(self._waiting)

    async def submit(self, job: Callable[[], T], client: str | None = None) -> T:
        """Queue ``job`` and wait for its result.

        Parameters
        ----------
        job : callable
            Called with no arguments on the worker thread; its exceptions are
            raised here.
        client : str or None
            Who asks. A waiting job of the same client is replaced; ``None``
            (an API caller that gave no id) never replaces anything.

        Raises
        ------
        Superseded
            A newer job of the same client took this one's place before it started.
        """
        loop = asyncio.get_running_loop()
        key: Hashable = ("client", client) if client is not None else ("anonymous", next(self._anonymous))
        future = loop.create_future()
        replaced = self._waiting.get(key)
        if replaced is not None and not replaced[1].done():
            replaced[1].set_exception(Superseded("a newer request from this client replaced this one"))
        # Assigning to an existing key keeps its place in line: the client does not wait twice.
        self._waiting[key] = (job, future)
        self._start_next(loop)
        try:
            return await future
        except asyncio.CancelledError:
            # The caller went away (client disconnected): do not render for nobody.
            if self._waiting.get(key, (None, None))[1] is future:
                del self._waiting[key]
            raise

    def _start_next(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._running or not self._waiting:
            return
        _, (job, future) = self._waiting.popitem(last=False)
        self._running = True
        running = loop.run_in_executor(self._executor, job)

        def finished(done: asyncio.Future) -> None:
            self._running = False
            # Read the outcome even when nobody waits any more, so asyncio does not
            # log an exception that was "never retrieved".
            error = None if done.cancelled() else done.exception()
            if not future.done():
                if done.cancelled():
                    future.cancel()
                elif error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(done.result())
            self._start_next(loop)

        running.add_done_callback(finished)

    def close(self) -> None:
        """Stop the worker thread once its current job is done."""
        self._executor.shutdown(wait=False, cancel_futures=True)
