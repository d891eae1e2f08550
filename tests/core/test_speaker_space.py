"""The speaker space: fit, save, load (and its failures), and what the clustering does with it."""

import json

import numpy as np
import pytest
from safetensors.numpy import save_file

from weighter_gui.core.diarize.clustering import cluster_slots
from weighter_gui.core.io.manifest import ManifestError
from weighter_gui.core.model.speaker_space import SpeakerSpace, SpeakerSpaceError
from weighter_gui.core.training.speaker_vectors import _reserved, collect_vectors

CHANNELS = np.random.default_rng(9).standard_normal((4, 256)) * 3.0  # room and line: a few shared directions


def _heard(speakers: int, per: int, seed: int = 0):
    """256-d vectors of ``speakers`` voices, each heard ``per`` times through channels
    that move every vector far along ``CHANNELS``."""
    rng = np.random.default_rng(seed)
    voices = rng.standard_normal((speakers, 256))
    x = np.repeat(voices, per, 0) + rng.standard_normal((speakers * per, 4)) @ CHANNELS
    x += 0.3 * rng.standard_normal(x.shape)
    return x, np.repeat(np.arange(speakers), per)


def test_a_fit_space_holds_a_voice_together_across_channels_and_survives_a_round_trip(tmp_path):
    x, y = _heard(80, 6)
    space = SpeakerSpace.fit(x, y, dims=16)
    test, who = _heard(10, 6, seed=1)  # voices the fit never saw

    def gap(vectors):
        cos = vectors @ vectors.T
        same = (who[:, None] == who[None]) & ~np.eye(len(who), dtype=bool)
        return cos[same].mean() - cos[who[:, None] != who[None]].mean()

    raw = test / np.linalg.norm(test, axis=1, keepdims=True)
    projected = space.project(test)
    assert projected.shape == (60, 16) and np.allclose(np.linalg.norm(projected, axis=1), 1.0)
    assert gap(projected) > gap(raw) + 0.3
    space.save(tmp_path / "space.safetensors")
    again = SpeakerSpace.from_file(tmp_path / "space.safetensors")
    assert np.abs(again.project(test) - projected).max() < 1e-3  # stored as float32
    assert again.metadata == {"dims": 16, "shrinkage": 0.5, "speakers": 80, "vectors": 480}
    with pytest.raises(ValueError, match="cannot span"):
        SpeakerSpace.fit(x[:60], y[:60], dims=16)


def test_a_missing_or_broken_space_file_is_named_with_what_to_do(tmp_path):
    cases = {"missing.safetensors": None, "garbage.safetensors": b"not a safetensors file"}
    for name, content in cases.items():
        if content is not None:
            (tmp_path / name).write_bytes(content)
    save_file({"mean": np.zeros(256, np.float32)}, str(tmp_path / "half.safetensors"))
    save_file({"mean": np.zeros(8, np.float32), "projection": np.zeros((8, 4), np.float32)},
              str(tmp_path / "shape.safetensors"))
    save_file({"mean": np.full(256, np.nan, np.float32), "projection": np.zeros((256, 4), np.float32)},
              str(tmp_path / "nan.safetensors"))
    problems = {"missing": "not found", "garbage": "not a readable", "half": "missing", "shape": r"expected \(256,\)",
                "nan": "NaN"}
    for stem, problem in problems.items():
        with pytest.raises(SpeakerSpaceError, match=problem) as raised:
            SpeakerSpace.from_file(tmp_path / f"{stem}.safetensors")
        assert str(tmp_path / f"{stem}.safetensors") in str(raised.value)
        assert "fit_speaker_space.py" in str(raised.value)


def test_the_shipped_space_loads_and_says_what_it_was_fit_on():
    space = SpeakerSpace.from_file()
    assert space.dims == 64
    assert space.metadata["real_speakers"] > 200 and space.metadata["tts_voices"] > 50


def test_voices_reserved_for_evaluation_and_other_splits_are_refused(tmp_path):
    assert _reserved("espeak-m7") and _reserved("espeak-Andy") and _reserved("flite-awb+400c")
    assert _reserved("festival-czech_machac") and not _reserved("espeak-m3") and not _reserved("ls-1234")
    rows = {
        "eval": {"id": "e", "audio": "e.flac", "likes": ["espeak-m3"], "split": "eval",
                 "segments": [[0.0, 2.0, "espeak-m3"]]},
        "reserved": {"id": "r", "audio": "r.flac", "likes": ["flite-awb"], "split": "train",
                     "segments": [[0.0, 2.0, "flite-awb"]]},
    }
    for name, row in rows.items():
        manifest = tmp_path / name / "manifest.jsonl"
        manifest.parent.mkdir()
        manifest.write_text(json.dumps(row) + "\n")
        with pytest.raises(ValueError, match="split 'eval'" if name == "eval" else "reserved for evaluation"):
            collect_vectors([], [manifest])
    with pytest.raises(ManifestError, match="missing.jsonl"):
        collect_vectors([], [tmp_path / "missing.jsonl"])


def test_slots_of_different_windows_are_compared_in_the_space_those_of_one_window_by_their_own_cosine():
    """Raw vectors of one voice through two rooms are far apart (cosine 0.5): the space
    says they are one voice. Two slots of one window stay apart while their own raw
    cosine is under ``same_window_similarity``, however alike the space finds them."""
    e = np.eye(4)

    def towards(cos, other):
        return cos * e[0] + np.sqrt(1 - cos**2) * e[other]

    windows = np.array([0, 1, 2, 2])  # A (room 1), A (room 2), A and B in one window
    for b_raw, apart in ((0.8, True), (0.95, False)):
        raw = np.stack([e[0], towards(0.5, 1), e[0], towards(b_raw, 2)])
        assert cluster_slots(windows, raw, np.ones(4), 0.6, same_window_similarity=0.9).tolist() == (
            [0, 1, 0, 2] if apart else [0, 1, 0, 0])
        voices = np.stack([e[0], e[0], e[0], e[0]])  # the space hears one voice in all four
        clusters = cluster_slots(windows, raw, np.ones(4), 0.6, same_window_similarity=0.9, voices=voices)
        assert clusters.tolist() == ([0, 0, 0, 1] if apart else [0, 0, 0, 0])


def test_without_the_space_file_diarizing_goes_on_and_the_gallery_compares_raw_cosines(tmp_path, monkeypatch, capsys):
    """Only the project gallery uses the space now (the diarizer compares voiceprints):
    a missing space file stops nothing."""
    import shutil

    from weighter_gui.cli import main
    from weighter_gui.core.io import resources
    from weighter_gui.core.model.speaker_space import shipped_space

    copy = tmp_path / "resources"
    shutil.copytree(resources.resources_dir(), copy, ignore=shutil.ignore_patterns("speaker-space.safetensors"))
    monkeypatch.setenv(resources.RESOURCES_ENV, str(copy))
    shipped_space.cache_clear()
    try:
        assert shipped_space() is None
        assert main(["diarize", str(copy / "sample" / "sample.flac")]) == 0
        assert "speaker(s)" in capsys.readouterr().out
    finally:
        shipped_space.cache_clear()
