"""The classic pipeline (silero-vad + GE2E windows + clustering) and `diarize --pipeline classic`."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from weighter_gui.core.diarize.classic import (
    ClassicConfig,
    ClassicDiarizer,
    assign_frames,
    cluster,
    embed_spans,
    frame_segments,
    window_spans,
)
from weighter_gui.core.diarize.diarizer import FileDiarization
from weighter_gui.core.diarize.evaluation import der
from weighter_gui.core.io.label_files import read_rttm

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "resources" / "sample" / "sample.flac"
SAMPLE_RTTM = ROOT / "resources" / "sample" / "sample.rttm"
TEST_SPEAKERS = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "speakers" / "librispeech-test-other"


@pytest.fixture(scope="module")
def diarizer():
    import torch

    torch.set_num_threads(1)
    return ClassicDiarizer()


def test_window_spans_cover_regions():
    spans, owner = window_spans([(0.0, 4.0), (5.0, 5.3), (6.0, 6.8)], window=1.5, step=0.75, min_window=0.4)
    assert spans[0] == (0.0, 1.5)
    assert spans[-2][1] == pytest.approx(4.0)  # the tail of the first region gets its own window
    assert spans[-1] == (6.0, 6.8)  # shorter region: one window over it; 0.3 s region: none
    assert owner == [0] * (len(spans) - 1) + [2]


def test_clustering_estimates_count():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 256))
    x = np.concatenate([c + 0.3 * rng.normal(size=(20, 256)) for c in centres])
    for cfg in (ClassicConfig(method="ahc"), ClassicConfig(method="spectral")):
        labels = cluster(x, cfg)
        assert len(set(labels.tolist())) == 3
        assert all(len(set(labels[i * 20:(i + 1) * 20].tolist())) == 1 for i in range(3))


def test_a_given_speaker_count_moves_the_clusters_count(diarizer):
    """Three voices, 15 s each: three speakers estimated; told two, or four, or one to
    two, the clustering keeps to it (AHC and spectral)."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 256))
    regions = [(0.0, 45.0)]
    spans, owner = window_spans(regions, 1.5, 0.75, 0.4)
    x = np.stack([centres[min(int((a + b) / 2 // 15), 2)] + 0.3 * rng.normal(size=256) for a, b in spans])
    for method in ("ahc", "spectral"):
        def count(low=None, high=None):
            config = ClassicConfig(method=method, min_speakers=low, max_speakers=high)
            return len(diarizer.assemble(Path("x.wav"), 45.0, regions, spans, owner, x, config).speakers)

        assert count() == 3
        assert (count(2, 2), count(4, 4), count(1, 2), count(3, None)) == (2, 4, 2, 3)
    with pytest.raises(ValueError, match="at least 1"):
        ClassicConfig(min_speakers=0)


def test_spans_gathered_in_batches_embed_as_one_by_one(diarizer):
    import torch

    audio = sf.read(SAMPLE, dtype="float32")[0]
    spans = [(0.3 * k, 0.3 * k + 1.5) for k in range(40)] + [(20.0, 20.6), (21.0, 21.6), (25.0, 26.0)]
    batched = embed_spans(diarizer.encoder, audio, spans, batch_size=16)
    mel = diarizer.encoder.mel(audio)
    with torch.inference_mode():
        alone = np.stack([
            diarizer.encoder.embed_mels(mel[round(a / 0.01) : round(b / 0.01)][None])[0].numpy() for a, b in spans
        ])
    np.testing.assert_allclose(batched, alone, atol=1e-5)


def test_frames_take_the_nearest_window():
    regions = [(0.0, 3.0)]
    spans, owner = window_spans(regions)
    labels = np.array([0, 0, 1, 1][: len(spans)])
    frames = assign_frames(400, regions, spans, owner, labels)
    assert (frames[300:] == -1).all() and (frames[:300] >= 0).all()
    segs = frame_segments(frames, 1, 4.0)
    assert len(segs) == 1 and segs[0][1] == pytest.approx(3.0)


def _trimmed(utt, floor_db=25.0):
    """The utterance without its leading and trailing silence (10 ms frames more than
    ``floor_db`` under its loudest), so that the slices' reference times hold speech."""
    frames = utt[: len(utt) // 160 * 160].reshape(-1, 160)
    db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    on = np.flatnonzero(db > db.max() - floor_db)
    return utt[on[0] * 160 : (on[-1] + 1) * 160]


def _two_speakers(tmp_path):
    if not TEST_SPEAKERS.is_dir():
        pytest.skip(f"{TEST_SPEAKERS} absent: the shared real-speaker data is not on this machine")
    speakers = sorted(p for p in TEST_SPEAKERS.iterdir() if p.is_dir())[:2]
    utts = [_trimmed(sf.read(sorted(s.glob("*.flac"))[0], dtype="float32")[0]) for s in speakers]
    sr, piece = 16000, 3 * 16000
    audio, ref, t = [], [], 0.0
    for k in range(6):  # alternating 3 s slices, 0.5 s gaps
        u = utts[k % 2]
        start = (k // 2) * piece % max(1, len(u) - piece)
        chunk = u[start:start + piece]
        audio += [np.zeros(sr // 2, np.float32), chunk]
        t += 0.5
        ref.append((t, t + len(chunk) / sr, speakers[k % 2].name))
        t += len(chunk) / sr
    path = tmp_path / "two.flac"
    sf.write(path, np.concatenate(audio + [np.zeros(sr // 2, np.float32)]), sr)
    (tmp_path / "two.rttm").write_text("".join(
        f"SPEAKER two 1 {a:.3f} {b - a:.3f} <NA> <NA> {s} <NA> <NA>\n" for a, b, s in ref))
    return path, tmp_path / "two.rttm"


def test_two_real_speakers(diarizer, tmp_path):
    path, rttm = _two_speakers(tmp_path)
    result = diarizer.diarize(path)
    assert len(result.speakers) == 2
    assert [t.label for t in result.tracks] == ["S1", "S2"]
    report = der(read_rttm(rttm), {result.uri: result.annotation()}, 0.25)
    assert report.der < 0.20, report.table()
    blocks = int(np.ceil(result.duration / 0.15))
    for t in result.tracks:
        assert t.confidence == 1.0 and t.curve.shape == (blocks,)
        assert np.linalg.norm(t.embedding) == pytest.approx(1.0, abs=1e-4)
        assert set(np.unique(t.curve).tolist()) <= {0.0, 1.0} and t.curve.sum() > 0


def test_sample_gives_a_file_diarization(diarizer):
    result = diarizer.diarize(SAMPLE)
    assert isinstance(result, FileDiarization)
    assert result.hop == 0.15 and result.speakers
    assert result.to_json()["speakers"] == [t.label for t in result.speakers]


def test_white_noise_has_no_speaker(diarizer, tmp_path):
    path = tmp_path / "noise.wav"
    sf.write(path, (0.1 * np.random.default_rng(1).standard_normal(16000 * 10)).astype(np.float32), 16000)
    assert diarizer.diarize(path).speakers == []


def test_cli_classic_prints_der(capsys):
    from weighter_gui.cli import main

    code = main(["diarize", "--pipeline", "classic", str(SAMPLE), "--reference", str(SAMPLE_RTTM)])
    out = capsys.readouterr().out
    assert code == 0
    assert "DER" in out and "TOTAL" in out and "sample" in out


def test_cli_classic_refuses_checkpoint(capsys):
    from weighter_gui.cli import main

    assert main(["diarize", "--pipeline", "classic", "--checkpoint", "x.safetensors", str(SAMPLE)]) != 0
