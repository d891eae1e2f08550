"""Audio input: formats, rates, channels, streaming, and one clear AudioError per bad file."""

import math
import os
import tracemalloc

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from weighter_gui.core.io import audio
from weighter_gui.core.io.audio import (
    AudioChannelError,
    AudioCorruptError,
    AudioEmptyError,
    AudioError,
    AudioInfo,
    AudioMissingError,
    AudioNotAudioError,
    AudioTooShortError,
    AudioTruncatedError,
    AudioUnreadableError,
    iter_audio_blocks,
    load_audio,
    probe,
)

RATE = 16000


def sine(freq: float, rate: int, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(rate * seconds))) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(y: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.argmax(spectrum)) * rate / len(y)


def can_write(fmt: str, subtype: str) -> bool:
    return fmt in sf.available_formats() and subtype in sf.available_subtypes(fmt)


# --------------------------------------------------------------------------- formats and rates

FORMATS = [
    ("WAV", "PCM_16", "wav", 1e-4),
    ("WAV", "PCM_24", "wav", 1e-6),
    ("WAV", "PCM_32", "wav", 1e-6),
    ("WAV", "FLOAT", "wav", 1e-7),
    ("WAV", "PCM_U8", "wav", 1e-2),
    ("FLAC", "PCM_16", "flac", 1e-4),
    ("FLAC", "PCM_24", "flac", 1e-6),
    ("OGG", "VORBIS", "ogg", None),  # lossy: check pitch and length only
    ("MP3", "MPEG_LAYER_III", "mp3", None),
]


@pytest.mark.parametrize(
    ("fmt", "subtype", "ext", "tol"), FORMATS, ids=[f"{f[0]}-{f[1]}" for f in FORMATS]
)
def test_decodes_each_format(tmp_path, fmt, subtype, ext, tol):
    if not can_write(fmt, subtype):
        pytest.skip(f"this libsndfile cannot write {fmt}/{subtype}")
    x = sine(440, RATE, 1.0)
    path = tmp_path / f"tone.{ext}"
    sf.write(path, x, RATE, format=fmt, subtype=subtype)

    info = probe(path)
    assert isinstance(info, AudioInfo)
    assert (info.format, info.subtype, info.sample_rate, info.channels) == (fmt, subtype, RATE, 1)
    assert info.frames == RATE and info.duration == pytest.approx(1.0)

    y = load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1 and len(y) == RATE
    assert np.all(np.abs(y) <= 1.0)
    assert peak_hz(y, RATE) == pytest.approx(440, abs=1)
    if tol is not None:
        assert np.max(np.abs(y - x)) < tol


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_resamples_to_16k_keeping_duration_and_pitch(tmp_path, rate):
    path = tmp_path / f"tone_{rate}.wav"
    sf.write(path, sine(440, rate, 1.5), rate, subtype="PCM_16")
    y = load_audio(path)
    assert len(y) == math.ceil(int(rate * 1.5) * RATE / rate)
    assert len(y) / RATE == pytest.approx(1.5, abs=1e-3)
    assert peak_hz(y, RATE) == pytest.approx(440, abs=1)
    # The resampler keeps the level: a 0.5 sine stays a 0.5 sine away from the edges.
    assert np.max(np.abs(y[800:-800])) == pytest.approx(0.5, abs=0.01)


def test_other_target_rate(tmp_path):
    path = tmp_path / "tone.wav"
    sf.write(path, sine(440, 44100, 1.0), 44100)
    y = load_audio(path, sample_rate=8000)
    assert len(y) == 8000 and peak_hz(y, 8000) == pytest.approx(440, abs=1)


def test_float_file_is_clipped_and_nan_free(tmp_path):
    x = sine(440, RATE, 1.0, amp=1.5)
    x[100:110] = np.nan
    x[200] = np.inf
    path = tmp_path / "hot.wav"
    sf.write(path, x, RATE, subtype="FLOAT")
    y = load_audio(path)
    assert np.all(np.isfinite(y)) and np.max(np.abs(y)) <= 1.0 and np.max(y) == 1.0


# --------------------------------------------------------------------------- channels


def stereo_file(tmp_path, rate=RATE):
    left = sine(440, rate, 1.0)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, np.zeros_like(left)], axis=1), rate, subtype="FLOAT")
    return path, left


def test_stereo_downmix_averages_channels(tmp_path):
    path, left = stereo_file(tmp_path)
    assert probe(path).channels == 2
    np.testing.assert_allclose(load_audio(path), 0.5 * left, atol=1e-7)


