"""Live tracks settle into the final ones without changing colour."""

from types import SimpleNamespace

import numpy as np

from weighter_gui.core.diarize.live_tracks import LiveTracks


def _window(index, curves, tracks, blocks=10):
    return SimpleNamespace(
        index=index, count=3, start=index * blocks * 0.15, end=(index + 1) * blocks * 0.15,
        curves=np.asarray(curves, np.float32), confidences=np.ones(len(tracks)), tracks=np.asarray(tracks), speech=None,
    )


def test_a_settled_speaker_keeps_the_colour_of_the_live_track_it_mostly_was():
    """While the file was analysed, A was live track 0, then (window 2) a new track 2;
    B was track 1. The file-level pass joins A's windows: the final A keeps key 0,
    B keeps key 1, and a track the live view never showed gets a fresh key."""
    on, off = np.ones(10), np.zeros(10)
    live = LiveTracks()
    live.add(_window(0, [on, off], [0, 1]), 0.15)
    live.add(_window(1, [on, on], [0, 1]), 0.15)
    live.add(_window(2, [on, off], [2, 1]), 0.15)
    final_a = np.concatenate([on, on, on])
    final_b = np.concatenate([off, on, off])
    unseen = np.zeros(30)
    assert live.match_keys([final_b, final_a, unseen]) == [1, 0, 3]
    # unchanged tracks keep their keys exactly
    assert live.match_keys([c.curve for c in live.views()]) == [0, 1, 2]
