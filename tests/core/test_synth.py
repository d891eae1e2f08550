"""Synthetic corpora (weighter_gui.core.training.synth): tiny espeak-ng and real-voice corpora only."""

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from weighter_gui.core.training import real_voices, synth

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng not installed (apt-get install espeak-ng)",
)
TINY = {
    "conversations": 2,
    "min_speakers": 2,
    "max_speakers": 2,
    "duration_s": (8, 10),
    "overlap": 0.5,
    "engines": ["espeak-ng"],
}


def _read_manifest(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _read_rttm(path):
    rows = []
    for line in path.read_text().splitlines():
        f = line.split()
        assert len(f) == 10 and f[0] == "SPEAKER" and f[2] == "1"
        assert f[5] == f[6] == f[8] == f[9] == "<NA>"
        rows.append((f[1], float(f[3]), float(f[4]), f[7]))
    return rows


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    cache = root / "cache"
    a = synth.build_corpus(root / "a", seed=7, cache_dir=cache, **TINY)
    b = synth.build_corpus(root / "b", seed=7, cache_dir=cache, **TINY)
    return a, b


def test_text_pool_is_varied():
    pool = synth.text_pool()
    assert len(set(pool)) >= 200
    assert len(set(pool)) == len(pool)
    assert all(s.isascii() for s in pool)  # festival encodings need plain ASCII
    assert synth.text_pool() == pool


@needs_espeak
def test_tiny_corpus_builds_and_rttm_matches_manifest(tiny):
    manifest, _ = tiny
    items = _read_manifest(manifest)
    assert len(items) == 2
    for item in items:
        audio = manifest.parent / item["audio"]
        x, sr = sf.read(audio)
        assert sr == item["sample_rate"] == 16000 and x.ndim == 1
        assert abs(len(x) / sr - item["duration"]) < 1e-3
        assert 8 <= item["duration"] <= 17  # the last turn may overshoot
        rows = _read_rttm(manifest.parent / item["rttm"])
        assert {r[0] for r in rows} == {item["id"]}
        assert sorted({r[3] for r in rows}) == item["likes"]
        assert len(item["likes"]) == 2
        assert all(name.startswith("espeak-") for name in item["likes"])
        segs = item["segments"]
        assert len(segs) == len(rows)
        for (start, end, name), (_, r_start, r_dur, r_name) in zip(segs, rows):
            assert name == r_name and start == pytest.approx(r_start)
            assert end - start == pytest.approx(r_dur, abs=2e-3)
            assert 0 <= start < end <= item["duration"]
        # speech lies inside the segments: louder there than in the gaps
        mask = np.zeros(len(x), bool)
        for start, end, _ in segs:
            mask[int(start * sr) : int(end * sr)] = True
        assert np.mean(x[mask] ** 2) > 10 * np.mean(x[~mask] ** 2)


@needs_espeak
def test_same_seed_same_corpus(tiny):
    a, b = tiny
    assert a.read_bytes() == b.read_bytes()  # includes the audio sha256
    for item in _read_manifest(a):
        assert (a.parent / item["rttm"]).read_bytes() == (
            b.parent / item["rttm"]
        ).read_bytes()


@needs_espeak
def test_other_seed_differs(tmp_path, tiny):
    a, _ = tiny
    c = synth.build_corpus(
        tmp_path, seed=8, cache_dir=a.parent.parent / "cache", **TINY
    )
    assert c.read_bytes() != a.read_bytes()


@needs_espeak
def test_overlap_produces_overlapping_segments(tiny):
    manifest, _ = tiny
    overlaps = 0
    for item in _read_manifest(manifest):
        segs = sorted(item["segments"])
        overlaps += sum(s2[0] < s1[1] for s1, s2 in itertools.pairwise(segs))
    assert overlaps > 0


@needs_espeak
def test_no_overlap_when_zero(tmp_path, tiny):
    a, _ = tiny
    m = synth.build_corpus(
        tmp_path,
        seed=1,
        cache_dir=a.parent.parent / "cache",
        **{**TINY, "overlap": 0.0, "conversations": 1},
    )
    segs = sorted(_read_manifest(m)[0]["segments"])
    assert all(s2[0] >= s1[1] for s1, s2 in itertools.pairwise(segs))


@needs_espeak
def test_a_monologue_is_one_speaker_taking_turns(tmp_path, tiny):
    a, _ = tiny
    m = synth.build_corpus(
        tmp_path, seed=2, cache_dir=a.parent.parent / "cache",
        **{**TINY, "min_speakers": 1, "max_speakers": 1, "conversations": 1},
    )
    (item,) = _read_manifest(m)
    segs = sorted(item["segments"])
    assert len(item["likes"]) == 1 and len(segs) >= 2
    assert all(s2[0] >= s1[1] for s1, s2 in itertools.pairwise(segs))  # never over itself


@needs_espeak
def test_reserved_voices_split():
    train = synth.voices_for_split("train", engines=["espeak-ng", "flite"])
    evals = synth.voices_for_split("eval", engines=["espeak-ng", "flite"])
    reserved_espeak = {
        "espeak-m7",
        "espeak-f5",
        "espeak-Andy",
        "espeak-quincy",
        "espeak-belinda",
        "espeak-norbert",
    }
    assert not any(v.reserved for v in train) and all(v.reserved for v in evals)
    assert not {v.name for v in train} & {v.name for v in evals}
    assert reserved_espeak <= {v.name for v in evals}
    assert not reserved_espeak & {v.name for v in train}
    assert "flite-awb" not in {v.name for v in train}
    if shutil.which("flite"):
        assert "flite-awb" in {v.name for v in evals}
    # every non-reserved variant file name is a known train voice
    assert {"espeak-m1", "espeak-f1", "espeak-klatt"} <= {v.name for v in train}


@needs_espeak
def test_pitch_shifted_reserved_stay_reserved():
    voices = synth.available_voices(engines=["espeak-ng"], pitch_shift=synth.PITCH_SHIFTS)
    by_name = {v.name: v for v in voices}
    assert by_name["espeak-m7+400c"].reserved and by_name["espeak-m7-400c"].reserved
    assert not by_name["espeak-m3+400c"].reserved
    assert by_name["espeak-m3+400c"].identity != by_name["espeak-m3"].identity
    others = {v.name for v in synth.available_voices(engines=["espeak-ng"], pitch_shift=(-700, 200))}
    assert {"espeak-m3-700c", "espeak-m3+200c"} <= others and "espeak-m3+400c" not in others


def test_cli_pitch_shift_defaults_to_the_held_out_shifts(tmp_path, capsys):
    from weighter_gui.cli import _build_parser, main

    synth_cli = _build_parser()._subparsers._group_actions[0].choices["synth"]
    (action,) = [a for a in synth_cli._actions if a.dest == "pitch_shift"]
    assert tuple(int(c) for c in action.const.split(",")) == synth.PITCH_SHIFTS
    assert main(["synth", str(tmp_path / "c"), "--pitch-shift=up,down"]) == 2
    assert "--pitch-shift takes whole cents" in capsys.readouterr().err


@needs_espeak
def test_eval_split_uses_only_reserved(tmp_path):
    m = synth.build_corpus(
        tmp_path, split="eval", seed=0, **{**TINY, "conversations": 1}
    )
    reserved = {v.name for v in synth.voices_for_split("eval", engines=["espeak-ng"])}
    for item in _read_manifest(m):
        assert set(item["likes"]) <= reserved


@needs_espeak
def test_train_split_never_uses_reserved(tiny):
    manifest, _ = tiny
    reserved = {
        v.name for v in synth.available_voices(engines=["espeak-ng"]) if v.reserved
    }
    for item in _read_manifest(manifest):
        assert not set(item["likes"]) & reserved


def test_missing_engine_message(monkeypatch):
    monkeypatch.setattr(synth, "_which", lambda cmd: None)
    with pytest.raises(synth.SynthError, match="apt-get install espeak-ng"):
        synth.voices_for_split("train", engines=["espeak-ng"])
    assert synth.missing_engines()["festival"].startswith("festival")


def test_trim_silence_is_on_ms_grid():
    x = np.zeros(16000, np.float32)
    x[3001:9003] = 0.5
    y = synth.trim_silence(x)
    assert len(y) % synth.GRID == 0 and len(y) >= 6002
    assert synth.trim_silence(np.zeros(1000, np.float32)).size == 0


@needs_espeak
def test_synth_command_writes_a_corpus(tmp_path, capsys):
    from weighter_gui import cli

    out = tmp_path / "corpus"
    code = cli.main(
        ["synth", str(out), "--conversations", "1", "--speakers", "2", "2",
         "--duration", "6", "8", "--seed", "3"]
    )
    assert code == 0
    lines = (out / "manifest.jsonl").read_text().splitlines()
    assert len(lines) == 1
    assert "manifest.jsonl" in capsys.readouterr().out


def test_synth_command_reports_bad_arguments(tmp_path, capsys):
    from weighter_gui import cli

    assert cli.main(["synth", str(tmp_path), "--speakers", "3", "2"]) == 2
    assert "error:" in capsys.readouterr().err


def test_a_sentence_the_engine_fails_on_is_replaced(monkeypatch, tmp_path):
    calls = []

    def fake(voice, text, cache_dir):
        calls.append(text)
        if len(calls) < 3:
            raise synth.SynthError("festival voice failed on that sentence")
        return np.ones(10, np.float32)

    monkeypatch.setattr(synth, "synthesize", fake)
    voice = synth.Voice("v", "espeak-ng", "en", False, "v")
    out = synth._say(voice, ["a", "b", "c", "d"], np.random.default_rng(0), tmp_path)
    assert len(out) == 10 and len(calls) == 3
    calls.clear()
    monkeypatch.setattr(synth, "synthesize", lambda *a: (_ for _ in ()).throw(synth.SynthError("dead voice")))
    with pytest.raises(synth.SynthError, match="dead voice"):
        synth._say(voice, ["a"], np.random.default_rng(0), tmp_path)


def test_synth_command_names_an_unknown_engine(tmp_path, capsys):
    from weighter_gui import cli

    assert cli.main(["synth", str(tmp_path / "c"), "--conversations", "1", "--engines", "espeak-ng,sapi"]) != 0
    err = capsys.readouterr().err
    assert "unknown engines" in err and "sapi" in err


# --------------------------------------------------------------------------- real voices

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "speakers"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"no real speakers at {REAL}")
REAL_TINY = {
    "conversations": 2,
    "min_speakers": 2,
    "max_speakers": 3,
    "duration_s": (20, 20),
    "overlap": 0.0,
    "noise_db": (-120, -119),  # (almost) digital silence between turns
    "real": [REAL / "librispeech-test-other"],
    "split": "eval",
}


