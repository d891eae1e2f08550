"""Taught voices: a fine-tune's names as centres in the speaker space, and how tracks get them."""

import numpy as np
import pytest

from weighter_gui.core.model.speaker_space import SpeakerSpace
from weighter_gui.core.model.taught_voices import TaughtVoices, enrol


@pytest.fixture(scope="module")
def space():
    """A small space fit on made-up voices: 40 voices, each a direction plus noise."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(40, 256))
    vectors = np.concatenate([c + 0.3 * rng.normal(size=(12, 256)) for c in centres])
    return SpeakerSpace.fit(vectors, np.repeat(np.arange(40), 12), dims=16)


def _voice(space, seed, n=3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=256) + 0.05 * rng.normal(size=(n, 256))


def test_enrolled_voices_name_the_nearest_tracks_each_name_once(space):
    ann, bob, zoe = _voice(space, 1), _voice(space, 2), _voice(space, 3)
    entry = enrol([("ann", ann), ("bob", bob), ("ann", _voice(space, 1))], space)
    assert entry["space"] == space.digest and sorted(entry["centres"]) == ["ann", "bob"]
    voices = TaughtVoices.from_header(entry, space)
    tracks = np.stack([bob.mean(0), zoe.mean(0), ann.mean(0), ann.mean(0) + 0.01])
    named = voices.names_for(tracks, min_similarity=0.5)
    assert named[0][0] == "bob" and named[1] is None  # nobody enrolled sounds like zoe
    assert sorted(n[0] for n in named[2:] if n) == ["ann"]  # one name, one track
    assert all(0.5 <= n[1] <= 1 for n in named if n)  # the cosine in the space
    assert all(n is None for n in voices.names_for(tracks, min_similarity=1.01))
    assert [n and n[0] for n in voices.names_for(tracks, min_similarity=0.5, taken=["bob"])][:2] == [None, None]


def test_the_nearest_track_gets_the_name_and_a_second_one_none():
    """A is nearest x; B is also near x and far from y. An assignment over all pairs
    would give B x and A y (under the threshold, so nothing): A gets x, B nothing."""

    class Plane:  # a "space" that keeps the vectors as they are, to place them by hand
        def project(self, v):
            return v / np.linalg.norm(v, axis=-1, keepdims=True)

    def at(cos_x, cos_y):  # a unit vector with these cosines to the axes x and y
        return np.array([cos_x, cos_y, np.sqrt(max(0.0, 1 - cos_x**2 - cos_y**2))])

    voices = TaughtVoices(("x", "y"), np.eye(3)[:2], Plane())
    tracks = np.stack([at(0.976, 0.217), at(0.862, -0.507)])
    assert voices.names_for(tracks, min_similarity=0.3) == [("x", pytest.approx(0.976)), None]


def test_a_later_fine_tune_keeps_the_voices_it_does_not_enrol_again(space):
    first = enrol([("ann", _voice(space, 1))], space)
    second = enrol([("bob", _voice(space, 2))], space, earlier=first)
    assert sorted(second["centres"]) == ["ann", "bob"]
    assert second["centres"]["ann"] == first["centres"]["ann"]


def test_voices_of_another_space_or_a_malformed_header_name_nobody(space):
    entry = enrol([("ann", _voice(space, 1))], space)
    rng = np.random.default_rng(5)
    other = SpeakerSpace.fit(rng.normal(size=(480, 256)), np.repeat(np.arange(40), 12), dims=16)
    assert other.digest != space.digest
    assert TaughtVoices.from_header(entry, other) is None
    assert TaughtVoices.from_header(entry, None) is None
    for broken in (None, [], {"space": space.digest}, {"space": space.digest, "centres": {"ann": "x"}},
                   {"space": space.digest, "centres": {"ann": [0.1, 0.2]}},
                   {"space": space.digest, "centres": {"ann": [float("nan")] * 16}}):
        assert TaughtVoices.from_header(broken, space) is None


def test_the_digest_is_the_same_after_saving_and_loading(space, tmp_path):
    space.save(tmp_path / "space.safetensors")
    assert SpeakerSpace.from_file(tmp_path / "space.safetensors").digest == space.digest
