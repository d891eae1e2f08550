"""The simulation study's parts: generator, scoring, baselines, ceiling, and a tiny run."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from weighter_gui import cli
from weighter_gui.core.training import simulation as sim


@pytest.fixture(scope="module")
def pool():
    return sim.make_prototypes(50, 16, np.random.default_rng(0))


def test_prototypes_are_unit_vectors(pool):
    assert pool.shape == (50, 16)
    np.testing.assert_allclose(np.linalg.norm(pool, axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("target", [30.0, 100.0])
def test_walk_calibration_hits_the_target_run_length(target):
    cfg = sim.SimConfig(dim=8, frames=1200, mean_run=target)
    labels = sim.sample_labels(cfg, np.full(40, 3), np.random.default_rng(1))
    measured = sim.measured_mean_run(list(labels))
    assert 0.7 * target < measured < 1.3 * target


def test_longer_target_gives_longer_runs():
    rng = np.random.default_rng(2)
    short = sim.sample_labels(sim.SimConfig(frames=1200, mean_run=30.0), np.full(20, 2), rng)
    long = sim.sample_labels(sim.SimConfig(frames=1200, mean_run=300.0), np.full(20, 2), rng)
    assert sim.measured_mean_run(list(long)) > 4 * sim.measured_mean_run(list(short))


def test_pure_random_switches_about_every_other_frame():
    cfg = sim.SimConfig(frames=2000, mean_run=0.0)
    labels = sim.sample_labels(cfg, np.full(10, 2), np.random.default_rng(3))
    # iid over 2 speakers: a run ends with probability 1/2, so mean run ~ 2
    assert 1.7 < sim.measured_mean_run(list(labels)) < 2.3


def test_every_speaker_holds_its_minimum_share():
    cfg = sim.SimConfig(frames=900, mean_run=100.0, min_share=0.05)
    ks = np.array([2, 3, 4, 4, 3, 2])
    labels = sim.sample_labels(cfg, ks, np.random.default_rng(4))
    for lab, k in zip(labels, ks):
        assert set(np.unique(lab)) <= set(range(k))


def test_batch_frames_are_prototype_plus_noise(pool):
    cfg = sim.SimConfig(dim=16, frames=300)
    batch = sim.sample_batch(cfg, pool, 3, 0.0, np.random.default_rng(5))
    for feats, lab, protos in zip(batch.features, batch.labels, batch.prototypes):
        np.testing.assert_allclose(feats, protos[lab], atol=1e-6)
    noisy = sim.sample_batch(cfg, pool, 3, 0.5, np.random.default_rng(5))
    resid = noisy.features[0] - noisy.prototypes[0][noisy.labels[0]]
    assert abs(resid.std() - 0.5) < 0.03


def test_frame_accuracy_uses_the_best_mapping():
    truth = np.array([0, 0, 1, 1, 2, 2])
    assert sim.frame_accuracy(np.array([5, 5, 3, 3, 9, 9]), truth) == 1.0
    assert sim.frame_accuracy(np.array([1, 1, 0, 0, 0, 0]), truth) == pytest.approx(4 / 6)
    assert sim.frame_accuracy(np.zeros(6, dtype=int), truth) == pytest.approx(2 / 6)


def test_noise_tolerance_interpolates_the_first_crossing():
    sigmas = np.array([0.1, 0.2, 0.3, 0.4])
    acc = np.array([1.0, 0.95, 0.85, 0.95])  # drops below, then noise brings it back
    assert sim.noise_tolerance(sigmas, acc, 0.9) == pytest.approx(0.25)
    assert sim.noise_tolerance(sigmas, np.ones(4), 0.9) == 0.4
    assert np.isnan(sim.noise_tolerance(sigmas, np.full(4, 0.5), 0.9))


@pytest.mark.parametrize("method", sim.BASELINES)
def test_baselines_separate_clean_clusters(pool, method):
    cfg = sim.SimConfig(dim=16, frames=300, mean_run=30.0)
    batch = sim.sample_batch(cfg, pool, 1, 0.05, np.random.default_rng(6))
    pred = sim.cluster_baseline(method, batch.features[0], len(batch.speakers[0]))
    assert sim.frame_accuracy(pred, batch.labels[0]) > 0.97


def test_hmm_ceiling_beats_per_frame_decisions_on_long_runs(pool):
    cfg = sim.SimConfig(dim=16, frames=600, mean_run=100.0)
    batch = sim.sample_batch(cfg, pool, 4, 1.2, np.random.default_rng(7))
    hmm, frame = [], []
    for f, p, t in zip(batch.features, batch.prototypes, batch.labels):
        hmm.append(sim.frame_accuracy(sim.hmm_decode(f, p, 1.2, 100.0), t))
        frame.append(sim.frame_accuracy(sim.hmm_decode(f, p, 1.2, 0.0), t))
    assert np.mean(hmm) > np.mean(frame) + 0.1
    assert np.mean(hmm) > 0.9


def _tiny_study() -> sim.StudyConfig:
    return sim.StudyConfig(
        sigmas=(0.2, 1.0),
        regimes=(30.0, 0.0),
        sequences=2,
        seeds=(0,),
        test_pool=10,
        sim=sim.SimConfig(dim=16, frames=240),
        train=sim.SimTrainConfig(steps=3, batch=2, train_pool=12, train_frames=120),
    )


def test_training_yields_progress_then_a_model():
    study = _tiny_study()
    items = list(sim.train_sim_weighter(study.sim, study.train))
    progress, model = items[:-1], items[-1]
    assert [p.step for p in progress] == [1, 2, 3]
    assert all(np.isfinite(p.loss) for p in progress)
    assert not model.training
    assert model.config.num_classes == 12


def test_calibration_picks_the_best_offset_and_restores_the_model():
    study = replace(_tiny_study(), calibration_offsets=(0.0, 0.1, 0.2))
    model = list(sim.train_sim_weighter(study.sim, study.train))[-1]
    before = model.attractor_threshold.bias.detach().clone()
    offset, scores = sim.calibrate_sim_weighter(model, study, seed=0)
    assert set(scores) == {0.0, 0.1, 0.2}
    assert scores[offset] == max(scores.values())
    assert all(0.0 <= a <= 1.0 for a in scores.values())
    assert torch.equal(model.attractor_threshold.bias, before)
    # The offset reaches the read-out: a very high threshold claims nothing.
    batch = sim.sample_batch(study.sim, sim.make_prototypes(10, 16, np.random.default_rng(5)), 2, 0.2,
                             np.random.default_rng(6))
    _, conf = sim.weighter_predict(model, batch.features)
    _, silenced = sim.weighter_predict(model, batch.features, offset=5.0)
    assert silenced.max() < 0.05 < conf.max()
    # Without offsets (or without a claim threshold) nothing is calibrated.
    assert sim.calibrate_sim_weighter(model, replace(study, calibration_offsets=()), 0) == (0.0, {})


def test_tiny_study_runs_end_to_end(tmp_path):
    calls = []
    result = sim.run_study(_tiny_study(), hook=lambda *a: calls.append(a[0]))
    assert "train" in calls and "eval" in calls
    for method in sim.METHODS:
        for regime in ("run_30", "pure_random"):
            assert len(result.accuracy[method][regime]["0.2"]) == 1
    assert len(result.claim_offsets) == 1
    data = result.to_json()
    json.dumps(data)  # serialisable
    assert set(data["summary"]) == {"run_30", "pure_random"}
    table = sim.markdown_table(result, "weighter simulate --tiny")
    assert "| mean run" in table and "weighter simulate --tiny" in table
    sim.plot_study(result, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 10_000


def test_simulate_command_writes_json_table_and_plot(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sim, "quick_study", _tiny_study)
    code = cli.main(["simulate", "--quick", "--out", str(tmp_path), "--name", "t"])
    assert code == 0
    assert {p.name for p in tmp_path.iterdir()} == {"t.json", "t.md", "t.png"}
    assert "Noise tolerance" in capsys.readouterr().out
    assert "weighter simulate --quick" in (tmp_path / "t.md").read_text()


def test_simulate_overrides_reach_the_study(monkeypatch, tmp_path):
    seen = {}

    def fake_run(study, hook=None):
        seen["study"] = study
        raise KeyboardInterrupt  # stop before the work; main reports 130

    monkeypatch.setattr(sim, "quick_study", _tiny_study)
    monkeypatch.setattr(sim, "run_study", fake_run)
    code = cli.main(
        ["simulate", "--quick", "--out", str(tmp_path), "--steps", "7", "--coverage", "0",
         "--bce", "--seeds", "2", "--sequences", "3", "--speakers", "2", "3"]
    )
    assert code == 130
    study = seen["study"]
    assert study.train == replace(_tiny_study().train, steps=7, coverage=0.0, use_wbce=False)
    assert study.seeds == (0, 1) and study.sequences == 3
    assert (study.sim.min_speakers, study.sim.max_speakers) == (2, 3)


def test_simulate_rejects_an_empty_speaker_range(capsys, tmp_path):
    assert cli.main(["simulate", "--quick", "--out", str(tmp_path), "--speakers", "3", "2"]) == 2
    assert "--speakers 3 2" in capsys.readouterr().err


def test_simulate_into_an_unwritable_place_says_so(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert cli.main(["simulate", "--quick", "--out", str(blocker / "results")]) == 2
    assert "error:" in capsys.readouterr().err
