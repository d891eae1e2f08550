"""Segment algebra: unions, shared time, intersections, overlapped speech."""

import pytest

from weighter_gui.core.segments import (
    complement_segments,
    covered_seconds,
    intersect_segments,
    overlap_seconds,
    overlapped,
    union_segments,
)


def test_covered_seconds_counts_only_the_shared_time():
    cover = [(1.0, 2.0), (3.0, 5.0)]
    assert covered_seconds([(0.0, 1.5), (1.8, 3.5), (4.5, 6.0)], cover) == pytest.approx([0.5, 0.2 + 0.5, 0.5])
    assert covered_seconds([(2.0, 3.0)], cover) == [0.0]
    assert covered_seconds([(0.0, 9.0)], []) == [0.0]


def test_union_joins_touching_and_overlapping_segments_and_drops_empty_ones():
    assert union_segments([(3.0, 4.0), (0.0, 1.0), (1.0, 2.0), (1.5, 1.8), (5.0, 5.0)]) == ((0.0, 2.0), (3.0, 4.0))
    assert union_segments([]) == ()


def test_overlap_seconds_of_two_covers():
    assert overlap_seconds([(0.0, 2.0), (3.0, 5.0)], [(1.0, 4.0)]) == pytest.approx(2.0)
    assert overlap_seconds([(0.0, 1.0)], [(1.0, 2.0)]) == 0.0


def test_intersect_keeps_the_allowed_parts_long_enough():
    allowed = [(1.0, 2.0), (3.0, 5.0)]
    assert intersect_segments([(0.0, 3.2), (4.9, 6.0)], allowed, min_len=0.15) == [(1.0, 2.0), (3.0, 3.2)]
    assert intersect_segments([(0.0, 3.1)], allowed, min_len=0.15) == [(1.0, 2.0)]


def test_overlapped_is_where_two_speakers_speak_at_once():
    turns = [(0.0, 2.0, "a"), (1.5, 3.0, "b"), (1.0, 1.8, "a"), (2.5, 4.0, "c"), (5.0, 6.0, "a")]
    assert overlapped(turns) == ((1.5, 2.0), (2.5, 3.0))
    assert overlapped([(0.0, 1.0, "a"), (1.0, 2.0, "b")]) == ()  # touching is not overlapping
    assert overlapped([(0.0, 2.0, "a"), (1.0, 3.0, "a")]) == ()  # one speaker is no overlap


def test_complement_is_what_the_segments_leave_free():
    assert complement_segments([(1.0, 2.0), (1.5, 3.0), (4.0, 5.0)], 6.0) == ((0.0, 1.0), (3.0, 4.0), (5.0, 6.0))
    assert complement_segments([(0.0, 6.0)], 6.0) == ()
    assert complement_segments([], 2.0) == ((0.0, 2.0),)
