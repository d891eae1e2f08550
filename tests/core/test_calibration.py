"""weighter calibrate: the claim-threshold sweep, the saved model, refusals."""

import json
from dataclasses import replace

import pytest
import torch

from weighter_gui.cli import main
from weighter_gui.core.diarize.calibration import (
    CalibrationError,
    CalibrationResult,
    calibrate,
    save_calibrated,
)
from weighter_gui.core.diarize.diarizer import DiarizeConfig
from weighter_gui.core.model.checkpoint import load_checkpoint, read_header, save_checkpoint
from weighter_gui.core.model.weighter import Weighter

SHORT = DiarizeConfig(window_seconds=5.0)


def _run(*args, **kwargs) -> CalibrationResult:
    events = list(calibrate(*args, **kwargs))
    assert all(e.done == i + 1 for i, e in enumerate(events[:-1]))
    return events[-1]


def test_sweep_scores_every_offset_and_keeps_the_lowest_der(tiny_checkpoint, tiny_corpus, tmp_path):
    before = load_checkpoint(tiny_checkpoint)[0].attractor_threshold.bias.item()
    result = _run(tiny_checkpoint, [tiny_corpus], offsets=(0.0, 0.3, -0.2), config=SHORT)
    assert sorted(result.der) == [-0.2, 0.0, 0.3] and result.files == 3
    assert all(0 <= v for v in result.der.values()) and all(0 <= v <= 1 for v in result.count_accuracy.values())
    assert result.der[result.offset] == min(result.der.values())
    # A different offset changes what the model claims (the sweep is not a no-op) ...
    assert len({round(v, 6) for v in result.der.values()}) > 1 or len(set(result.count_accuracy.values())) > 1
    # ... and the model file itself is untouched.
    assert load_checkpoint(tiny_checkpoint)[0].attractor_threshold.bias.item() == before

    forced = replace(result, offset=0.3)
    out = save_calibrated(tiny_checkpoint, forced, tmp_path / "cal.safetensors", corpus="tiny")
    model, header = load_checkpoint(out)
    assert model.attractor_threshold.bias.item() == pytest.approx(before + 0.3, abs=1e-6)
    calib = header.training["calibration"]
    assert calib["claim_offset"] == 0.3 and calib["total_claim_offset"] == 0.3 and calib["corpus"] == "tiny"
    assert set(calib["der_by_offset"]) == {"-0.20", "+0.00", "+0.30"}
    # Calibrating again adds up in the record.
    again = save_calibrated(out, replace(result, offset=-0.1), tmp_path / "cal2.safetensors")
    assert read_header(again).training["calibration"]["total_claim_offset"] == pytest.approx(0.2)


def test_refuses_a_model_without_claim_threshold(tiny_checkpoint, tiny_corpus, tmp_path):
    model, header = load_checkpoint(tiny_checkpoint)
    linear = Weighter(replace(model.config, readout="linear"))
    path = tmp_path / "linear.safetensors"
    save_checkpoint(path, linear, frontend=header.frontend, speakers=header.speakers)
    with pytest.raises(CalibrationError, match="only the attractor read-out"):
        next(calibrate(path, [tiny_corpus]))


def test_refuses_a_corpus_without_references(tiny_checkpoint, tiny_corpus, tmp_path):
    lines = [json.loads(line) for line in tiny_corpus.read_text().splitlines()]
    for line in lines:
        line.pop("rttm")
        line["audio"] = str(tiny_corpus.parent / line["audio"])
    bare = tmp_path / "bare.jsonl"
    bare.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(CalibrationError, match="has no 'rttm' reference"):
        next(calibrate(tiny_checkpoint, [bare]))


def test_cli_calibrate_writes_the_model_and_reports_bad_input(tiny_checkpoint, tiny_corpus, tmp_path, capsys):
    torch.manual_seed(0)
    out = tmp_path / "cal.safetensors"
    code = main(["calibrate", str(tiny_corpus), "--checkpoint", str(tiny_checkpoint), "--out", str(out),
                 "--offsets", "0,0.2", "--report", str(tmp_path / "cal.md"), "--compete-rounds", "2",
                 "--runner-up", "single"])
    assert code == 0
    assert "<- chosen" in (tmp_path / "cal.md").read_text() and "Command: `weighter calibrate" in (tmp_path / "cal.md").read_text()
    printed = capsys.readouterr().out
    assert "<- chosen" in printed and "3 files" in printed
    assert "calibration" in read_header(out).training
    assert read_header(out).model_config.attractor_compete_rounds == 2
    assert read_header(out).model_config.overlap_runner_up == "single"
    assert read_header(out).training["calibration"]["runner_up"] == "single"
    assert main(["calibrate", str(tmp_path / "missing.jsonl"), "--checkpoint", str(tiny_checkpoint),
                 "--out", str(tmp_path / "x.safetensors")]) != 0
    assert "missing.jsonl" in capsys.readouterr().err
    assert not (tmp_path / "x.safetensors").exists()
