"""One step of a chain: forwards in order, post-yield parts in reverse order, with timings."""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Generator, Sequence
from typing import Any

from .context import Context
from .middleware import Middleware

__all__ = ["run_step"]

logger = logging.getLogger(__name__)


def run_step(chain: Sequence[Middleware], ctx: Context) -> None:
    """Run one step of ``chain`` on ``ctx`` (onion model); does not renew ``ctx``.

    Every middleware forward runs in chain order; then the code after ``yield`` of each
    generator middleware runs in reverse order. ``ctx.timings[name]`` receives the seconds
    spent in each middleware (forward plus post-yield part).

    If a middleware raises, the generators already entered are closed (their ``finally``
    blocks run, innermost first) and the exception propagates.
    """
    pending: list[tuple[Middleware, Generator[Any, None, None]]] = []
    timings = ctx.timings
    try:
        for mw in chain:
            start = time.perf_counter()
            out = mw.fn(ctx)
            if inspect.isgenerator(out):
                try:
                    next(out)
                except StopIteration:
                    pass
                else:
                    pending.append((mw, out))
            timings[mw.name] = time.perf_counter() - start
        while pending:
            mw, gen = pending[-1]
            start = time.perf_counter()
            try:
                next(gen)
            except StopIteration:
                pass
            else:
                raise RuntimeError(
                    f"middleware {mw.name!r} yielded more than once; a middleware yields at "
                    f"most once (code before the yield runs forward, code after it runs after "
                    f"the whole chain)"
                )
            pending.pop()
            timings[mw.name] += time.perf_counter() - start
    finally:
        for mw, gen in reversed(pending):
            try:
                gen.close()
            except Exception:
                logger.exception("middleware %r raised while being closed", mw.name)
