"""Fixtures shared by the speech tests: a tiny espeak-ng corpus and a tiny model."""

import shutil

import pytest

from tests.core.project_helpers import SPECS_A, SPECS_B, make_diarization, write_wav
from weighter_gui.core.annotation.session import ProjectSession

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng not installed (apt-get install espeak-ng)"
)

# A model small enough to train a few steps in seconds.
TINY_MODEL = {"embed_dim": 32, "num_layers": 1, "num_heads": 2, "ff_dim": 64, "pos_conv_groups": 4}


@pytest.fixture(scope="session")
def tiny_model():
    return dict(TINY_MODEL)


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    """Three 12-16 s conversations of two espeak-ng voices; returns the manifest path."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng)")
    from weighter_gui.core.training.synth import build_corpus

    root = tmp_path_factory.mktemp("speech")
    return build_corpus(
        root / "corpus", conversations=3, min_speakers=2, max_speakers=2,
        duration_s=(12, 16), overlap=0.3, engines=["espeak-ng"], seed=3,
    )


@pytest.fixture(scope="session")
def feature_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("features")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_corpus, feature_cache):
    """A tiny Weighter trained 4 steps on the tiny corpus (real weights, not a good model)."""
    from weighter_gui.core.io.manifest import read_manifest
    from weighter_gui.core.training.train import TrainConfig, TrainResult, train

    out = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    config = TrainConfig(steps=4, batch_size=2, crop_seconds=(5, 10), checkpoint_every=2)
    events = list(train(read_manifest(tiny_corpus), config, out=out, cache_dir=feature_cache,
                        model_overrides=TINY_MODEL))
    assert isinstance(events[-1], TrainResult)
    return out


# ----------------------------------------------------------------------------- a project


@pytest.fixture
def folder(tmp_path):
    """A study folder with two one-second recordings, audio/a.wav and audio/b.wav."""
    root = tmp_path / "study"
    write_wav(root / "audio" / "a.wav")
    write_wav(root / "audio" / "b.wav")
    return root


@pytest.fixture
def session(folder):
    """A project of the two: a (10 s by its analysis) S1 0-3 and 5-6 s, S2 3-5, S3 6-7.5, S4 under
    the threshold; b S1 0-2, S2 2-4."""
    s = ProjectSession.create(folder / "p.weighter")
    s.add_files([folder / "audio" / "a.wav", folder / "audio" / "b.wav"])
    s.set_analysis("a", make_diarization(folder / "audio" / "a.wav", SPECS_A))
    s.set_analysis("b", make_diarization(folder / "audio" / "b.wav", SPECS_B))
    return s
