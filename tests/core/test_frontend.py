"""Speech front-end: GE2E weights, speaker separation, frame grid, ids, weight-file errors."""

import shutil
import subprocess

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from weighter_gui.core.io.audio import load_audio
from weighter_gui.core.io.resources import default_ge2e_weights, resources_dir, sample_audio
from weighter_gui.core.model.frontend import (
    FRAME_HOP_S,
    FrontendWeightsError,
    GE2EEncoder,
    LogMelFrontend,
    SpeechFrontend,
    _to_frames,
    num_frames,
)

RATE = 16000
ESPEAK = shutil.which("espeak-ng")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # The LSTM is several times slower with 2 OpenMP threads on a loaded 2-core box.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def encoder():
    return GE2EEncoder.from_file()


@pytest.fixture(scope="module")
def frontend(encoder):
    return SpeechFrontend(encoder=encoder)


def _noise(seconds, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(round(seconds * RATE))) * 0.05).astype(np.float32)


# ----------------------------------------------------------------------------- weights


def test_weights_ship_in_resources():
    assert resources_dir().name == "resources"
    path = default_ge2e_weights()
    assert path.is_file()
    assert 5_000_000 < path.stat().st_size < 6_500_000


def test_encoder_outputs_unit_norm_256(encoder):
    mels = torch.rand(3, 160, 40)
    with torch.inference_mode():
        out = encoder(mels)
    assert out.shape == (3, 256)
    assert torch.allclose(out.norm(dim=1), torch.ones(3), atol=1e-5)
    assert (out >= 0).all()
    for seconds in (2.0, 0.9):  # an utterance under one 1.6 s window is embedded whole
        emb = encoder.embed_utterance(_noise(seconds))
        assert emb.shape == (256,)
        assert abs(np.linalg.norm(emb) - 1) < 1e-5


@pytest.mark.skipif(ESPEAK is None, reason="espeak-ng not installed")
def test_different_voices_differ_more_than_same_voice(encoder, tmp_path):
    texts = [
        "The quick brown fox jumps over the lazy dog near the river bank.",
        "She sells sea shells by the sea shore every summer afternoon.",
    ]
    emb = {}
    for voice in ("en-us+m3", "en-us+f2"):
        for i, text in enumerate(texts):
            wav = tmp_path / f"{voice}_{i}.wav"
            subprocess.run([ESPEAK, "-v", voice, "-w", str(wav), text], check=True, capture_output=True)
            emb[voice, i] = encoder.embed_utterance(load_audio(wav))
    same = [float(emb[v, 0] @ emb[v, 1]) for v in ("en-us+m3", "en-us+f2")]
    # different voice AND different text, so only the voice makes it "same" or not
    cross = [float(emb["en-us+m3", 0] @ emb["en-us+f2", 1]), float(emb["en-us+f2", 0] @ emb["en-us+m3", 1])]
    assert min(same) > 0.8, same
    assert min(same) - max(cross) > 0.1, (same, cross)


# ----------------------------------------------------------------------------- frame grid


@pytest.mark.parametrize("seconds, frames", [(0.5, 51), (3.7, 371)])
def test_speech_frontend_shapes(frontend, seconds, frames):
    audio = _noise(seconds, seed=int(seconds * 10))
    assert num_frames(len(audio)) == frames
    feats = frontend.features(audio)
    assert feats.dtype == np.float32
    assert feats.shape == (frames, 64 + 256) == (frames, frontend.dim)
    assert np.isfinite(feats).all()
    np.testing.assert_allclose(feats[:, :64], LogMelFrontend(64).features(audio), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(feats[:, 64:], axis=1), 1.0, atol=1e-5)


