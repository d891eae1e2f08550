"""Speech detection: silero-vad's weights read safely, its decisions, its failures, and
what it does to the diarizer (noise is no speaker)."""

import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from weighter_gui.core.diarize.vad import (
    BATCH_SAMPLES,
    CHUNK,
    SileroNet,
    SpeechDetector,
    SpeechStream,
    VadError,
    frames_from_chunks,
    silero_weights_path,
    speech_regions,
)
from weighter_gui.core.io.audio import load_audio
from weighter_gui.core.io.resources import sample_audio


@pytest.fixture(scope="module")
def detector():
    return SpeechDetector()


def test_our_network_decides_as_the_package_own_torchscript_model(detector):
    """The safetensors weights in our module agree with silero's TorchScript (a newer
    release of the same network) on nearly every 32 ms chunk of a real conversation."""
    audio = load_audio(sample_audio())
    ours, _, _ = detector.chunk_probabilities(audio)
    jit = torch.jit.load(str(silero_weights_path().parent / "silero_vad.jit"), map_location="cpu")
    padded = np.concatenate([audio, np.zeros(-len(audio) % CHUNK, np.float32)])
    with torch.no_grad():
        theirs = np.array([float(jit(torch.from_numpy(padded[i : i + CHUNK]), 16000))
                           for i in range(0, len(padded), CHUNK)])
    assert len(theirs) == len(ours)
    assert np.mean((theirs >= 0.5) == (ours >= 0.5)) >= 0.95


def test_speech_regions_follow_the_reference_of_the_sample(detector):
    from pyannote.core import Segment, Timeline

    from weighter_gui.core.io.label_files import read_rttm

    audio = load_audio(sample_audio())
    found = Timeline([Segment(a, b) for a, b in detector.speech_segments(audio)]).support()
    truth = read_rttm(sample_audio().with_suffix(".rttm"))["sample"].get_timeline().support()
    inside = found.crop(truth).duration()
    assert inside >= 0.9 * truth.duration()  # finds the speech
    assert found.duration() - inside <= 0.1 * truth.duration()  # and little else


def test_a_stream_of_pieces_equals_one_call(detector):
    audio = load_audio(sample_audio())[: 16000 * 12]
    stream = SpeechStream(detector)
    for start in range(0, len(audio), 7001):  # pieces that do not line up with the chunks
        stream.push(audio[start : start + 7001])
    chunks, _, _ = detector.chunk_probabilities(audio)  # every chunk in one batch
    whole = frames_from_chunks(chunks, 1 + len(audio) // 160)
    assert stream.frames().shape == whole.shape == (1 + len(audio) // 160,)
    np.testing.assert_allclose(stream.frames(), whole, atol=1e-5)


def test_long_audio_is_detected_a_minute_at_a_time_as_in_one_batch(detector):
    sample = load_audio(sample_audio())
    audio = np.concatenate([sample] * 6)[: int(2.5 * BATCH_SAMPLES) + 100]  # three batches, a partial chunk
    chunks, _, _ = detector.chunk_probabilities(audio)
    whole = frames_from_chunks(chunks, 1 + len(audio) // 160)
    np.testing.assert_allclose(detector.probabilities(audio), whole, atol=1e-5)


def test_noise_and_tones_are_not_speech(detector):
    rng = np.random.default_rng(0)
    t = np.arange(16000 * 10) / 16000
    for audio in (
        0.03 * rng.standard_normal(len(t)),
        0.1 * (np.sin(2 * np.pi * 350 * t) + np.sin(2 * np.pi * 440 * t)),
        np.zeros(len(t)),
    ):
        assert detector.speech_segments(audio.astype(np.float32)) == []


def test_speech_regions_bridge_short_pauses_and_drop_blips():
    probs = np.zeros(200, np.float32)
    probs[10:50] = 0.9  # 0.10 - 0.50 s
    probs[55:90] = 0.8  # after a 50 ms pause: bridged
    probs[150:160] = 0.9  # 0.1 s alone: under 0.25 s, dropped
    assert speech_regions(probs) == [(0.1, 0.9)]
    assert speech_regions(probs, min_silence=0.0, min_speech=0.0) == [(0.1, 0.5), (0.55, 0.9), (1.5, 1.6)]


def test_missing_corrupt_and_wrong_weights_are_named(tmp_path):
    with pytest.raises(VadError, match="missing.*pip install"):
        SpeechDetector(tmp_path / "nothing.safetensors")
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x00" * 100)
    with pytest.raises(VadError, match="corrupt.safetensors: not a readable safetensors file"):
        SpeechDetector(corrupt)
    from safetensors.torch import save_file

    wrong = tmp_path / "wrong.safetensors"
    save_file({"conv1.weight": torch.zeros(3, 3)}, str(wrong))
    with pytest.raises(VadError, match="not silero-vad's 16 kHz network"):
        SpeechDetector(wrong)


def test_weights_come_from_the_package_without_importing_it():
    import sys

    path = silero_weights_path()
    assert path.is_file() and path.parent.parent.name == "silero_vad"
    SileroNet().load_file(path)
    assert "silero_vad" not in sys.modules or "silero_vad.model" not in sys.modules


def _noise_file(tmp_path, kind: str):
    rng = np.random.default_rng(1)
    n = 16000 * 20
    if kind == "white":
        audio = 0.05 * rng.standard_normal(n)
    else:  # hum with harmonics, as mains pick-up sounds
        t = np.arange(n) / 16000
        audio = sum(0.05 / k * np.sin(2 * np.pi * 50 * k * t) for k in range(1, 6))
    path = tmp_path / f"{kind}.flac"
    sf.write(path, audio.astype(np.float32), 16000)
    return path


@pytest.mark.parametrize("kind", ["white", "hum"])
def test_the_shipped_model_finds_no_speaker_in_noise(tmp_path, kind):
    from dataclasses import replace

    from weighter_gui.core.diarize.diarizer import DiarizeConfig, Diarizer

    path = _noise_file(tmp_path, kind)
    result = Diarizer().diarize(path)
    assert result.speakers == [] and result.speech is not None and result.speech.max() == 0
    # what the gate is for: without it the model hears a speaker in white noise
    if kind == "white":
        ungated = Diarizer(config=replace(DiarizeConfig(), speech_gate=False)).diarize(path)
        assert len(ungated.speakers) >= 1


def test_the_cli_reports_no_speaker_in_noise(tmp_path, capsys):
    from weighter_gui.cli import main

    path = _noise_file(tmp_path, "white")
    assert main(["diarize", str(path), "--rttm", str(tmp_path / "out.rttm")]) == 0
    assert "0 speaker(s)" in capsys.readouterr().out
    assert (tmp_path / "out.rttm").read_text() == ""


def test_a_broken_speech_detector_is_a_clear_cli_error(tmp_path, monkeypatch, capsys):
    from weighter_gui.cli import main
    from weighter_gui.core.diarize import vad

    monkeypatch.setattr(vad, "silero_weights_path", lambda: tmp_path / "gone.safetensors")
    assert main(["diarize", str(sample_audio())]) == 2
    err = capsys.readouterr().err
    assert "gone.safetensors" in err and "pip install" in err


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox not installed")
def test_speech_lane_of_a_diarization_marks_where_people_talk():
    from weighter_gui.core.diarize.diarizer import Diarizer

    result = Diarizer().diarize(sample_audio())
    assert result.speech is not None and len(result.speech) == result.tracks[0].curve.shape[0]
    assert 0.3 < float(np.mean(result.speech > 0)) < 1.0
