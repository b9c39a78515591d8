"""Identity over time: rows per frame from face checks, the flagged frames, CSV/JSON files and the chart."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from face_identity.draw import FAIL_COLOUR, PASS_COLOUR, THRESHOLD_COLOUR
from face_identity.errors import InvalidArgumentError
from face_identity.swap import FaceCheck
from face_identity.timeline import FLAG_COLOURS, IdentityTimeline, build_timeline, timeline_chart, write_timeline

FIRST, SECOND = "hyperswap_1b_256", "inswapper_128"


@dataclass(frozen=True)
class Plan:
    """What the timeline reads of a swap plan."""

    no_face: tuple[int, ...]
    bridged: tuple[int, ...]


def check(frame: int, face: int, retention: float, leakage: float, fallback: bool = False, floor: float = 0.5) -> FaceCheck:
    model = SECOND if fallback else FIRST
    tried = (FIRST, SECOND) if fallback else (FIRST,)
    return FaceCheck(frame, face, model, retention, leakage, tried, retention >= floor)


@pytest.fixture
def timeline() -> IdentityTimeline:
    """Six frames: 0 fine, 1 no face, 2 two faces (the second by fallback), 3 below the floor, 4 bridged, 5 fine."""
    checks = [
        check(0, 0, 0.8, 0.1),
        check(2, 1, 0.7, 0.3, fallback=True),
        check(2, 0, 0.9, 0.2),
        check(3, 0, 0.3, 0.6, fallback=True),
        check(4, 0, 0.75, 0.15),
        check(5, 0, 0.85, 0.05),
    ]
    return build_timeline(6, checks, Plan(no_face=(1,), bridged=(4,)), 0.5)


def test_one_row_per_frame_with_the_worst_scores_and_the_flags(timeline: IdentityTimeline) -> None:
    rows = timeline.rows
    assert [row.frame for row in rows] == list(range(6)) and [row.faces for row in rows] == [1, 0, 2, 1, 1, 1]
    assert rows[2].models == (FIRST, SECOND) and rows[2].retention == 0.7 and rows[2].leakage == 0.3
    assert rows[1].retention is None and rows[1].leakage is None and rows[1].models == ()
    assert rows[3].flags == ("fallback", "below_floor") and rows[4].flags == ("bridged",)
    assert timeline.flagged() == {"no_face": (1,), "bridged": (4,), "fallback": (2, 3), "below_floor": (3,)}
    text = timeline.summary()
    assert "6 frame(s), 5 scored" in text and "below floor: 1 frame(s): 3" in text and "no face: 1 frame(s): 1" in text


def test_without_a_plan_frames_without_a_scored_face_have_no_face_and_nan_never_gets_in() -> None:
    checks = [check(0, 0, float("nan"), 0.2), check(2, 0, 0.6, float("inf"))]
    timeline = build_timeline(3, checks, None, None)
    assert timeline.flagged() == {"no_face": (1,), "bridged": (), "fallback": (), "below_floor": ()}
    assert [(row.retention, row.leakage) for row in timeline.rows] == [(None, 0.2), (None, None), (0.6, None)]
    with pytest.raises(InvalidArgumentError, match="frame 3"):
        build_timeline(3, [check(3, 0, 0.6, 0.1)], None, None)
    with pytest.raises(InvalidArgumentError, match="retention floor"):
        build_timeline(3, [], None, float("nan"))
    with pytest.raises(InvalidArgumentError, match="frame count"):
        build_timeline(-1, [], None, None)


def test_csv_and_json_files(timeline: IdentityTimeline, tmp_path: Path) -> None:
    with (write_timeline(timeline, tmp_path / "t.csv")).open(encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert [row["frame"] for row in table] == [str(n) for n in range(6)]
    assert table[1]["retention"] == "" and table[1]["leakage"] == "" and table[1]["no_face"] == "1"
    assert table[2]["models"] == f"{FIRST}+{SECOND}" and float(table[2]["retention"]) == pytest.approx(0.7)
    assert table[3]["below_floor"] == "1" and table[0]["below_floor"] == "0"
    document = json.loads((write_timeline(timeline, tmp_path / "t.JSON")).read_text(encoding="utf-8"))
    assert document["floor"] == 0.5 and document["flagged"]["fallback"] == [2, 3]
    assert document["rows"][1]["retention"] is None and document["rows"][2]["models"] == [FIRST, SECOND]
    assert "NaN" not in (tmp_path / "t.JSON").read_text(encoding="utf-8")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["t.JSON", "t.csv"]  # no temporary left


def test_an_existing_file_is_kept_unless_told_and_the_suffix_chooses_the_format(
    timeline: IdentityTimeline, tmp_path: Path
) -> None:
    target = tmp_path / "timeline.csv"
    target.write_text("keep me", encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match="overwrite=True"):
        write_timeline(timeline, target)
    assert target.read_text(encoding="utf-8") == "keep me"
    write_timeline(timeline, target, overwrite=True)
    assert target.read_text(encoding="utf-8").startswith("frame,faces,models,retention,leakage,no_face")
    with pytest.raises(InvalidArgumentError, match=".csv or .json"):
        write_timeline(timeline, tmp_path / "timeline.txt")
    assert not (tmp_path / "timeline.txt").exists()


def colour_columns(image: np.ndarray, colour: tuple[int, int, int], rows: slice = slice(None)) -> np.ndarray:
    """Columns where some pixel of ``rows`` is ``colour`` (within 2/255)."""
    close = np.all(np.abs(image[rows] * 255.0 - np.array(colour)) <= 2.0, axis=-1)
    return np.flatnonzero(close.any(axis=0))


def blue_rows(image: np.ndarray) -> np.ndarray:
    """Rows of the plot crossed by a line of the threshold's colour (anti-aliased: blue well above red and green)."""
    blue = THRESHOLD_COLOUR[2] / 255.0
    bluish = (image[..., 2] > 0.5 * blue) & (image[..., 2] - np.maximum(image[..., 0], image[..., 1]) > 0.3)
    return np.flatnonzero(bluish[30:190].sum(axis=1) > 300)