def test_stereo_channel_pick(tmp_path):
    path, left = stereo_file(tmp_path)
    np.testing.assert_allclose(load_audio(path, channel=0), left, atol=1e-7)
    assert np.all(load_audio(path, channel=1) == 0)


def test_channel_pick_after_resampling(tmp_path):
    path, _ = stereo_file(tmp_path, rate=44100)
    left = load_audio(path, channel=0)
    assert peak_hz(left, RATE) == pytest.approx(440, abs=1)
    assert np.max(np.abs(load_audio(path, channel=1))) == 0


@pytest.mark.parametrize("channel", [2, 7, -1])
def test_missing_channel_is_a_clear_value_error(tmp_path, channel):
    path, _ = stereo_file(tmp_path)
    for call in (load_audio, iter_audio_blocks):
        with pytest.raises(AudioChannelError) as err:
            call(path, channel=channel)
        assert isinstance(err.value, ValueError)
        message = str(err.value)
        assert "stereo.wav" in message and "2 channels" in message and "0 to 1" in message


def test_six_channels(tmp_path):
    levels = np.array([0.1, 0.2, 0.3, -0.1, -0.2, 0.6], dtype=np.float32)
    data = np.tile(levels, (RATE, 1)) * np.hanning(RATE)[:, None].astype(np.float32)
    path = tmp_path / "surround.wav"
    sf.write(path, data, RATE, subtype="FLOAT")
    assert probe(path).channels == 6
    np.testing.assert_allclose(load_audio(path), data.mean(axis=1), atol=1e-6)
    for k in range(6):
        np.testing.assert_allclose(load_audio(path, channel=k), data[:, k], atol=1e-7)


# --------------------------------------------------------------------------- bad inputs


def tone_wav(path, seconds=1.0, rate=RATE):
    sf.write(path, sine(440, rate, seconds), rate, subtype="PCM_16")
    return path