@pytest.fixture(scope="module")
def real_tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("real")
    return (
        synth.build_corpus(root / "a", seed=5, **REAL_TINY),
        synth.build_corpus(root / "b", seed=5, **REAL_TINY),
    )


def test_phrases_are_cut_at_pauses_and_trimmed():
    sr = 16000
    rng = np.random.default_rng(0)
    x = 1e-4 * rng.standard_normal(8 * sr)
    for a, b in ((0.5, 2.0), (2.6, 5.0), (5.5, 7.2)):  # 0.6 s and 0.5 s pauses
        x[int(a * sr) : int(b * sr)] += 0.3 * np.sin(np.arange(int((b - a) * sr)) * 0.1)
    spans = real_voices._spans(x.astype(np.float32))
    assert len(spans) == 3
    for (s, e), (a, b) in zip(spans, ((0.5, 2.0), (2.6, 5.0), (5.5, 7.2))):
        assert abs(s / sr - a) <= 0.011 and abs(e / sr - b) <= 0.011
        assert s % synth.GRID == 0 and e % synth.GRID == 0


@needs_real
def test_real_split_is_speaker_disjoint_and_fixed():
    found = real_voices.find_speakers([REAL])
    by_split = {s: {x.identity for x in found if x.split == s} for s in real_voices.SPLITS}
    assert not by_split["train"] & by_split["dev"]
    assert not by_split["train"] & by_split["eval"] and not by_split["dev"] & by_split["eval"]
    assert len(by_split["eval"]) == 10 and all(i.startswith("ls-") for i in by_split["eval"])
    ls100 = sorted(int(x.folder) for x in found if x.dataset == "librispeech-train-clean-100")
    assert {f"ls-{i}" for i in ls100[:30]} <= by_split["dev"]
    assert {f"ls-{i}" for i in ls100[30:]} <= by_split["train"]
    assert {"vctk-p225", "vctk-p226", "vctk-p227", "vctk-p228"} <= by_split["dev"]
    cv = [x for x in found if x.dataset == "common-voice"]
    assert cv and {x.split for x in cv} == {"train", "dev"}
    assert "cv-ar-0cae0344c4bc" in {x.identity for x in cv}
    # the same split from a dataset folder as from the parent
    alone = real_voices.speakers_for_split([REAL / "librispeech-train-clean-100"], "dev")
    assert {x.identity for x in alone} == {f"ls-{i}" for i in ls100[:30]}


