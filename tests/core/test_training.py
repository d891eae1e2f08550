"""weighter train: determinism, resume, fine-tuning, regimes, bad input, DDP (gloo)."""

import math
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from weighter_gui.core.io.manifest import read_manifest, write_manifest
from weighter_gui.core.model.checkpoint import load_checkpoint, read_header, taught_names
from weighter_gui.core.model.frontend import speech_frontend_id
from weighter_gui.core.model.taught_voices import TaughtVoices
from weighter_gui.core.model.voice_encoder import VOICE_DIM, VoiceEncoder
from weighter_gui.core.training.train import (
    OVERLAP_DETECTORS,
    TrainConfig,
    TrainError,
    TrainProgress,
    TrainResult,
    train,
)

CONFIG = TrainConfig(steps=4, batch_size=2, crop_seconds=(5, 10), checkpoint_every=2, seed=5)


# The tiny model of tests/core/conftest.py (TINY_MODEL), repeated: test modules cannot import conftest.
TINY = {"embed_dim": 32, "num_layers": 1, "num_heads": 2, "ff_dim": 64, "pos_conv_groups": 4}


def _run(items, cache, config=CONFIG, **kw):
    events = list(train(items, config, cache_dir=cache, model_overrides=TINY, **kw))
    assert all(isinstance(e, TrainProgress) for e in events[:-1])
    assert isinstance(events[-1], TrainResult)
    return events


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)


def test_trains_and_writes_a_loadable_checkpoint(tiny_corpus, feature_cache, tmp_path):
    items = read_manifest(tiny_corpus)
    out = tmp_path / "m.safetensors"
    events = _run(items, feature_cache, out=out)
    progress = events[:-1]
    assert [p.step for p in progress] == [1, 2, 3, 4]
    assert [p.checkpoint for p in progress] == [None, out, None, out]
    assert all(p.loss == p.loss and p.loss > 0 for p in progress)  # finite, positive
    header = read_header(out)
    assert header.frontend == speech_frontend_id()
    assert header.speakers == tuple(sorted({s for i in items for s in i.likes}))
    assert header.training["steps"] == 4 and header.training["files"] == 3
    model, _ = load_checkpoint(out)
    # The input statistics were set from the data, not left at 0 / 1.
    assert model.feature_std[:64].mean() > 0.5 and model.feature_std[64:].mean() < 0.5
    _assert_same(_state(model), _state(events[-1].model.cpu()))


def test_same_seed_same_weights_and_resume_equals_uninterrupted(tiny_corpus, feature_cache, tmp_path):
    items = read_manifest(tiny_corpus)
    straight = _state(_run(items, feature_cache, out=tmp_path / "a.safetensors")[-1].model)
    again = _state(_run(items, feature_cache)[-1].model)
    _assert_same(straight, again)

    out = tmp_path / "b.safetensors"
    # Stop after the checkpoint at step 2 (the app cancels by closing the generator).
    gen = train(items, CONFIG, cache_dir=feature_cache, model_overrides=TINY, out=out)
    for event in gen:
        if event.step == 2:
            gen.close()
            break
    assert read_header(out).training["steps"] == 2
    resumed = _run(items, feature_cache, out=out, resume=True)
    assert [e.step for e in resumed[:-1]] == [3, 4]
    _assert_same(straight, _state(resumed[-1].model))

    with pytest.raises(TrainError, match="already has 4 steps"):
        _run(items, feature_cache, out=out, resume=True)
    with pytest.raises(TrainError, match="other training settings"):
        _run(items, feature_cache, replace(CONFIG, steps=6, lr=0.5), out=out, resume=True)
    with pytest.raises(TrainError, match="nothing to resume"):
        _run(items, feature_cache, out=tmp_path / "none.safetensors", resume=True)


