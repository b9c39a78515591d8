"""Progress of a long run on stderr: a tqdm bar on a terminal, plain lines otherwise (logs, pipes, CI).

Every CLI run that can take more than 2 s shows something within 2 s: the plain form prints a line when
it starts, then at most every ``interval`` seconds, and when it ends.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

PLAIN_INTERVAL = 2.0
"""Seconds between two plain progress lines."""


class Progress:
    """Counts finished items; ``update(n)`` after each item or batch, ``close()`` at the end (or use ``with``).

    - On a terminal, with tqdm (huggingface_hub depends on it): a bar with items per second.
    - Elsewhere: ``"<description> N/T <unit>, X <unit>/s"`` lines on ``stream`` (stderr): one at the start,
      then at most every ``interval`` seconds, and one when the last item is done.
    - Silent when ``enabled`` is False or ``total`` is 0.
    """

    def __init__(
        self,
        total: int,
        description: str = "scored",
        unit: str = "images",
        enabled: bool = True,
        interval: float = PLAIN_INTERVAL,
        stream: TextIO | None = None,
    ) -> None:
        self.total = int(total)
        self.description = description
        self.unit = unit
        self.enabled = enabled and self.total > 0
        self.interval = interval
        self.done = 0
        self.started = time.perf_counter()
        self._last_print = self.started
        self._stream = stream if stream is not None else sys.stderr
        self._bar: Any = None
        if not self.enabled:
            return
        if _is_terminal(self._stream):
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(
                    total=self.total, unit=unit, desc=description, file=self._stream, dynamic_ncols=True, smoothing=0.1
                )
                return
        self._line()

    def rate(self) -> float:
        """Items per second since the start."""
        elapsed = time.perf_counter() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def update(self, count: int = 1) -> None:
        self.done += count
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(count)
            return
        now = time.perf_counter()
        if now - self._last_print >= self.interval or self.done >= self.total:
            self._last_print = now
            self._line()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _line(self) -> None:
        self._stream.write(f"{self.description} {self.done}/{self.total} {self.unit}, {self.rate():.1f} {self.unit}/s\n")
        self._stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (OSError, ValueError):
        return False


ProgressCallback = Callable[[int, int], None]
"""What library loops call after each item: ``(items done, total items)``."""


class ProgressReporter:
    """A ``ProgressCallback`` for the CLI: the first call opens a ``Progress`` of that total; ``close()`` ends it."""

    def __init__(self, description: str, unit: str = "images", enabled: bool = True) -> None:
        self.description = description
        self.unit = unit
        self.enabled = enabled
        self._progress: Progress | None = None

    def __call__(self, done: int, total: int) -> None:
        if self._progress is None:
            self._progress = Progress(total, self.description, self.unit, self.enabled)
        self._progress.update(done - self._progress.done)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.close()
