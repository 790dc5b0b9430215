"""One Ray task per item, results handed back as they finish: the fan-out every analysis stage shares.

Evaluation, Hessian, smearing and distillation all have the same shape: a plain function of one trial
(its model file) and some shared data (jets in the object store), run once per trial, with results
written as soon as each trial finishes so a killed stage resumes where it stopped. ``fan_out`` is that
shape and nothing else; the stages decide what to run and where to write. ``use_ray=False`` runs the
same calls one after the other in this process, for notebooks, debugging and machines without Ray.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Mapping, TypeVar

from raysym.errors import ConfigError

Item = TypeVar("Item")

#: What one task asks of the scheduler unless told otherwise: one CPU, as the analyses are
#: single-threaded (torch on one thread), so a node runs as many trials at once as it has cores.
DEFAULT_RESOURCES: Mapping[str, float] = {"num_cpus": 1}


def current_node_id() -> str | None:
    """The id of the Ray node this code runs on, or None outside Ray.

    Stored with each result, so a study can show (and a test can check) that the work was spread over
    the cluster.
    """
    import ray

    if not ray.is_initialized():
        return None
    return ray.get_runtime_context().get_node_id()


def _task_options(resources: Mapping[str, Any] | None, spread: bool) -> dict[str, Any]:
    """Ray ``.options`` for one task: its resources, and SPREAD scheduling when asked.

    Ray's default strategy packs tasks onto the node that submits them until it is full; SPREAD hands
    them round the nodes instead, which is what a stage of a few long, equal tasks wants.
    """
    options = dict(DEFAULT_RESOURCES if resources is None else resources)
    unknown = set(options) - {"num_cpus", "num_gpus", "memory", "resources"}
    if unknown:
        raise ConfigError(f"unknown task resource(s) {', '.join(sorted(unknown))}; use num_cpus, "
                          "num_gpus, memory or resources={'name': amount}")
    if spread:
        options["scheduling_strategy"] = "SPREAD"
    return options


def _serial(function: Callable, items: list, argument: Callable, args: tuple, kwargs: Mapping[str, Any],
            bar) -> Iterator:
    """The fan-out without Ray: same calls, this process, in order. Object refs in ``args`` are fetched."""
    import ray

    args = tuple(ray.get(a) if isinstance(a, ray.ObjectRef) else a for a in args)
    for item in items:
        result = function(argument(item), *args, **kwargs)
        bar.update()
        yield item, result


def _remote(function: Callable, items: list, argument: Callable, args: tuple, kwargs: Mapping[str, Any],
            options: dict[str, Any], bar) -> Iterator:
    """One Ray task per item; yield each (item, result) when its task finishes.

    A failed task's error is raised here, in the caller, when its turn comes. If the caller stops early
    (an error, or a ``break``), tasks not yet finished are cancelled so they stop using the cluster.
    """
    import ray

    remote = function if isinstance(function, ray.remote_function.RemoteFunction) else ray.remote(function)
    remote = remote.options(**options)
    pending = {remote.remote(argument(item), *args, **kwargs): item for item in items}
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            item = pending.pop(done[0])
            result = ray.get(done[0])
            bar.update()
            yield item, result
    finally:
        for ref in pending:
            ray.cancel(ref)


def fan_out(function: Callable, items: Iterable[Item], *, argument: Callable[[Item], Any] | None = None,
            args: tuple = (), kwargs: Mapping[str, Any] | None = None,
            resources: Mapping[str, Any] | None = None, spread: bool = True, progress: bool = True,
            desc: str = "tasks", use_ray: bool = True) -> Iterator[tuple[Item, Any]]:
    """Run ``function(argument(item), *args, **kwargs)`` for each item, one Ray task each; yield (item, result).

    Results come in the order the tasks finish, so the caller can store each at once. ``argument``
    (default: the item itself) picks what the task needs from the item, so an item can be a whole
    trials-table row while the task gets only its model file. ``function`` is a plain function or an
    ``@ray.remote`` one; ``resources`` (default one CPU) and ``spread`` (SPREAD scheduling over the
    nodes) set its task options. Put large shared data in ``args`` as an object ref (``ray.put``): Ray
    then hands every task the same copy instead of pickling it per task.
    A tqdm bar counts finished items. The caller connects to Ray first; otherwise Ray starts a local
    instance on the first task, as it always does.
    """
    from tqdm.auto import tqdm

    items = list(items)
    kwargs = dict(kwargs or {})
    argument = argument or (lambda item: item)
    options = _task_options(resources, spread)  # checked without Ray too, before any task starts
    bar = tqdm(total=len(items), unit="task", desc=desc, disable=not progress)
    try:
        if use_ray:
            yield from _remote(function, items, argument, args, kwargs, options, bar)
        else:
            plain = getattr(function, "_function", function)  # a RemoteFunction's own Python function
            yield from _serial(plain, items, argument, args, kwargs, bar)
    finally:
        bar.close()