def test_fine_tuning_adds_new_speakers_and_keeps_old_rows(tiny_corpus, feature_cache, tmp_path):
    items = read_manifest(tiny_corpus)
    base = tmp_path / "base.safetensors"
    _run(items[:1], feature_cache, out=base)
    old = read_header(base).speakers
    old_rows = load_checkpoint(base)[0].classifier.weight.detach().clone()
    renamed = [replace(i, likes=tuple(f"new_{s}" for s in i.likes),
                       segments=tuple((a, b, f"new_{s}") for a, b, s in i.segments)) for i in items[1:]]
    result = _run(renamed, feature_cache, replace(CONFIG, steps=1, lr=1e-9), init=base,
                  out=tmp_path / "tuned.safetensors")[-1]
    assert result.speakers[: len(old)] == old and len(result.speakers) > len(old)
    assert all(s.startswith("new_") for s in result.speakers[len(old):])
    assert read_header(base).training["taught"] == []  # a corpus's voices are not taught names
    tuned = read_header(tmp_path / "tuned.safetensors").training
    assert tuned["taught"] == list(result.speakers[len(old):])
    # each taught name is enrolled by the shipped voice encoder, from its lone speech
    digest = VoiceEncoder.from_file().digest
    assert tuned["voices"]["encoder"] == digest
    assert sorted(tuned["voices"]["centres"]) == sorted(result.speakers[len(old):])
    assert TaughtVoices.from_header(tuned["voices"], digest, VOICE_DIM) is not None
    assert "voices" not in read_header(base).training
    torch.testing.assert_close(result.model.classifier.weight[: len(old)].detach(), old_rows, atol=1e-4, rtol=0)


def test_a_likes_only_file_enrols_its_names_where_their_slots_were_heard(tiny_corpus, feature_cache, tmp_path):
    """A file with a like added by hand trains on likes alone (no segments), but the
    exported ``named_segments`` still say where each named slot spoke: enough to enrol."""
    items = read_manifest(tiny_corpus)
    base = tmp_path / "base.safetensors"
    _run(items[:1], feature_cache, out=base)

    def likes_only(keep_where: bool):
        return [replace(i, likes=tuple(f"new_{s}" for s in i.likes), segments=None,
                        extra={"named_segments": [[a, b, f"new_{s}"] for a, b, s in i.segments]} if keep_where else {})
                for i in items[1:]]

    _run(likes_only(True), feature_cache, replace(CONFIG, steps=1), init=base, out=tmp_path / "where.safetensors")
    voices = read_header(tmp_path / "where.safetensors").training["voices"]
    assert sorted(voices["centres"]) == sorted({f"new_{s}" for i in items[1:] for s in i.likes})
    _run(likes_only(False), feature_cache, replace(CONFIG, steps=1), init=base, out=tmp_path / "nowhere.safetensors")
    assert "voices" not in read_header(tmp_path / "nowhere.safetensors").training  # nothing to enrol from
    # hand-edited entries that are no (start, end, name) with 0 <= start < end enrol nothing and stop nothing
    odd = likes_only(True)
    name = odd[0].likes[0]
    odd[0].extra["named_segments"] = [[float("nan"), 1.0, name], [0.0, float("inf"), name], [3.0, 2.0, name]]
    odd[1].extra["named_segments"] = 7
    _run(odd, feature_cache, replace(CONFIG, steps=1), init=base, out=tmp_path / "odd.safetensors")
    assert "voices" not in read_header(tmp_path / "odd.safetensors").training


def test_without_the_voice_encoder_a_fine_tune_that_teaches_names_stops_before_its_first_step(
        tiny_corpus, feature_cache, tmp_path, monkeypatch):
    from weighter_gui.core.io import resources

    items = read_manifest(tiny_corpus)
    base = tmp_path / "base.safetensors"
    _run(items[:1], feature_cache, out=base)
    copy = tmp_path / "resources"
    shutil.copytree(resources.resources_dir(), copy, ignore=shutil.ignore_patterns("voice-encoder.safetensors"))
    monkeypatch.setenv(resources.RESOURCES_ENV, str(copy))
    renamed = [replace(i, likes=tuple(f"new_{s}" for s in i.likes),
                       segments=tuple((a, b, f"new_{s}") for a, b, s in i.segments)) for i in items[1:]]
    with pytest.raises(TrainError, match="voice-encoder.safetensors: voice encoder weights not found"):
        _run(renamed, feature_cache, replace(CONFIG, steps=1), init=base, out=tmp_path / "tuned.safetensors")
    assert not (tmp_path / "tuned.safetensors").exists()


