"""Taught voices: a fine-tune's names as voiceprint centres, and how tracks get them."""

import numpy as np
import pytest

from weighter_gui.core.model.taught_voices import TaughtVoices, enrol

DIMS = 192
ENCODER = "0123456789abcdef"


def _voice(seed, noise=0.05):
    """A made-up voiceprint: the voice's own direction plus a little noise per recording."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=DIMS) + noise * np.random.default_rng().normal(size=DIMS)


def test_enrolled_voices_name_the_nearest_tracks_each_name_once():
    entry = enrol([("ann", _voice(1)), ("bob", _voice(2)), ("ann", _voice(1))], ENCODER, DIMS)
    assert entry["encoder"] == ENCODER and sorted(entry["centres"]) == ["ann", "bob"]
    voices = TaughtVoices.from_header(entry, ENCODER, DIMS)
    tracks = np.stack([_voice(2), _voice(3), _voice(1), _voice(1)])
    named = voices.names_for(tracks, min_similarity=0.5)
    assert named[0][0] == "bob" and named[1] is None  # nobody enrolled sounds like voice 3
    assert sorted(n[0] for n in named[2:] if n) == ["ann"]  # one name, one track
    assert all(0.5 <= n[1] <= 1 for n in named if n)  # the cosine
    assert all(n is None for n in voices.names_for(tracks, min_similarity=1.01))
    assert [n and n[0] for n in voices.names_for(tracks, min_similarity=0.5, taken=["bob"])][:2] == [None, None]


def test_the_nearest_track_gets_the_name_and_a_second_one_none():
    """A is nearest x; B is also near x and far from y. An assignment over all pairs
    would give B x and A y (under the threshold, so nothing): A gets x, B nothing."""

    def at(cos_x, cos_y):  # a unit vector with these cosines to the axes x and y
        return np.array([cos_x, cos_y, np.sqrt(max(0.0, 1 - cos_x**2 - cos_y**2))])

    voices = TaughtVoices(("x", "y"), np.eye(3)[:2])
    tracks = np.stack([at(0.976, 0.217), at(0.862, -0.507)])
    assert voices.names_for(tracks, min_similarity=0.3) == [("x", pytest.approx(0.976)), None]


def test_a_later_fine_tune_keeps_the_voices_it_does_not_enrol_again():
    first = enrol([("ann", _voice(1))], ENCODER, DIMS)
    second = enrol([("bob", _voice(2))], ENCODER, DIMS, earlier=first)
    assert sorted(second["centres"]) == ["ann", "bob"]
    assert second["centres"]["ann"] == first["centres"]["ann"]
    # another encoder's voices do not compare with this one's: not kept
    assert sorted(enrol([("bob", _voice(2))], "fedcba9876543210", DIMS, earlier=first)["centres"]) == ["bob"]


def test_voices_of_another_encoder_the_old_speaker_space_or_a_malformed_header_name_nobody():
    entry = enrol([("ann", _voice(1))], ENCODER, DIMS)
    assert TaughtVoices.from_header(entry, "fedcba9876543210", DIMS) is None
    assert TaughtVoices.from_header(entry, ENCODER, DIMS + 1) is None
    # a checkpoint retrained before voiceprints kept GE2E speaker-space centres: its head names them
    assert TaughtVoices.from_header({"space": "0123abcd", "centres": {"ann": [0.1] * 64}}, ENCODER, DIMS) is None
    for broken in (None, [], {"encoder": ENCODER}, {"encoder": ENCODER, "centres": {"ann": "x"}},
                   {"encoder": ENCODER, "centres": {"ann": [0.1, 0.2]}},
                   {"encoder": ENCODER, "centres": {"ann": [float("nan")] * DIMS}}):
        assert TaughtVoices.from_header(broken, ENCODER, DIMS) is None
