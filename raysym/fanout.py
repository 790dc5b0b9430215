"""One Ray task per item, results handed back as they finish: the one fan-out every stage shares.

Generation, evaluation and analyses all have the same shape: a plain function
of one item (a chunk of jets to make, a trial's model file, a piece of a Hessian estimate) and some
shared data (jets in the object store), run once per item, with each result handed back as soon as its
task finishes so the caller can store it and a killed stage resumes where it stopped. ``fan_out`` is
that shape and nothing else; the stages decide what to run and where to write. Work that becomes
runnable only when other work is done (follow-ups) joins the same fan-out the moment it can, so a stage
never waits at a barrier between phases while workers idle.

It owns what every stage would otherwise repeat: wrapping the plain function as a Ray task with its
resources and a thread count that matches them, SPREAD scheduling, a progress bar, turning a failed
task into one error that names the item (and cancelling the tasks still running), and a serial mode
(``use_ray=False``) that runs the same calls in this process for notebooks, tests and debugging.
"""

from __future__ import annotations

import heapq
import itertools
import math
import os
import sys
from typing import Any, Callable, Iterable, Iterator, Mapping, TypeVar

from raysym.errors import ConfigError, DataError, TaskError, positive_int

Item = TypeVar("Item")

#: What one task asks of the scheduler unless told otherwise: one CPU, as the tasks are single-threaded
#: (torch on one thread), so a node runs as many of them at once as it has cores.
DEFAULT_RESOURCES: Mapping[str, float] = {"num_cpus": 1}
_RESOURCE_NAMES = ("num_cpus", "num_gpus", "memory", "resources")
#: How often a task whose worker process or node died (a lost spot node, say) is run again elsewhere.
#: Only such system failures are retried: an exception the task raises is an answer, and stops the stage.
NODE_LOSS_RETRIES = 3


def current_node_id() -> str | None:
    """The id of the Ray node this code runs on, or None outside Ray.

    Stored with results, so a study can show (and a test can check) that the work was spread over the
    cluster.
    """
    import ray

    if not ray.is_initialized():
        return None
    return ray.get_runtime_context().get_node_id()


def share(value: Any, use_ray: bool = True) -> Any:
    """``value`` in Ray's object store (once, for every task that gets it as an argument), or as it is
    without Ray or when it already is an object ref."""
    if not use_ray:
        return value
    import ray

    return value if isinstance(value, ray.ObjectRef) else ray.put(value)


def _task_options(resources: Mapping[str, Any] | None, spread: bool) -> dict[str, Any]:
    """Ray ``.options`` for one task: its resources, SPREAD scheduling when asked, and reruns after a lost
    node (:data:`NODE_LOSS_RETRIES`).

    Ray's default strategy packs tasks onto the node that submits them until it is full; SPREAD hands
    them round the nodes instead, which is what a stage of a few long, equal tasks wants.
    """
    options = dict(DEFAULT_RESOURCES if resources is None else resources)
    unknown = set(options) - set(_RESOURCE_NAMES)
    if unknown:
        raise ConfigError(f"unknown task resource(s) {', '.join(sorted(unknown))}; use num_cpus, "
                          "num_gpus, memory or resources={'name': amount}")
    if spread:
        options["scheduling_strategy"] = "SPREAD"
    options.update(max_retries=NODE_LOSS_RETRIES, retry_exceptions=False)
    return options


def _threads(options: Mapping[str, Any]) -> int:
    """Threads a task may use: the whole CPUs it holds, at least one."""
    return max(1, int(options.get("num_cpus", 1)))


def run_task(function: Callable, threads: int, *args: Any, **kwargs: Any) -> Any:
    """The body of every task: numerical libraries on the task's own CPUs, then the plain function.

    More threads than the scheduler granted would fight over the node's cores with the other tasks
    there. torch is told directly when a stage's module has already imported it; otherwise the
    OpenMP setting reaches it when the function imports it.
    """
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    return function(*args, **kwargs)


