"""Validated enqueue options are remembered, and never at the cost of a check."""

from __future__ import annotations

import pytest

from omniq.core.task_builder import TaskOptions
from omniq.exceptions import ConfigurationError
from omniq.models.config import TaskDefaultsConfig


def test_the_same_options_give_the_same_validated_object() -> None:
    defaults = TaskDefaultsConfig()
    first = TaskOptions.cached({"queue_name": "mail", "priority": 2}, defaults)
    again = TaskOptions.cached({"queue_name": "mail", "priority": 2}, defaults)
    other = TaskOptions.cached({"queue_name": "mail", "priority": 3}, defaults)
    assert again is first
    assert (first.queue_name, first.priority, other.priority) == ("mail", 2, 3)


def test_an_equal_value_of_another_type_is_checked_again() -> None:
    """``1 == True`` and they hash alike, but ``store_result=1`` is refused."""
    assert TaskOptions.cached({"store_result": True}).store_result is True
    with pytest.raises(ConfigurationError, match="store_result 1 is not True or False"):
        TaskOptions.cached({"store_result": 1})


def test_bad_options_are_refused_every_time() -> None:
    for _ in range(2):
        with pytest.raises(ConfigurationError, match="priority"):
            TaskOptions.cached({"priority": "high"})


def test_unhashable_options_are_validated_each_call() -> None:
    tags = ["a"]
    first = TaskOptions.cached({"tags": tags})
    tags.append("b")
    second = TaskOptions.cached({"tags": tags})
    assert (first.tags, second.tags) == (["a"], ["a", "b"])


def test_other_defaults_give_their_own_options() -> None:
    loose = TaskOptions.cached({}, TaskDefaultsConfig(max_retries=1))
    strict = TaskOptions.cached({}, TaskDefaultsConfig(max_retries=7))
    assert (loose.max_retries, strict.max_retries) == (1, 7)
