"""The embedded engine: one process scores batch after batch, decoding the next batch while the current one runs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from .. import InvalidArgumentError
from .rows import BatchScorer, Decoded, Row


def run_embedded(paths: Sequence[str], scorer: BatchScorer, batch_images: int) -> Iterator[list[Row]]:
    """Yield the rows of ``paths``, batch by batch of ``batch_images`` images, in order.

    The files of batch k + 1 are decoded (on the scorer's thread pool) while batch k is scored,
    so decoding overlaps detection and embedding. Any device: the scorer's models run where they
    were loaded.
    """
    if batch_images < 1:
        raise InvalidArgumentError(f"batch size must be at least 1 image, got {batch_images}")
    batches = [list(paths[start : start + batch_images]) for start in range(0, len(paths), batch_images)]
    if not batches:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="face-identity-prefetch") as reader:
        pending: Future[list[Decoded]] = reader.submit(scorer.decode_all, batches[0])
        for index, batch in enumerate(batches):
            decoded = pending.result()
            if index + 1 < len(batches):
                pending = reader.submit(scorer.decode_all, batches[index + 1])
            yield scorer.score_decoded(batch, decoded)