def task_failure(error: BaseException, desc: str, label: str) -> Exception:
    """The error to raise for a failed task: the task's own error, its message prefixed by the item.

    Ray wraps an exception raised in a task; its ``cause`` is the original. A ``DataError`` or
    ``ConfigError`` (bad input) keeps its type, so callers and the command line treat it as bad input;
    anything else becomes a :class:`~raysym.errors.TaskError` chained to the original.
    """
    cause = getattr(error, "cause", None) or error
    message = f"{desc} of {label} failed: {cause}"
    if isinstance(cause, (DataError, ConfigError)):
        return type(cause)(message)
    return TaskError(message)


_REMOTE_TASK = None


def _remote_task():
    """:func:`run_task` as a Ray remote function, made once (it needs Ray imported, not started)."""
    global _REMOTE_TASK
    if _REMOTE_TASK is None:
        import ray

        _REMOTE_TASK = ray.remote(run_task)
    return _REMOTE_TASK


class _Queue:
    """Items not yet started, highest ``priority`` first and, among equals, in the order they were added."""

    def __init__(self, priority: Callable[[Any], float] | None):
        self._priority = priority
        self._heap: list = []
        self._count = itertools.count()

    def add(self, items: Iterable) -> None:
        for item in items:
            rank = -float(self._priority(item)) if self._priority else 0.0
            heapq.heappush(self._heap, (rank, next(self._count), item))

    def pop(self):
        return heapq.heappop(self._heap)[2]

    def __len__(self) -> int:
        return len(self._heap)


def _serial(function: Callable, queue: _Queue, follow_up: Callable, argument: Callable, name: Callable,
            args: tuple, kwargs: Mapping[str, Any], desc: str, bar) -> Iterator:
    """The fan-out without Ray: same calls, this process, in priority order. Object refs in ``args`` are
    fetched."""
    import ray

    args = tuple(ray.get(a) if isinstance(a, ray.ObjectRef) else a for a in args)
    while queue:
        item = queue.pop()
        try:
            result = function(argument(item), *args, **kwargs)
        except Exception as err:
            raise task_failure(err, desc, name(item)) from err
        bar.update()
        yield item, result
        _grow(queue, follow_up(item, result), bar)


def _grow(queue: _Queue, items: Iterable, bar) -> None:
    """Queue follow-up items, and count them in the bar's total."""
    items = list(items)
    if items:
        queue.add(items)
        bar.total = (bar.total or 0) + len(items)
        bar.refresh()


def _remote(function: Callable, queue: _Queue, follow_up: Callable, argument: Callable, name: Callable,
            args: tuple, kwargs: Mapping[str, Any], options: dict[str, Any],
            max_in_flight: int | Callable[[], int] | None,
            desc: str, bar) -> Iterator:
    """Ray tasks for the queued items, at most ``max_in_flight`` at a time; yield each (item, result) when
    its task finishes, then queue its follow-ups.

    A failed task stops the fan-out with :func:`task_failure`'s error. Whenever the fan-out stops early
    (a failure, or a caller's ``break`` or error), the tasks not yet finished are cancelled so they stop
    using the cluster.
    """
    import ray

    remote = _remote_task().options(**options)
    threads = _threads(options)
    pending: dict = {}

    def submit() -> None:
        limit = max_in_flight() if callable(max_in_flight) else max_in_flight
        while queue and (limit is None or len(pending) < positive_int("max_in_flight", limit)):
            item = queue.pop()
            pending[remote.remote(function, threads, argument(item), *args, **kwargs)] = item

    try:
        submit()
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            item = pending.pop(done[0])
            try:
                result = ray.get(done[0])
            except Exception as err:
                raise task_failure(err, desc, name(item)) from err
            bar.update()
            yield item, result
            _grow(queue, follow_up(item, result), bar)
            submit()
    finally:
        _cancel(list(pending))


#: How long a stopped fan-out waits for its cancelled tasks to stop.
CANCEL_SECONDS = 2.0