def cut_in_half(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def make_missing(tmp_path):
    return tmp_path / "nowhere.wav"


def make_directory(tmp_path):
    path = tmp_path / "folder.wav"
    path.mkdir()
    return path


def make_empty(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    return path


def make_zero_frames(tmp_path):
    path = tmp_path / "header_only.wav"
    sf.write(path, np.zeros((0, 1), np.float32), RATE, subtype="PCM_16")
    assert path.stat().st_size > 0
    return path


def make_truncated_wav(tmp_path):
    return cut_in_half(tone_wav(tmp_path / "cut.wav", seconds=2.0))


def make_text(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("This is a meeting transcript, not audio.\n" * 50)
    return path


def make_random(tmp_path):
    path = tmp_path / "noise.bin"
    path.write_bytes(np.random.default_rng(0).bytes(50_000))
    return path


BAD_INPUTS = {
    "missing": (make_missing, AudioMissingError, "not found"),
    "directory": (make_directory, AudioMissingError, "folder"),
    "empty": (make_empty, AudioEmptyError, "0 bytes"),
    "zero_frames": (make_zero_frames, AudioEmptyError, "0 samples"),
    "truncated_wav": (make_truncated_wav, AudioTruncatedError, "cut short"),
    "text": (make_text, AudioNotAudioError, "not an audio file"),
    "random_bytes": (make_random, AudioNotAudioError, "not an audio file"),
}


@pytest.mark.parametrize("call", [probe, load_audio, iter_audio_blocks], ids=lambda f: f.__name__)
@pytest.mark.parametrize("kind", list(BAD_INPUTS))
def test_each_bad_input_raises_its_error(tmp_path, kind, call):
    make, error, words = BAD_INPUTS[kind]
    path = make(tmp_path)
    with pytest.raises(error) as err:
        call(path)  # iter_audio_blocks checks the file when called, before the first block
    message = str(err.value)
    assert path.name in message and words in message
    assert err.value.path == path
    assert "; " in message  # "<file>: <problem>; <what to do>"


def test_truncated_wav_message_says_how_much_is_missing(tmp_path):
    path = make_truncated_wav(tmp_path)
    with pytest.raises(AudioTruncatedError, match=r"promises 2\.00 s .* holds only 1\.00 s"):
        load_audio(path)


@pytest.mark.parametrize(
    ("fmt", "subtype", "ext"),
    [
        ("AIFF", "PCM_16", "aiff"),
        ("RF64", "PCM_16", "rf64"),
        ("W64", "PCM_24", "w64"),
        ("WAVEX", "FLOAT", "wav"),
    ],
)
def test_truncated_header_formats(tmp_path, fmt, subtype, ext):
    path = tmp_path / f"cut.{ext}"
    sf.write(path, sine(440, RATE, 2.0), RATE, format=fmt, subtype=subtype)
    probe(path)  # intact: fine
    with pytest.raises(AudioTruncatedError, match="cut.+promises"):
        probe(cut_in_half(path))


def test_streamed_wav_with_placeholder_size_is_not_truncated(tmp_path):
    path = tone_wav(tmp_path / "streamed.wav")
    data = bytearray(path.read_bytes())
    at = data.index(b"data")
    data[at + 4 : at + 8] = (0xFFFFFFFF).to_bytes(4, "little")  # "length unknown", as pipes write
    path.write_bytes(bytes(data))
    assert len(load_audio(path)) == RATE


@pytest.mark.parametrize(
    ("fmt", "subtype", "ext"), [("FLAC", "PCM_16", "flac"), ("MP3", "MPEG_LAYER_III", "mp3")]
)
def test_truncated_compressed_file_fails_while_decoding(tmp_path, fmt, subtype, ext):
    if not can_write(fmt, subtype):
        pytest.skip(f"this libsndfile cannot write {fmt}/{subtype}")
    path = tmp_path / f"cut.{ext}"
    sf.write(path, sine(440, RATE, 3.0), RATE, format=fmt, subtype=subtype)
    cut_in_half(path)
    with pytest.raises(AudioTruncatedError, match="cut.+cut short"):
        load_audio(path)
    with pytest.raises(AudioTruncatedError):
        for _ in iter_audio_blocks(path, block_seconds=0.5):
            pass


def test_damaged_ogg_is_corrupt(tmp_path):
    path = tmp_path / "cut.ogg"
    sf.write(path, sine(440, RATE, 2.0), RATE, format="OGG", subtype="VORBIS")
    with pytest.raises(AudioCorruptError, match="cut.ogg: damaged"):
        load_audio(cut_in_half(path))


def test_too_short(tmp_path):
    path = tone_wav(tmp_path / "blip.wav", seconds=0.1)
    with pytest.raises(AudioTooShortError, match=r"blip\.wav: too short \(0\.10 s.*0\.50 s"):
        load_audio(path)
    with pytest.raises(AudioTooShortError, match=r"1\.00 s needed"):
        load_audio(path, min_duration=1.0)
    assert len(load_audio(path, min_duration=0.05)) == 1600
    assert len(load_audio(path, min_duration=0)) == 1600
    assert probe(path).duration == pytest.approx(0.1)  # probing has no minimum


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_chmod(tmp_path):
    path = tone_wav(tmp_path / "locked.wav")
    path.chmod(0)
    try:
        for call in (probe, load_audio, iter_audio_blocks):
            with pytest.raises(AudioUnreadableError, match="locked.wav: permission denied"):
                call(path)
    finally:
        path.chmod(0o644)


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (PermissionError(13, "Permission denied"), "permission denied"),
        (OSError(5, "Input/output error"), r"cannot be read \(input/output error\)"),
    ],
)
def test_unreadable_file_simulated(tmp_path, monkeypatch, exc, words):
    """Runs as root too: make the module's open() fail the way the OS would."""
    path = tone_wav(tmp_path / "locked.wav")

    def failing_open(*args, **kwargs):
        raise exc

    monkeypatch.setattr(audio, "open", failing_open, raising=False)
    with pytest.raises(AudioUnreadableError, match=f"locked.wav: {words}"):
        load_audio(path)


def test_all_errors_are_audio_errors():
    for cls in (
        AudioMissingError,
        AudioUnreadableError,
        AudioEmptyError,
        AudioTruncatedError,
        AudioNotAudioError,
        AudioTooShortError,
        AudioCorruptError,
        AudioChannelError,
    ):
        assert issubclass(cls, AudioError)


def test_bad_arguments(tmp_path):
    path = tone_wav(tmp_path / "tone.wav")
    with pytest.raises(ValueError, match="sample_rate"):
        load_audio(path, sample_rate=0)
    with pytest.raises(ValueError, match="block_seconds"):
        iter_audio_blocks(path, block_seconds=0)
    with pytest.raises(ValueError, match="min_duration"):
        load_audio(path, min_duration=-1)


# --------------------------------------------------------------------------- streaming


@pytest.mark.parametrize(
    ("rate", "block_seconds"), [(44100, 0.25), (48000, 0.37), (8000, 0.3), (16000, 0.25)]
)
def test_blocks_concatenate_to_load_audio(tmp_path, rate, block_seconds):
    rng = np.random.default_rng(1)
    seconds = 3.1
    x = (0.3 * rng.standard_normal((int(rate * seconds), 2))).astype(np.float32)
    x[:, 0] += sine(440, rate, seconds)
    path = tmp_path / "speech_like.wav"
    sf.write(path, x, rate, subtype="FLOAT")

    blocks = list(iter_audio_blocks(path, block_seconds=block_seconds))
    assert len(blocks) >= 8  # many boundaries
    assert all(b.dtype == np.float32 and b.ndim == 1 for b in blocks)
    step = round(block_seconds * RATE)
    assert all(abs(len(b) - step) <= RATE * 0.05 for b in blocks[:-1])
    streamed = np.concatenate(blocks)
    whole = load_audio(path)
    assert len(streamed) == len(whole) == math.ceil(len(x) * RATE / rate)
    # Overlap-and-trim at multiples of the resampling period: no boundary error at all.
    assert np.max(np.abs(streamed - whole)) < 1e-6
    # ... and both equal resampling the whole signal in one go.
    mono = x.mean(axis=1)
    reference = mono if rate == RATE else resample_poly(mono, RATE, rate)
    assert np.max(np.abs(streamed - np.clip(reference, -1, 1))) < 1e-5


def test_blocks_channel_pick(tmp_path):
    path, _ = stereo_file(tmp_path, rate=22050)
    blocks = list(iter_audio_blocks(path, block_seconds=0.1, channel=0))
    np.testing.assert_allclose(np.concatenate(blocks), load_audio(path, channel=0), atol=1e-6)


def test_iter_audio_blocks_checks_the_file_before_iterating(tmp_path):
    with pytest.raises(AudioMissingError):
        iter_audio_blocks(tmp_path / "gone.wav")  # no next() needed


@pytest.fixture(scope="module")
def ten_minute_wav(tmp_path_factory):
    """10 min of 16 kHz PCM_16 (19 MB on disk, 38 MB as float32), written in pieces."""
    path = tmp_path_factory.mktemp("long") / "long.wav"
    piece = sine(440, RATE, 60.0, amp=0.25)
    with sf.SoundFile(path, "w", RATE, 1, subtype="PCM_16") as f:
        for _ in range(10):
            f.write(piece)
    return path


@pytest.mark.parametrize("target_rate", [RATE, 8000])
def test_streaming_memory_is_bounded(ten_minute_wav, target_rate):
    frames = probe(ten_minute_wav).frames
    decoded_bytes = frames * 4  # the whole file as float32 at its own rate
    total = 0
    tracemalloc.start()
    try:
        for block in iter_audio_blocks(ten_minute_wav, sample_rate=target_rate, block_seconds=10.0):
            total += len(block)
            del block
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == math.ceil(frames * target_rate / RATE)
    # 10 s blocks: about 2 MB of buffers at the peak, against 38 MB for the whole file.
    assert peak < decoded_bytes / 10, f"peak {peak / 1e6:.1f} MB while streaming"


def test_waveform_envelope_per_channel_in_blocks(tmp_path):
    from weighter_gui.core.io.audio import waveform_envelope

    rate = 8000
    t = np.arange(rate * 3) / rate
    left = 0.5 * np.sin(2 * np.pi * 100 * t)
    right = np.where(t > 2.0, 0.9, 0.0) * np.sign(np.sin(2 * np.pi * 50 * t))
    path = tmp_path / "two.wav"
    sf.write(path, np.stack([left, right], 1).astype(np.float32), rate)
    env = waveform_envelope(path, buckets=300, block_seconds=0.37)  # blocks that do not divide the file
    assert env.low.shape == env.high.shape == (2, 300)
    assert env.seconds_per_bucket == pytest.approx(3.0 / 300)
    assert env.high[0].max() == pytest.approx(0.5, abs=1e-3) and env.low[0].min() == pytest.approx(-0.5, abs=1e-3)
    peak = np.maximum(env.high[1], -env.low[1])  # (a 10 ms bucket can hold half a period)
    quiet, loud = peak[:190], peak[210:]
    assert quiet.max() == 0.0 and loud.min() == pytest.approx(0.9, abs=1e-3)
    assert waveform_envelope(path, cancelled=lambda: True) is None