def test_head_only_fine_tuning_learns_names_and_leaves_the_curves_alone(tiny_corpus, feature_cache, tmp_path,
                                                                       capsys):
    """The app's Retrain (and ``weighter train --head-only``): the head learns, every
    other weight stays bit for bit, so the curves and the calibrated threshold too."""
    from weighter_gui.cli import main

    items = read_manifest(tiny_corpus)
    base = tmp_path / "base.safetensors"
    _run(items[:1], feature_cache, out=base)
    before = _state(load_checkpoint(base)[0])
    renamed = [replace(i, likes=tuple(f"new_{s}" for s in i.likes),
                       segments=tuple((a, b, f"new_{s}") for a, b, s in i.segments)) for i in items[1:]]
    head_only = replace(CONFIG, steps=3, lr=1e-3, trainable="head")
    learned = _run(renamed, feature_cache, head_only, init=base)[-1].model
    still = _run(renamed, feature_cache, replace(head_only, lr=1e-12), init=base)[-1].model
    after = _state(learned)
    _assert_same({k: v for k, v in after.items() if not k.startswith("classifier.")},
                 {k: v for k, v in before.items() if not k.startswith("classifier.")})
    assert not torch.allclose(learned.classifier.weight, still.classifier.weight)

    out = tmp_path / "cli.safetensors"
    assert main(["train", *[str(tiny_corpus)], "--init", str(base), "--head-only", "--out", str(out),
                 "--steps", "1", "--batch-size", "2", "--cache", str(feature_cache)]) == 0
    assert read_header(out).training["config"]["trainable"] == "head"
    assert read_header(out).training["config"]["warmup_steps"] == 1  # a fine-tune's short warm-up
    tuned = _state(load_checkpoint(out)[0])
    _assert_same({k: v for k, v in tuned.items() if not k.startswith("classifier.")},
                 {k: v for k, v in before.items() if not k.startswith("classifier.")})


def test_fine_tuning_can_add_the_overlap_detector(tiny_corpus, feature_cache, tmp_path):
    """--overlap-detector with --init: the model keeps its weights and gains a detector
    that the timings train (its gate starts at zero weights)."""
    items = read_manifest(tiny_corpus)
    base = tmp_path / "base.safetensors"
    _run(items, feature_cache, out=base)
    before = _state(load_checkpoint(base)[0])
    out = tmp_path / "overlap.safetensors"
    events = list(train(items, replace(CONFIG, steps=2), cache_dir=feature_cache, init=base, out=out,
                        model_overrides=OVERLAP_DETECTORS["small"]))
    model = events[-1].model
    saved = read_header(out).model_config
    assert model.config.attractor_overlap and saved.attractor_overlap
    assert (saved.overlap_channels, saved.overlap_layers, saved.overlap_context) == (32, 2, 0)
    assert model.overlap_gate.weight.abs().sum() > 0
    assert set(model.state_dict()) - set(before) == {
        "overlap_frames.0.weight", "overlap_frames.0.bias", "overlap_frames.2.weight",
        "overlap_frames.2.bias", "overlap_gate.weight", "overlap_gate.bias",
    }
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 300, model.config.input_dim)).overlap.shape == (1, 300)


