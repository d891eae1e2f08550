"""The voice encoder (CAM++): the shipped weights, real voiceprints, and bad weight files."""

import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file, save_file

from weighter_gui.core.io import resources
from weighter_gui.core.io.label_files import read_rttm
from weighter_gui.core.model.voice_encoder import VOICE_DIM, VoiceEncoder, VoiceEncoderError, filterbanks


@pytest.fixture(scope="module")
def encoder():
    return VoiceEncoder.from_file()


def test_the_sample_voices_lone_turns_are_nearer_their_own_voice_than_the_others(encoder):
    audio, rate = sf.read(resources.sample_audio(), dtype="float32")
    reference = read_rttm(resources.sample_audio().with_suffix(".rttm"))["sample"]
    prints = {}
    for speaker in reference.labels():
        lone = reference.label_timeline(speaker).support()
        for other in set(reference.labels()) - {speaker}:
            lone = lone.extrude(reference.label_timeline(other))
        for segment in lone:
            if segment.duration >= 1.5:
                piece = audio[int(segment.start * rate): int(segment.end * rate)]
                prints.setdefault(speaker, []).append(encoder.embed(filterbanks(piece)))
    assert len(prints) == 3 and len(prints["flite-rms"]) == 3
    assert all(v.shape == (VOICE_DIM,) and np.linalg.norm(v) == pytest.approx(1.0) for p in prints.values() for v in p)
    same = [a @ b for p in prints.values() for i, a in enumerate(p) for b in p[i + 1:]]
    other = [a @ b for s, p in prints.items() for t, q in prints.items() if s < t for a in p for b in q]
    assert min(same) > 0.8 and max(other) < 0.4  # measured: 0.88 and 0.26


def test_the_digest_names_the_weights(encoder, tmp_path):
    """Taught voices keep the digest of the encoder that enrolled them: the same
    weights give the same digest, other weights another."""
    assert encoder.digest == VoiceEncoder.from_file().digest and len(encoder.digest) == 16
    tensors = load_file(resources.default_voice_encoder())
    tensors["xvector.dense.linear.weight"] = tensors["xvector.dense.linear.weight"] * 1.01
    save_file(tensors, tmp_path / "other.safetensors")
    assert VoiceEncoder.from_file(tmp_path / "other.safetensors").digest != encoder.digest


def test_filterbanks_are_the_weighter_frames_and_short_audio_gives_one_frame():
    assert filterbanks(np.zeros(16000, np.float32)).shape == (98, 80)  # 25 ms windows every 10 ms
    assert filterbanks(np.zeros(100, np.float32)).shape == (1, 80)


def test_a_missing_corrupt_or_wrong_weights_file_is_named_with_how_to_regenerate_it(tmp_path):
    with pytest.raises(VoiceEncoderError, match="voice encoder weights not found") as missing:
        VoiceEncoder.from_file(tmp_path / "nothing.safetensors")
    assert "convert_voice_encoder.py" in str(missing.value)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file at all")
    with pytest.raises(VoiceEncoderError, match="not a readable safetensors file"):
        VoiceEncoder.from_file(garbage)
    tensors = load_file(str(resources.default_voice_encoder()))
    name = "xvector.dense.linear.weight"
    for problem, change in (("missing tensors", lambda t: t.pop(name)),
                            ("has shape", lambda t: t.__setitem__(name, torch.zeros(3, 3))),
                            ("NaN or infinite", lambda t: t.__setitem__(name, torch.full_like(t[name], float("nan"))))):
        broken = {k: v.clone() for k, v in tensors.items()}
        change(broken)
        path = tmp_path / "broken.safetensors"
        save_file(broken, str(path))
        with pytest.raises(VoiceEncoderError, match=problem):
            VoiceEncoder.from_file(path)


def test_without_the_voice_encoder_file_the_cli_says_what_is_missing(tmp_path, monkeypatch, capsys):
    from weighter_gui.cli import main

    copy = tmp_path / "resources"
    shutil.copytree(resources.resources_dir(), copy, ignore=shutil.ignore_patterns("voice-encoder.safetensors"))
    monkeypatch.setenv(resources.RESOURCES_ENV, str(copy))
    assert main(["diarize", str(copy / "sample" / "sample.flac")]) == 2
    err = capsys.readouterr().err
    assert "voice-encoder.safetensors: voice encoder weights not found" in err and "convert_voice_encoder.py" in err
