"""Wrap a sync or async function in a measurement window: the one shape every metering decorator has.

`start()` runs before each call and returns the open-able window plus whatever `finish` needs;
`finish(window, state, failed)` runs after the call, also when it raised (then `failed` is True),
so a failed attempt is recorded before its exception propagates.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
Start = Callable[[], "tuple[AbstractContextManager[Any], Any]"]
Finish = Callable[[Any, Any, bool], None]


def around(fn: F, start: Start, finish: Finish) -> F:
    """`fn` with each call inside a window from `start`, reported to `finish`; sync or async alike."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            window, state = start()
            failed = True
            try:
                with window:
                    result = await fn(*args, **kwargs)
                failed = False
                return result
            finally:
                finish(window, state, failed)

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        window, state = start()
        failed = True
        try:
            with window:
                result = fn(*args, **kwargs)
            failed = False
            return result
        finally:
            finish(window, state, failed)

    return wrapper  # type: ignore[return-value]
