"""Face ordering and selection: every order, deterministic ties, index lists, max faces, min size."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from face_identity.errors import InvalidArgumentError
from face_identity.select import DEFAULT_ORDER, FACE_ORDERS, order_faces, parse_index_list, select_faces
from face_identity.types import Face


def make_face(x1: float, y1: float, x2: float, y2: float, score: float = 0.9, name: int = 0) -> Face:
    """A face with a box; ``image_index`` carries a tag so tests can tell faces apart."""
    landmarks = np.array([[x1, y1]] * 5, dtype=np.float32) + np.arange(10, dtype=np.float32).reshape(5, 2)
    return Face(bbox=[x1, y1, x2, y2], score=score, landmarks=landmarks, image_index=name)


def tags(faces: list[Face]) -> list[int]:
    return [face.image_index for face in faces]


# Four faces with distinct areas, scores and edges (x1, y1, x2, y2, score, tag):
#   tag 0: 100x100 at (300, 50), score 0.70 -> area 10000
#   tag 1:  40x 40 at ( 10, 400), score 0.95 -> area  1600
#   tag 2: 200x150 at (500, 200), score 0.60 -> area 30000
#   tag 3:  60x 80 at (150, 10),  score 0.80 -> area  4800
FACES = [
    make_face(300, 50, 400, 150, 0.70, 0),
    make_face(10, 400, 50, 440, 0.95, 1),
    make_face(500, 200, 700, 350, 0.60, 2),
    make_face(150, 10, 210, 90, 0.80, 3),
]
EXPECTED_ORDERS = {
    "large-small": [2, 0, 3, 1],
    "small-large": [1, 3, 0, 2],
    "score": [1, 3, 0, 2],
    "left-right": [1, 3, 0, 2],  # x1: 10, 150, 300, 500
    "right-left": [2, 0, 3, 1],  # x2: 700, 400, 210, 50
    "top-bottom": [3, 0, 2, 1],  # y1: 10, 50, 200, 400
    "bottom-top": [1, 2, 0, 3],  # y2: 440, 350, 150, 90
}


def test_every_order_is_covered() -> None:
    assert set(EXPECTED_ORDERS) == set(FACE_ORDERS)
    assert DEFAULT_ORDER == "large-small"


@pytest.mark.parametrize("order", sorted(EXPECTED_ORDERS))
def test_orders_on_hand_made_faces(order: str) -> None:
    for permutation in itertools.permutations(FACES):
        assert tags(order_faces(list(permutation), order)) == EXPECTED_ORDERS[order], permutation


def test_right_left_uses_the_right_edge_and_bottom_top_the_bottom_edge() -> None:
    # A wide face starting left of a narrow one but ending right of it comes first right-to-left.
    wide = make_face(0, 0, 500, 100, name=0)
    narrow = make_face(100, 300, 200, 600, name=1)
    assert tags(order_faces([narrow, wide], "right-left")) == [0, 1]
    assert tags(order_faces([wide, narrow], "left-right")) == [0, 1]
    assert tags(order_faces([wide, narrow], "bottom-top")) == [1, 0]
    assert tags(order_faces([narrow, wide], "top-bottom")) == [0, 1]


@pytest.mark.parametrize("order", FACE_ORDERS)
def test_ties_break_by_score_then_x_then_y_whatever_the_input_order(order: str) -> None:
    # Three equal boxes (tie on every primary key) differing only in score, and two equal-score equal boxes
    # differing in position along the other axis.
    same_box = [make_face(100, 100, 150, 150, score, tag) for tag, score in ((0, 0.6), (1, 0.9), (2, 0.75))]
    for permutation in itertools.permutations(same_box):
        assert tags(order_faces(list(permutation), order)) == [1, 2, 0]
    # Same area and score, side by side horizontally: x decides (area, score and the y edges tie).
    if order in ("large-small", "small-large", "score", "top-bottom", "bottom-top"):
        left, right = make_face(0, 0, 50, 50, 0.8, 0), make_face(200, 0, 250, 50, 0.8, 1)
        assert tags(order_faces([right, left], order)) == [0, 1]
        assert tags(order_faces([left, right], order)) == [0, 1]
    # Same area, score and x: y decides.
    if order in ("large-small", "small-large", "score", "left-right", "right-left"):
        upper, lower = make_face(0, 0, 50, 50, 0.8, 0), make_face(0, 300, 50, 350, 0.8, 1)
        assert tags(order_faces([lower, upper], order)) == [0, 1]


def test_unknown_order_raises_naming_the_choices() -> None:
    with pytest.raises(InvalidArgumentError, match="largest"):
        order_faces(FACES, "largest")
    with pytest.raises(InvalidArgumentError, match="left-right"):
        select_faces(FACES, "sideways")


@pytest.mark.parametrize(
    "text,expected",
    [
        ("0,2", [0, 2]),
        (" 1 , 0", [1, 0]),
        ("3", [3]),
        ("0, 2,3", [0, 2, 3]),
        ("2;1", [2, 1]),
        ("1,,2,", [1, 2]),
        ("", None),
        ("   ", None),
        (" , ", None),
        ("007", [7]),
    ],
)
def test_parse_index_list(text: str, expected: list[int] | None) -> None:
    assert parse_index_list(text) == expected


@pytest.mark.parametrize(
    "text,bad", [("0,a", "a"), ("-1", "-1"), ("1.5", "1.5"), ("0, two ,1", "two"), ("1 2", "1 2"), ("²", "²")]
)
def test_parse_index_list_rejects_bad_tokens_naming_them(text: str, bad: str) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        parse_index_list(text)
    assert repr(bad) in str(raised.value)


def test_select_by_indices_keeps_the_given_order_and_skips_out_of_range() -> None:
    ordered = EXPECTED_ORDERS["large-small"]
    assert tags(select_faces(FACES, "large-small", [0, 2])) == [ordered[0], ordered[2]]
    assert tags(select_faces(FACES, "large-small", [3, 0])) == [ordered[3], ordered[0]]
    assert tags(select_faces(FACES, "large-small", [1, 9, 4, 0])) == [ordered[1], ordered[0]]
    assert select_faces(FACES, "large-small", [7]) == []
    assert tags(select_faces(FACES, "score", None)) == EXPECTED_ORDERS["score"]
    assert tags(select_faces(FACES, "score", [])) == []


def test_max_faces_caps_after_ordering_and_indexing() -> None:
    assert tags(select_faces(FACES, "left-right", max_faces=2)) == EXPECTED_ORDERS["left-right"][:2]
    assert tags(select_faces(FACES, "left-right", max_faces=0)) == EXPECTED_ORDERS["left-right"]
    assert tags(select_faces(FACES, "left-right", max_faces=10)) == EXPECTED_ORDERS["left-right"]
    assert tags(select_faces(FACES, "left-right", [3, 2, 1], max_faces=2)) == [2, 0]


def test_min_size_uses_the_shorter_box_side_before_indexing() -> None:
    # Shorter sides: tag 0 -> 100, tag 1 -> 40, tag 2 -> 150, tag 3 -> 60.
    assert tags(select_faces(FACES, "left-right", min_size=60)) == [3, 0, 2]
    assert tags(select_faces(FACES, "left-right", min_size=60.5)) == [0, 2]
    assert tags(select_faces(FACES, "large-small", [0], min_size=200)) == []
    # Indices count positions among the faces that passed the size filter.
    assert tags(select_faces(FACES, "left-right", [0], min_size=50)) == [3]


def test_selection_of_no_faces_is_empty() -> None:
    assert select_faces([], "score", [0, 1], max_faces=3, min_size=10) == []
    assert order_faces([], "left-right") == []