def test_the_chart_draws_scores_with_gaps_the_floor_and_the_flagged_frames(timeline: IdentityTimeline) -> None:
    image = timeline_chart(timeline, width=600, height=260)
    assert image.shape == (260, 600, 3) and image.dtype == np.float32
    assert np.isfinite(image).all() and image.min() >= 0.0 and image.max() <= 1.0
    left, span = 54, 600 - 12 - 54
    centre = [round(left + span * (frame + 0.5) / 6) for frame in range(6)]
    green = colour_columns(image, PASS_COLOUR, slice(26, 160))
    assert centre[0] in green and centre[5] in green
    assert not np.any((green > centre[0] + 3) & (green < centre[2] - 3))  # frame 1 has no score: a gap
    assert blue_rows(image).size  # the floor line crosses the plot
    ticks = colour_columns(image, FAIL_COLOUR, slice(200, 260))
    assert ticks.size and np.all(np.abs(ticks - centre[3]) <= 1)  # below the floor: frame 3 only
    assert np.all(np.abs(colour_columns(image, FLAG_COLOURS["bridged"], slice(200, 260)) - centre[4]) <= 1)
    plain = timeline_chart(IdentityTimeline(timeline.rows), width=600, height=260)
    assert not blue_rows(plain).size  # no floor: no line
    empty = timeline_chart(build_timeline(0, [], None, None))
    assert empty.dtype == np.float32 and np.isfinite(empty).all()
    with pytest.raises(InvalidArgumentError):
        timeline_chart(timeline, floor=float("nan"))


def test_render_timeline_is_the_timeline_chart(timeline: IdentityTimeline) -> None:
    from face_identity import render

    np.testing.assert_array_equal(
        render("timeline", timeline, 0.6, width=320, height=200), timeline_chart(timeline, 0.6, 320, 200)
    )
