"""Augmentation chain (weighter_gui.core.training.augment): deterministic, onsets kept, exact SNR."""

import json
from pathlib import Path

import numpy as np
import pytest

from weighter_gui.core.training import augment, synth

SR = 16000
REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "speakers"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"no real speakers at {REAL}")


def _speechy(n=3 * SR, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros(n)
    x[SR // 2 : 2 * SR] = 0.1 * rng.standard_normal(2 * SR - SR // 2)
    active = x != 0
    return x, active


def _chain(seed, cfg):
    rng = np.random.default_rng(seed)
    x, active = _speechy()
    tracks = augment.reverberate(np.stack([x, np.roll(x, SR)]), rng, cfg)
    return augment.degrade(tracks.sum(axis=0), active, rng, cfg)


def test_chain_is_deterministic_from_its_seed():
    cfg = augment.AugmentConfig(reverb_p=1.0, noise_p=1.0, eq_p=1.0, telephone_p=0.5, clip_p=0.5)
    for seed in range(4):
        assert np.array_equal(_chain(seed, cfg), _chain(seed, cfg))
    assert not np.array_equal(_chain(0, cfg), _chain(1, cfg))


@pytest.mark.parametrize("rt60", [0.1, 0.5, 1.0])
@pytest.mark.parametrize("far", [False, True])
def test_reverb_keeps_onsets(rt60, far):
    rng = np.random.default_rng(int(rt60 * 10) + far)
    (ir,) = augment.room_ir(rng, rt60, far)
    assert int(np.argmax(np.abs(ir))) == 0 or abs(ir[0]) > 0.1
    assert np.sum(ir**2) == pytest.approx(1.0)
    k = 12345
    for x in (np.eye(1, 2 * SR, k)[0], np.r_[np.zeros(k), 0.3 * rng.standard_normal(SR // 10), np.zeros(SR)]):
        y = augment.oaconvolve(x, ir)[: len(x)]
        first = int(np.flatnonzero(np.abs(y) > 1e-3 * np.abs(y).max())[0])
        assert abs(first - k) <= SR // 1000


def test_one_room_is_fast():
    import time

    rng = np.random.default_rng(0)
    t = time.perf_counter()
    augment.room_ir(rng, 1.0, [False, True, True, False], 4)
    assert time.perf_counter() - t < 1.0


@pytest.mark.parametrize("kind", augment.NOISE_KINDS)
def test_noise_snr_is_the_drawn_one(kind):
    x, active = _speechy()
    rng = np.random.default_rng(3)
    cfg = augment.AugmentConfig(noise_kinds=(kind,))
    noise = augment.make_noise(len(x), rng, cfg)
    for snr in (0.0, 12.5, 30.0):
        y = augment.add_noise(x, active, noise, snr)
        got = 10 * np.log10(np.mean(x[active] ** 2) / np.mean((y - x) ** 2))
        assert got == pytest.approx(snr, abs=1.0)


def test_real_noise_excludes_labelled():
    folder = augment.default_noise_dir()
    if folder is None:
        pytest.skip("no real noise recordings here")
    files = augment._noise_files(str(folder))
    assert files and not any("labelled" in f for f in files)


def test_available_codecs_round_trip_to_the_same_length():
    x, _ = _speechy(n=2 * SR + 123)
    codecs = augment.available_codecs()
    assert "mu-law" in codecs or not augment.shutil.which("sox")
    for name in codecs:
        y = augment.codec(x, name)
        assert len(y) == len(x) and np.isfinite(y).all() and np.abs(y).max() > 0
    assert len(augment.telephone(x)) == len(x)


@needs_real
def test_augmented_corpus_keeps_the_rttm(tmp_path):
    kw = dict(conversations=2, min_speakers=2, max_speakers=3, duration_s=(12, 12), seed=4,
              real=[REAL / "librispeech-test-other"], split="eval")
    cfg = augment.AugmentConfig(reverb_p=1.0, noise_p=1.0, telephone_p=0.5).without_speaker_changes()
    plain = synth.build_corpus(tmp_path / "plain", **kw)
    aug = synth.build_corpus(tmp_path / "aug", augment=cfg, **kw)
    again = synth.build_corpus(tmp_path / "again", augment=cfg, **kw)
    for p, a in zip(plain.read_text().splitlines(), aug.read_text().splitlines()):
        p, a = json.loads(p), json.loads(a)
        assert (p["segments"], p["duration"]) == (a["segments"], a["duration"])
        assert p["sha256"] != a["sha256"]
        assert (plain.parent / p["rttm"]).read_bytes() == (aug.parent / a["rttm"]).read_bytes()
    assert aug.read_bytes() == again.read_bytes()


@needs_real
def test_pitch_shifted_real_speaker_is_a_new_identity():
    from weighter_gui.core.training import real_voices

    spk = real_voices.speakers_for_split([REAL / "vctk"], "dev")[0]
    cfg = augment.AugmentConfig(pitch_p=1.0, tempo_p=1.0)
    out = augment.perturb_speaker(spk, np.random.default_rng(0), cfg)
    assert out.identity.startswith(spk.identity + ("+" if out.pitch_cents > 0 else "-"))
    assert out.identity.endswith("c") and 100 <= abs(out.pitch_cents) <= 400
    assert 0.9 <= out.tempo <= 1.1
    rng = np.random.default_rng(1)
    x = real_voices.say(out, rng)
    assert len(x) % 16 == 0 and np.abs(x).max() > 0


def test_leaving_a_part_out_turns_off_that_part_alone():
    full = augment.AugmentConfig(reverb_p=1.0, noise_p=1.0, eq_p=1.0, telephone_p=1.0, codec_p=1.0)
    no_rooms = full.without("rooms")
    assert no_rooms.reverb_p == 0.0 and no_rooms.noise_p == 1.0 and no_rooms.telephone_p == 1.0
    tracks = np.stack([_speechy()[0], _speechy(seed=1)[0]])
    assert np.array_equal(augment.reverberate(tracks, np.random.default_rng(0), no_rooms), tracks)
    no_channel = full.without("channel", "speakers")
    assert (no_channel.eq_p, no_channel.telephone_p, no_channel.codec_p, no_channel.pitch_p) == (0, 0, 0, 0)
    assert no_channel.reverb_p == 1.0 and no_channel.noise_p == 1.0
    assert full.without("speakers") == full.without_speaker_changes()
    with pytest.raises(ValueError, match="unknown augmentation 'room'"):
        full.without("room")


def test_cli_augment_without_needs_augment_and_a_known_part(tmp_path, capsys):
    from weighter_gui.cli import main

    assert main(["synth", str(tmp_path / "a"), "--augment-without", "rooms"]) != 0
    assert "--augment-without needs --augment" in capsys.readouterr().err
    assert main(["synth", str(tmp_path / "b"), "--augment", "--augment-without", "room"]) != 0
    assert "choose from speakers, rooms, noise, channel" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
