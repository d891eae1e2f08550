"""Segment algebra on sorted lists of ``(start, end)`` seconds: the one place the
diarizer and the annotation state join, intersect and measure segments.

Plain tuples rather than ``pyannote.core.Timeline`` because these run per track per
window in the diarizer, where building pyannote objects costs more than the work.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def union_segments(segments: Iterable[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """Sorted, non-overlapping cover of ``segments`` (touching ones are joined)."""
    out: list[tuple[float, float]] = []
    for a, b in sorted((float(a), float(b)) for a, b in segments if b > a):
        if out and a <= out[-1][1]:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return tuple(out)


def overlap_seconds(a: Sequence[tuple[float, float]], b: Sequence[tuple[float, float]]) -> float:
    """Seconds in both of two sorted, non-overlapping segment lists."""
    i = j = 0
    total = 0.0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if hi > lo:
            total += hi - lo
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


def covered_seconds(segments: list[tuple[float, float]], cover: list[tuple[float, float]]) -> list[float]:
    """Seconds of each of ``segments`` that lie inside ``cover`` (both sorted, non-overlapping)."""
    out, j = [], 0
    for a, b in segments:
        while j < len(cover) and cover[j][1] <= a:
            j += 1
        total, k = 0.0, j
        while k < len(cover) and cover[k][0] < b:
            total += min(b, cover[k][1]) - max(a, cover[k][0])
            k += 1
        out.append(total)
    return out


def intersect_segments(
    segments: list[tuple[float, float]], allowed: list[tuple[float, float]], min_len: float
) -> list[tuple[float, float]]:
    """The parts of ``segments`` inside ``allowed`` (both sorted, non-overlapping), pieces
    shorter than ``min_len`` dropped."""
    out, j = [], 0
    for a, b in segments:
        while j < len(allowed) and allowed[j][1] <= a:
            j += 1
        k = j
        while k < len(allowed) and allowed[k][0] < b:
            lo, hi = max(a, allowed[k][0]), min(b, allowed[k][1])
            if hi - lo >= min_len - 1e-9:
                out.append((round(float(lo), 3), round(float(hi), 3)))
            k += 1
    return out


def overlapped(segments: Iterable[tuple[float, float, str]]) -> tuple[tuple[float, float], ...]:
    """Where two or more speakers speak at once, from (start, end, speaker) segments."""
    by_speaker: dict[str, list[tuple[float, float]]] = {}
    for a, b, speaker in segments:
        by_speaker.setdefault(speaker, []).append((a, b))
    events: list[tuple[float, int]] = []
    for spans in by_speaker.values():
        for a, b in union_segments(spans):  # one speaker's own overlaps do not count
            events += [(a, 1), (b, -1)]
    out: list[tuple[float, float]] = []
    active, start = 0, 0.0
    for t, step in sorted(events, key=lambda e: (e[0], e[1])):  # ends before starts at one instant
        if step > 0:
            active += 1
            if active == 2:
                start = t
        else:
            if active == 2 and t > start:
                out.append((start, t))
            active -= 1
    return union_segments(out)


def complement_segments(segments: Iterable[tuple[float, float]], duration: float) -> tuple[tuple[float, float], ...]:
    """The parts of 0..``duration`` that ``segments`` leave free."""
    out, t = [], 0.0
    for a, b in union_segments(segments):
        if a > t:
            out.append((t, min(a, duration)))
        t = max(t, b)
    if t < duration:
        out.append((t, float(duration)))
    return tuple((a, b) for a, b in out if b > a)