def test_logmel_time_alignment():
    # a 1 kHz burst from 1.00 s to 1.50 s: frames 100..150 (centres at t * 10 ms) light up
    audio = np.zeros(3 * RATE, np.float32)
    n = np.arange(RATE // 2)
    audio[RATE : RATE + RATE // 2] = 0.5 * np.sin(2 * np.pi * 1000 * n / RATE)
    energy = LogMelFrontend(40).features(audio).max(axis=1)
    loud = np.flatnonzero(energy > energy.min() + 10)
    assert FRAME_HOP_S == 0.01
    assert abs(loud[0] - 100) <= 2 and abs(loud[-1] - 150) <= 2


def test_ge2e_windows_are_centred_and_interpolated(encoder):
    audio = _noise(4.0, seed=3)
    mel = encoder.mel(audio)
    total = mel.shape[0]
    centres, emb = encoder.window_embeddings(mel, hop_frames=10)
    assert centres[0] == 0 and centres[-1] >= total - 1 and np.all(np.diff(centres) == 10)
    # the window at centre 200 covers frames 120..279
    with torch.inference_mode():
        direct = encoder(mel[120:280].unsqueeze(0))[0]
    assert torch.allclose(emb[20], direct, atol=1e-5)
    frames = _to_frames(emb, total, 10, interpolate=True)
    assert frames.shape == (total, 256)
    assert torch.allclose(frames[200], emb[20], atol=1e-6)
    held = _to_frames(emb, total, 10, interpolate=False)
    assert torch.equal(held[204], emb[20]) and torch.equal(held[206], emb[21])


@pytest.mark.parametrize("extra", [0, 1, 159, 160, 321])  # the file's last frame falls anywhere in a block
def test_long_audio_mel_in_blocks_equals_one_transform(encoder, extra):
    audio = load_audio(sample_audio())[: 16000 * 9 + extra]
    whole = encoder.mel(audio, block_frames=10**9)
    blocked = encoder.mel(audio, block_frames=250)
    assert blocked.shape == whole.shape == (num_frames(len(audio)), 40)
    torch.testing.assert_close(blocked, whole, rtol=1e-5, atol=1e-6)


def test_ids_and_dims(encoder):
    assert SpeechFrontend(encoder=encoder).id == "logmel64-ge2e256-10ms"
    assert SpeechFrontend(n_mels=40, encoder=encoder).id == "logmel40-ge2e256-10ms"
    assert SpeechFrontend(n_mels=40, encoder=encoder).dim == 296
    assert SpeechFrontend(ge2e_hop=20, encoder=encoder).id == "logmel64-ge2e256-10ms-gh20"
    assert LogMelFrontend(64).id == "logmel64-10ms" and LogMelFrontend(64).dim == 64
    assert SpeechFrontend.frame_hop_s == LogMelFrontend.frame_hop_s == 0.01


def test_bad_audio_is_a_value_error(frontend):
    with pytest.raises(ValueError, match="1-D"):
        frontend.features(np.zeros((2, 8000), np.float32))
    with pytest.raises(ValueError, match="too short"):
        frontend.features(np.zeros(100, np.float32))


# ----------------------------------------------------------------------------- weight-file errors


def test_missing_weights_file(tmp_path):
    path = tmp_path / "nope.safetensors"
    with pytest.raises(FrontendWeightsError, match="nope.safetensors") as err:
        GE2EEncoder.from_file(path)
    assert err.value.path == path
    assert "not found" in str(err.value)


def test_corrupt_weights_file(tmp_path):
    path = tmp_path / "garbage.safetensors"
    path.write_bytes(b"\x00\x01this is not safetensors" * 10)
    with pytest.raises(FrontendWeightsError, match="garbage.safetensors.*not a readable safetensors"):
        GE2EEncoder.from_file(path)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(default_ge2e_weights().read_bytes()[:100_000])
    with pytest.raises(FrontendWeightsError, match="truncated.safetensors"):
        GE2EEncoder.from_file(truncated)


def test_weights_with_wrong_tensors(tmp_path):
    missing = tmp_path / "missing.safetensors"
    save_file({"linear.weight": torch.zeros(256, 256)}, str(missing))
    with pytest.raises(FrontendWeightsError, match="missing.safetensors.*missing tensors"):
        GE2EEncoder.from_file(missing)
    good = GE2EEncoder.from_file()
    state = {k: v for k, v in good.state_dict().items() if not k.startswith("_mel")}
    state["linear.bias"] = torch.zeros(128)
    shaped = tmp_path / "shaped.safetensors"
    save_file(state, str(shaped))
    with pytest.raises(FrontendWeightsError, match="shaped.safetensors.*linear.bias"):
        GE2EEncoder.from_file(shaped)