def test_a_detector_of_another_design_is_replaced(tiny_corpus, feature_cache, tmp_path):
    """``weighter train --init M --overlap-detector wide --overlap-only`` on a model with
    the small detector: that detector is replaced by a new wide one, which alone learns;
    every other weight is kept."""
    from weighter_gui.cli import main

    items = read_manifest(tiny_corpus)
    base = tmp_path / "base.safetensors"
    list(train(items, CONFIG, cache_dir=feature_cache, out=base,
               model_overrides={**TINY, **OVERLAP_DETECTORS["small"]}))
    before = _state(load_checkpoint(base)[0])
    out = tmp_path / "wide.safetensors"
    assert main(["train", str(tiny_corpus), "--init", str(base), "--overlap-detector", "wide", "--overlap-only",
                 "--out", str(out), "--steps", "1", "--batch-size", "2", "--cache", str(feature_cache)]) == 0
    model = load_checkpoint(out)[0]
    assert (model.config.overlap_channels, model.config.overlap_layers, model.config.overlap_context) == (64, 3, 1)
    after = _state(model)
    assert {"overlap_frames.4.weight", "overlap_blocks.0.weight"} <= set(after) - set(before)
    _assert_same({k: v for k, v in after.items() if not k.startswith("overlap_")},
                 {k: v for k, v in before.items() if not k.startswith("overlap_")})


def test_overlap_only_trains_the_detector_and_nothing_else(tiny_corpus, feature_cache, tmp_path):
    """``weighter train --init M --overlap-only``: the detector learns from the
    timings, every other weight (the head too) stays bit for bit."""
    from weighter_gui.cli import main

    items = read_manifest(tiny_corpus)
    base = tmp_path / "base.safetensors"
    list(train(items, CONFIG, cache_dir=feature_cache, out=base, model_overrides={**TINY, "attractor_overlap": True}))
    before = _state(load_checkpoint(base)[0])
    out = tmp_path / "detector.safetensors"
    assert main(["train", str(tiny_corpus), "--init", str(base), "--overlap-only", "--out", str(out),
                 "--steps", "2", "--batch-size", "2", "--lr", "1e-2", "--cache", str(feature_cache)]) == 0
    model, header = load_checkpoint(out)
    assert header.training["config"]["trainable"] == "overlap"
    after = _state(model)
    _assert_same({k: v for k, v in after.items() if not k.startswith("overlap_")},
                 {k: v for k, v in before.items() if not k.startswith("overlap_")})
    assert not torch.equal(after["overlap_gate.bias"], before["overlap_gate.bias"])


def test_overlap_only_on_new_voices_teaches_no_names(tiny_corpus, feature_cache, tmp_path):
    """New voices in an overlap-only fine-tune get head rows while it trains (the set
    matching needs them), but the checkpoint keeps the init's speakers and head."""
    items = read_manifest(tiny_corpus)
    base = tmp_path / "base.safetensors"
    list(train(items, CONFIG, cache_dir=feature_cache, out=base, model_overrides={**TINY, "attractor_overlap": True}))
    base_model, base_header = load_checkpoint(base)
    old = items[0].likes[0]
    renamed = replace(items[0], likes=tuple("newcomer" if s == old else s for s in items[0].likes),
                      segments=tuple((a, b, "newcomer" if s == old else s) for a, b, s in items[0].segments))
    out = tmp_path / "detector.safetensors"
    events = list(train([renamed] + items[1:], replace(CONFIG, trainable="overlap"), cache_dir=feature_cache,
                        out=out, init=base))
    assert isinstance(events[-1], TrainResult)
    model, header = load_checkpoint(out)
    assert header.speakers == base_header.speakers and "newcomer" not in taught_names(header.training)
    assert torch.equal(model.classifier.weight, base_model.classifier.weight)
    # saving more often changes nothing that is learned
    often = tmp_path / "often.safetensors"
    list(train([renamed] + items[1:], replace(CONFIG, trainable="overlap", checkpoint_every=1),
               cache_dir=feature_cache, out=often, init=base))
    _assert_same(_state(load_checkpoint(often)[0]), _state(model))


