"""Comparisons between variants (throughput ratios, smallest cosine to the reference) and the printed table."""

from __future__ import annotations

from typing import Any

import numpy as np


def min_best_cosine(ours: np.ndarray, theirs: np.ndarray, ordered: bool) -> float:
    """Smallest cosine between a row of ``ours`` and its counterpart in ``theirs`` (same row, or the best match
    when the two list faces in different orders); NaN when the face counts differ."""
    if ours.shape != theirs.shape or ours.size == 0:
        return float("nan")
    products = ours.astype(np.float64) @ theirs.astype(np.float64).T
    return float(np.diagonal(products).min() if ordered else products.max(axis=1).min())


def add_comparisons(results: list[dict[str, Any]], stages: list[dict[str, Any]]) -> None:
    """Ratios to the reference loop (and to raw batched onnxruntime), and each variant's min cosine to the reference."""
    by_key: dict[tuple[Any, ...], tuple[dict[str, Any], dict[str, Any]]] = {}
    for result, stage in zip(results, stages, strict=False):
        by_key[
            (result.get("section"), result.get("model"), result.get("dataset"), result.get("variant"), result.get("dtype"))
        ] = (result, stage)
    for result, stage in zip(results, stages, strict=False):
        if "error" in result:
            continue
        key = (result["section"], result["model"], result.get("dataset"))
        reference = by_key.get((*key, "reference", None))
        raw = by_key.get((*key, "ort_raw", None))
        if reference and "error" not in reference[0]:
            result["x_reference"] = result["faces_per_s"] / reference[0]["faces_per_s"]
            try:
                ours = np.load(stage["output"], allow_pickle=False)
                theirs = np.load(reference[1]["output"], allow_pickle=False)
                result["min_cos_reference"] = min_best_cosine(ours, theirs, ordered=result["section"] == "embed")
            except (OSError, ValueError):
                pass
        if raw and "error" not in raw[0]:
            result["x_ort_raw"] = raw[0]["seconds"] / result["seconds"]
        quiet = by_key.get((*key, "reference_nospin", None))
        if quiet and "error" not in quiet[0]:
            result["x_reference_nospin"] = result["faces_per_s"] / quiet[0]["faces_per_s"]


TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("faces_per_s", "faces/s", "8.2f"),
    ("ms_per_face", "ms/face", "8.1f"),
    ("x_reference", "x ref", "6.3f"),
    ("x_ort_raw", "x raw", "6.3f"),
    ("x_reference_nospin", "x nospin", "8.3f"),
    ("min_cos_reference", "cos ref", "8.5f"),
    ("run_peak_mb", "run MB", "7.0f"),
    ("process_peak_mb", "proc MB", "7.0f"),
)
"""Numeric table columns: result key, header, format."""


def _cell(result: dict[str, Any], key: str, spec: str) -> str:
    value = result.get(key)
    if isinstance(value, (int, float)) and value == value:
        return format(value, spec)
    return "-".rjust(int(spec.split(".")[0]))


def format_table(results: list[dict[str, Any]]) -> str:
    """A fixed-width table of the results."""
    numbers = " ".join(f"{title:>{spec.split('.')[0]}}" for _, title, spec in TABLE_COLUMNS)
    header = f"{'section':8} {'model':28} {'data':6} {'variant':18} {'dtype':8} {'faces':>5} {numbers}  note"
    lines = [header, "-" * len(header)]
    for r in results:
        label = f"{r.get('section', ''):8} {r.get('model', ''):28} {str(r.get('dataset') or '-'):6} {r.get('variant', ''):18}"
        if "error" in r:
            lines.append(f"{label} ERROR {r['error']}")
            continue
        cells = " ".join(_cell(r, key, spec) for key, _, spec in TABLE_COLUMNS)
        lines.append(f"{label} {str(r.get('dtype') or '-'):8} {r['faces']:5d} {cells}  {r.get('note', '')}")
    return "\n".join(lines)
