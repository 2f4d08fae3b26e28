"""Waiting on a condition instead of sleeping: a test waits as long as the machine needs, and no longer."""
from __future__ import annotations

import reprlib
from typing import Callable, TypeVar

from streams.devstack.processes import wait_until

T = TypeVar("T")
_short = reprlib.Repr()
_short.maxstring = _short.maxother = 300
_short.maxdict = _short.maxlist = 6


def eventually(condition: Callable[[], T], timeout: float = 30.0, interval: float = 0.5,
               message: str | Callable[[], str] = "the condition did not hold",
               ignoring: tuple[type[BaseException], ...] = ()) -> T:
    """Call `condition` every `interval` seconds until it returns something true, and return that.

    After `timeout` seconds fail with `message` (a callable is asked then, for the state of things
    at that moment) and the condition's last answer. Exceptions the condition raises end the wait
    at once, except those in `ignoring` (e.g. OSError while a server starts), which count as not yet."""
    def describe(last) -> str:
        said = message() if callable(message) else message
        return f"{said}: not within {timeout:g}s; the condition's last answer: {_short.repr(last)}"

    try:
        return wait_until(condition, timeout, interval, ignoring=ignoring, describe=describe)
    except TimeoutError as timeout_error:
        raise AssertionError(str(timeout_error)) from None