def test_training_only_a_part_the_model_lacks_is_refused(tiny_corpus, feature_cache, tmp_path):
    with pytest.raises(ValueError, match="trainable"):
        TrainConfig(trainable="everything")
    items = read_manifest(tiny_corpus)
    base = tmp_path / "base.safetensors"
    _run(items, feature_cache, out=base)
    with pytest.raises(TrainError, match="no parameters to train"):
        list(train(items, replace(CONFIG, trainable="overlap"), cache_dir=feature_cache, init=base))


def test_entries_without_timings_train_on_their_likes(tiny_corpus, feature_cache):
    items = read_manifest(tiny_corpus)
    # A like added by hand has no timings: that entry trains on likes, the others keep theirs.
    mixed = [replace(items[0], segments=None)] + items[1:]
    events = _run(mixed, feature_cache, replace(CONFIG, steps=2))
    assert events[-1].steps == 2 and all(math.isfinite(e.loss) for e in events[:-1])
    # The "likes" regime ignores timings: same weights as with the segments removed.
    untimed = [replace(i, segments=None) for i in items]
    a = _run(untimed, feature_cache, replace(CONFIG, regime="likes", steps=2))[-1].model
    b = _run(items, feature_cache, replace(CONFIG, regime="likes", steps=2))[-1].model
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        torch.testing.assert_close(x, y, msg=name)


def test_changed_or_missing_audio_is_a_clear_error(tiny_corpus, feature_cache, tmp_path):
    items = read_manifest(tiny_corpus)
    with pytest.raises(TrainError, match="the file changed since its labels were made"):
        _run([replace(items[0], sha256="0" * 64)], feature_cache)
    with pytest.raises(TrainError, match="not found"):
        _run([replace(items[0], audio=tmp_path / "gone.flac")], feature_cache)


def test_cli_train_and_bad_manifest(tiny_corpus, feature_cache, tmp_path, capsys):
    from weighter_gui.cli import main

    out = tmp_path / "cli.safetensors"
    assert main(["train", str(tiny_corpus), "--out", str(out), "--steps", "2", "--batch-size", "2",
                 "--cache", str(feature_cache)]) == 0
    assert read_header(out).training["steps"] == 2
    assert read_header(out).model_config.readout == "attractors"  # the product's default
    linear = tmp_path / "linear.safetensors"
    assert main(["train", str(tiny_corpus), "--out", str(linear), "--steps", "1", "--batch-size", "2",
                 "--cache", str(feature_cache), "--readout", "linear"]) == 0
    assert read_header(linear).model_config.readout == "linear"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"audio": "x.wav"}\n')
    assert main(["train", str(bad), "--out", str(out)]) == 2
    assert "line 1" in capsys.readouterr().err


def test_two_process_ddp_with_torchrun(tiny_corpus, feature_cache, tmp_path):
    """The documented multi-process command, on CPU with gloo: both ranks train, rank 0 saves."""
    torchrun = Path(sys.executable).with_name("torchrun")
    out = tmp_path / "ddp.safetensors"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "weighter_gui.cli", "train",
         str(tiny_corpus), "--out", str(out), "--steps", "2", "--batch-size", "1",
         "--cache", str(feature_cache), "--device", "cpu"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    header = read_header(out)
    assert header.training["world_size"] == 2 and header.training["steps"] == 2


def test_cli_train_takes_several_manifests_but_not_repeated_ids(tiny_corpus, feature_cache, tmp_path, capsys):
    from weighter_gui.cli import main

    out = tmp_path / "two.safetensors"
    assert main(["train", str(tiny_corpus), str(tiny_corpus), "--out", str(out), "--steps", "1",
                 "--cache", str(feature_cache)]) == 2
    assert "appears in more than one manifest entry" in capsys.readouterr().err
    items = read_manifest(tiny_corpus)
    other = write_manifest(tmp_path / "other.jsonl", [replace(i, id=f"x_{i.id}") for i in items])
    assert main(["train", str(tiny_corpus), str(other), "--out", str(out), "--steps", "1", "--batch-size", "2",
                 "--cache", str(feature_cache)]) == 0
    assert read_header(out).training["files"] == 6


