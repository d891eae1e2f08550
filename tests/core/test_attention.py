"""Where a file needs attention: speaker starts, unsure stretches, disagreements."""

import numpy as np

from weighter_gui.core.annotation.attention import disagreements, speaker_starts, step, unsure_stretches


def test_speaker_starts_and_stepping_between_them():
    turns = [(0.0, 2.0, "a"), (2.5, 4.0, "b"), (3.0, 5.0, "a"), (2.5, 2.9, "c")]
    starts = speaker_starts(turns)
    assert starts == [0.0, 2.5, 3.0]
    assert step(starts, 1.0, forward=True) == 2.5
    assert step(starts, 2.5, forward=True) == 3.0  # not where the playhead already is
    assert step(starts, 2.5, forward=False) == 0.0
    assert step(starts, 3.5, forward=True) is None


def test_unsure_stretches_are_where_the_top_curve_is_neither_on_nor_off_while_speech_is_heard():
    hop = 0.1
    curves = np.zeros((2, 40), np.float32)
    curves[0, :10] = 0.95  # sure
    curves[0, 10:20] = 0.5  # unsure for 1 s
    curves[1, 25:27] = 0.5  # unsure, but only 0.2 s
    curves[1, 30:40] = 0.5  # unsure, but nobody is heard
    speech = np.ones(40)
    speech[30:] = 0
    assert unsure_stretches(curves, hop, speech) == [(1.0, 2.0)]
    assert unsure_stretches(curves, hop) == [(1.0, 2.0), (3.0, 4.0)]
    assert unsure_stretches(np.zeros((0, 0)), hop) == []


def test_disagreements_name_the_kind_of_error_once_speakers_are_matched():
    reference = [(0.0, 4.0, "anna"), (4.0, 8.0, "ben")]
    turns = [(0.0, 5.0, "S1"), (5.0, 8.0, "S2"), (9.0, 10.0, "S2"), (8.5, 8.6, "S1")]
    found = disagreements(reference, turns, duration=10.0)
    assert found == [(4.0, 5.0, "confusion"), (9.0, 10.0, "false alarm")]  # the 0.1 s blip is jitter
    assert disagreements(reference, [(0.0, 4.0, "x")], duration=8.0) == [(4.0, 8.0, "missed detection")]
