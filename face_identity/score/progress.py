"""A progress bar with images per second on stderr (tqdm when installed, else a plain line every few seconds)."""

from __future__ import annotations

import sys
import time
from typing import Any


class Progress:
    """Counts finished images; ``update(n)`` after each batch, ``close()`` at the end.

    With tqdm (huggingface_hub depends on it, so it is normally there) a bar with images/s; without
    it, a line ``scored N/T images, X images/s`` at most every ``interval`` seconds. Silent when
    ``enabled`` is False.
    """

    def __init__(self, total: int, enabled: bool = True, interval: float = 5.0, description: str = "scoring") -> None:
        self.total = total
        self.enabled = enabled and total > 0
        self.interval = interval
        self.done = 0
        self.started = time.perf_counter()
        self._last_print = self.started
        self._bar: Any = None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(total=total, unit="img", desc=description, file=sys.stderr, dynamic_ncols=True, smoothing=0.1)

    def rate(self) -> float:
        """Images per second since the start."""
        elapsed = time.perf_counter() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def update(self, count: int) -> None:
        self.done += count
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(count)
            return
        now = time.perf_counter()
        if now - self._last_print >= self.interval or self.done >= self.total:
            self._last_print = now
            sys.stderr.write(f"scored {self.done}/{self.total} images, {self.rate():.1f} images/s\n")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