def test_long_files_trained_whole_are_cropped():
    """No timings (or the likes regime): a file longer than max_whole_seconds is cropped, so
    an hour-long recording cannot blow up a batch; shorter files stay whole with all likes."""
    import numpy as np

    from weighter_gui.core.training.train import _batch, _Example

    rng = np.random.default_rng(0)
    long_untimed = _Example(np.zeros((3000, 8), np.float16), (0, 1), None)  # 30 s at 10 ms
    short_untimed = _Example(np.zeros((400, 8), np.float16), (2,), None)
    activity = np.zeros((2, 3000), bool)
    activity[0, :1000] = activity[1, 2500:] = True  # speaker 0 early, speaker 1 at the end
    long_timed = _Example(np.zeros((3000, 8), np.float16), (3, 4), activity)
    config = replace(CONFIG, regime="likes", batch_size=16, max_whole_seconds=5.0)
    for _ in range(5):
        for examples in ([long_untimed], [short_untimed], [long_timed]):
            feats, lengths, likes, acts = _batch(examples, config, rng, stride=15)
            if examples[0] is not long_timed:
                assert all(a is None for a in acts)
            if examples[0] is short_untimed:
                assert lengths.tolist() == [400] * 16 and likes == [[2]] * 16
            else:
                assert lengths.max() <= 500 and feats.shape[1] <= 500
            if examples[0] is long_untimed:
                assert likes == [[0, 1]] * 16
    # A crop of a timed file holds only the likes that speak in it (never both here).
    _, _, likes, _ = _batch([long_timed], replace(config, batch_size=64), rng, stride=15)
    assert all(set(k) <= {3, 4} and len(k) <= 1 for k in likes) and {3} in map(set, likes)


def test_reviewed_timings_are_frame_targets_only_where_reviewed(tiny_corpus, feature_cache):
    """timings="reviewed": crops of a timed file lie inside its reviewed ranges; a file
    without any trains on its likes, as if it had no timings."""
    import numpy as np

    from weighter_gui.core.training.train import _batch, _Example

    rng = np.random.default_rng(0)
    activity = np.zeros((2, 3000), bool)
    activity[0, :1500] = activity[1, 1500:] = True
    feats = np.arange(3000, dtype=np.float16)[:, None].repeat(8, 1)  # a frame's value is its index
    reviewed = _Example(feats, (3, 4), activity, spans=((2000, 2600),))
    config = replace(CONFIG, crop_seconds=(3.0, 4.0), batch_size=32)
    batch, lengths, likes, acts = _batch([reviewed], config, rng, stride=15)
    for b, n in enumerate(lengths.tolist()):
        first, last = float(batch[b, 0, 0]), float(batch[b, n - 1, 0])
        assert 2000 <= first and last < 2600 + 1  # (float16 holds these indices to within 2)
        assert likes[b] == [4] and acts[b] is not None
    # Through train(): the same items, no reviewed ranges -> likes only, the same as untimed items.
    items = read_manifest(tiny_corpus)
    untimed = [replace(i, segments=None) for i in items]
    a = _run(untimed, feature_cache, replace(CONFIG, steps=2))[-1].model
    b = _run(items, feature_cache, replace(CONFIG, timings="reviewed", steps=2))[-1].model
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        torch.testing.assert_close(x, y, msg=name)
    # With a reviewed range the timings count: other weights than likes alone.
    marked = [replace(i, extra={**i.extra, "reviewed": [[0.0, 2.0]]}) for i in items]
    c = _run(marked, feature_cache, replace(CONFIG, timings="reviewed", steps=2))[-1].model
    assert any(not torch.equal(x, y) for x, y in zip(a.state_dict().values(), c.state_dict().values()))