def _cancel(refs: list) -> None:
    """Cancel the unfinished tasks of ``refs`` with ``force``: the worker process running one is ended, a
    queued one never starts. A gentle cancel (KeyboardInterrupt in the task) can miss a task that is being
    handed to a worker at that instant, which then runs to its end and writes what it writes after the
    fan-out already failed (seen on CI and on busy machines, also when cancelling twice or in a loop);
    ending its process cannot be missed. The fan-out failed or was abandoned, so none of that work is
    wanted, and Ray starts fresh workers for later tasks."""
    import ray

    if not refs:
        return
    for ref in refs:
        ray.cancel(ref, force=True)
    ray.wait(refs, num_returns=len(refs), timeout=CANCEL_SECONDS)


def cluster_window(cpus_per_task: float = 1.0) -> Callable[[], int]:
    """A ``max_in_flight`` for :func:`fan_out`: twice as many tasks as the cluster runs at a time (its CPUs
    now ÷ a task's), at least 2. Enough queued that no worker waits for the driver and an autoscaler sees
    demand (it is asked again before every submission, so it follows a cluster that grows from zero
    workers); few enough that the driver tracks a bounded number of tasks however many items there are,
    and that a follow-up with a high priority is not stuck behind the whole queue."""
    import ray

    def window() -> int:
        cpus = ray.cluster_resources().get("CPU", 0) if ray.is_initialized() else 0
        return max(2, 2 * math.floor(cpus / cpus_per_task))

    return window


def fan_out(function: Callable, items: Iterable[Item], *, argument: Callable[[Item], Any] | None = None,
            name: Callable[[Item], str] | None = None, args: tuple = (), kwargs: Mapping[str, Any] | None = None,
            resources: Mapping[str, Any] | None = None, spread: bool = True, progress: bool = True,
            desc: str = "tasks", use_ray: bool = True, priority: Callable[[Item], float] | None = None,
            follow_up: Callable[[Item, Any], Iterable[Item]] | None = None,
            max_in_flight: int | Callable[[], int] | None = None) -> Iterator[tuple[Item, Any]]:
    """Run ``function(argument(item), *args, **kwargs)`` for each item, one Ray task each; yield (item, result).

    Results come in the order the tasks finish, so the caller can store each at once. ``argument``
    (default: the item itself) picks what the task needs from the item, so an item can be a whole
    trials-table row while the task gets only its model file; ``name`` (default ``str(item)``) is how
    an error names the item. ``function`` is a plain, importable function; ``resources`` (default one
    CPU) and ``spread`` (SPREAD scheduling over the nodes) set its task options, and the task runs
    torch on as many threads as whole CPUs it holds. Put large shared data in ``args`` as an object ref
    (``ray.put``): Ray then hands every task the same copy instead of pickling it per task.

    Work that depends on other work runs as soon as it can, without a barrier between phases:
    ``follow_up(item, result)``, called after the caller has handled a result, returns items that become
    runnable now (a scan along an eigenvector once it is known, another round of probes when a
    precision is not reached yet); they join the queue. Items start highest ``priority`` first (longest
    first balances workers: the short tasks fill the gaps at the end). Ray starts queued tasks in the
    order they were submitted, so for priorities to hold for follow-ups too, ``max_in_flight`` bounds
    how many tasks are submitted at once (None: all at once); a function is asked again before each
    submission, so the bound can follow a cluster that grows.

    A failed item raises one error naming it (``desc`` says what the tasks do) and cancels the rest.
    A tqdm bar counts finished items. The caller connects to Ray first (``raysym.ray_session``);
    otherwise Ray starts a local instance on the first task, as it always does.
    """
    from tqdm.auto import tqdm

    queue = _Queue(priority)
    queue.add(items)
    kwargs = dict(kwargs or {})
    argument = argument or (lambda item: item)
    name = name or str
    follow_up = follow_up or (lambda item, result: ())
    if max_in_flight is not None and not callable(max_in_flight):
        positive_int("max_in_flight", max_in_flight)
    options = _task_options(resources, spread)  # checked without Ray too, before any task starts
    bar = tqdm(total=len(queue), unit="task", desc=desc, disable=not progress)
    try:
        if use_ray:
            yield from _remote(function, queue, follow_up, argument, name, args, kwargs, options, max_in_flight,
                               desc, bar)
        else:
            yield from _serial(function, queue, follow_up, argument, name, args, kwargs, desc, bar)
    finally:
        bar.close()