@needs_real
def test_real_voice_corpus_builds_with_exact_segments(real_tiny):
    manifest, _ = real_tiny
    items = _read_manifest(manifest)
    assert len(items) == 2
    eval_ids = {x.identity for x in real_voices.speakers_for_split([REAL], "eval")}
    for item in items:
        x, sr = sf.read(manifest.parent / item["audio"])
        assert abs(len(x) / sr - item["duration"]) < 1e-3
        assert set(item["likes"]) <= eval_ids and len(item["likes"]) >= 2
        rows = _read_rttm(manifest.parent / item["rttm"])
        assert [(r[1], r[3]) for r in rows] == [(s[0], s[2]) for s in item["segments"]]
        ms = sr // 100
        for start, end, _ in item["segments"]:
            a, b = round(start * sr), round(end * sr)
            assert b - a >= 0.3 * sr
            first, last = np.abs(x[a : a + ms]).max(), np.abs(x[b - ms : b]).max()
            before, after = np.abs(x[a - ms : a]).max(), np.abs(x[b : b + ms]).max()
            # the sound starts at the segment start and ends at its end (no overlap here)
            assert first > 5 * before and last > 5 * after


@needs_real
def test_real_voice_corpus_same_seed_same_manifest(real_tiny):
    a, b = real_tiny
    assert a.read_bytes() == b.read_bytes()


