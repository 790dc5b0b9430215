"""The one fan-out (raysym.fanout): results per item, errors that name the item, cancelled leftovers,
threads that match the task's CPUs, and the same numbers with and without Ray."""

import sys
import time

import pytest
from ray import cloudpickle

from raysym.errors import ConfigError, DataError, TaskError
from raysym.fanout import fan_out

# Workers cannot import a test module: Ray ships this module's functions by value instead.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def power(x, n):
    if x < 0:
        raise ValueError(f"negative item {x}")
    if x == 0:
        raise DataError("zero is bad input")
    return x ** n


@pytest.mark.parametrize("use_ray", [True, False])
def test_every_item_comes_back_with_its_result(ray_local, use_ray):
    results = dict(fan_out(power, [1, 2, 3], args=(2,), progress=False, use_ray=use_ray))
    assert results == {1: 1, 2: 4, 3: 9}
    [(item, result)] = fan_out(power, [{"x": 3}], argument=lambda item: item["x"], kwargs={"n": 3},
                               progress=False, use_ray=use_ray)
    assert item == {"x": 3} and result == 27


@pytest.mark.parametrize("use_ray", [True, False])
def test_a_failed_item_is_named_and_bad_input_keeps_its_type(ray_local, use_ray):
    with pytest.raises(TaskError, match=r"power of item -1 failed: negative item -1") as failure:
        list(fan_out(power, [2, -1], args=(2,), name=lambda x: f"item {x}", desc="power", progress=False,
                     use_ray=use_ray))
    assert "negative item -1" in str(failure.value.__cause__)
    with pytest.raises(DataError, match=r"power of item 0 failed: zero is bad input"):
        list(fan_out(power, [0], args=(2,), name=lambda x: f"item {x}", desc="power", progress=False,
                     use_ray=use_ray))


@pytest.mark.parametrize("use_ray", [True, False])
def test_unknown_task_resources_are_a_config_error_before_any_task(ray_local, use_ray):
    with pytest.raises(ConfigError, match="num_tpus"):
        list(fan_out(power, [1], args=(2,), resources={"num_tpus": 1}, progress=False, use_ray=use_ray))


def slow_or_failing(item, marker_dir):
    """Item 0 fails at once; the others would write a marker after 3 s if nobody cancelled them."""
    import pathlib

    if item == 0:
        raise ValueError("first item fails")
    time.sleep(3)
    pathlib.Path(marker_dir, f"finished-{item}").touch()
    return item


def test_after_a_failure_the_remaining_tasks_are_cancelled(ray_local, tmp_path):
    list(fan_out(power, [1, 2], args=(2,), progress=False))  # worker processes up, so the clock times no start-up
    start = time.perf_counter()
    with pytest.raises(TaskError, match="first item fails"):
        list(fan_out(slow_or_failing, [0, 1, 2, 3], args=(str(tmp_path),), spread=False, progress=False))
    assert time.perf_counter() - start < 3
    time.sleep(5)  # long enough for every task that was not cancelled to finish
    assert list(tmp_path.iterdir()) == []


def torch_threads(_):
    import torch

    return torch.get_num_threads()


def test_a_task_runs_torch_on_as_many_threads_as_cpus_it_holds(ray_local):
    [(_, one)] = fan_out(torch_threads, [0], progress=False)
    [(_, two)] = fan_out(torch_threads, [0], resources={"num_cpus": 2}, progress=False)
    assert (one, two) == (1, 2)


def halve(x):
    return x // 2


@pytest.mark.parametrize("use_ray", [True, False])
def test_follow_ups_run_as_soon_as_their_parent_is_done(ray_local, use_ray):
    """Each result may queue more items: here every even result its half, down to 0 (a chain, no barrier)."""
    seen = list(fan_out(halve, [40, 7], follow_up=lambda item, result: [result] if result and result % 2 == 0
                        else [], progress=False, use_ray=use_ray))
    assert sorted(seen) == [(7, 3), (10, 5), (20, 10), (40, 20)]
    assert [item for item, _ in seen if item in (40, 20, 10)] == [40, 20, 10]  # a follow-up runs after its parent


@pytest.mark.parametrize("use_ray", [True, False])
def test_items_start_highest_priority_first_and_follow_ups_take_their_place(ray_local, use_ray):
    order = [item for item, _ in fan_out(halve, [1, 5, 3], priority=lambda x: x, max_in_flight=1,
                                         follow_up=lambda item, result: [4] if item == 5 else [],
                                         progress=False, use_ray=use_ray)]
    assert order == [5, 4, 3, 1]


def test_a_bad_window_is_a_config_error_before_any_task(ray_local):
    with pytest.raises(ConfigError, match="max_in_flight"):
        list(fan_out(halve, [1], max_in_flight=0, progress=False))


def test_a_window_given_as_a_function_is_asked_before_each_submission(ray_local):
    asked = []

    def window():
        asked.append(1)
        return 1

    assert sorted(item for item, _ in fan_out(halve, [1, 2, 3], max_in_flight=window, progress=False)) == [1, 2, 3]
    assert len(asked) >= 3