@needs_real
def test_real_voices_alone_unless_engines_given(monkeypatch):
    monkeypatch.setattr(synth, "voices_for_split", lambda *a, **k: pytest.fail("no TTS wanted"))
    speakers = synth._corpus_speakers("dev", None, (), [REAL / "vctk"], None)
    assert {s.identity for s in speakers} == {"vctk-p225", "vctk-p226", "vctk-p227", "vctk-p228"}
    with pytest.raises(ValueError, match="no 'dev' split"):
        synth._corpus_speakers("dev", ["espeak-ng"], (), [REAL / "vctk"], None)


@needs_real
def test_synth_command_with_real_voices(tmp_path, capsys):
    from weighter_gui import cli

    out = tmp_path / "corpus"
    code = cli.main(
        ["synth", str(out), "--real", str(REAL / "vctk"), "--split", "dev",
         "--conversations", "1", "--speakers", "2", "2", "--duration", "8", "10"]
    )
    assert code == 0, capsys.readouterr().err
    item = _read_manifest(out / "manifest.jsonl")[0]
    assert all(name.startswith("vctk-") for name in item["likes"])
    assert not (out / "tts_cache").exists()


def test_synth_command_names_a_real_voice_file_it_cannot_read(tmp_path, capsys):
    from weighter_gui.cli import main
    from weighter_gui.core.training.real_voices import find_speakers, split_of

    root = tmp_path / "people"
    for name in ("anna", "bert", "carl", "dora"):
        (root / name).mkdir(parents=True)
        (root / name / "take1.wav").write_text("not audio")
    train = [s for s in find_speakers([root]) if split_of(s) == "train"]
    assert train, "at least one of the four names falls in the train split"
    out = tmp_path / "corpus"
    assert main(["synth", str(out), "--real", str(root), "--speakers", "1", "1", "--conversations", "1"]) == 2
    err = capsys.readouterr().err
    assert "take1.wav" in err and "not an audio file" in err
