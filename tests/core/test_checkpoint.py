"""Checkpoints: round trip, atomic save, and one clear CheckpointError per bad file."""

import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import weighter_gui
from weighter_gui.cli import main
from weighter_gui.core.model.checkpoint import (
    FORMAT_VERSION,
    METADATA_KEY,
    CheckpointError,
    CheckpointHeader,
    format_header,
    load_checkpoint,
    read_header,
    save_checkpoint,
)
from weighter_gui.core.model.weighter import Weighter, WeighterConfig

CONFIG = WeighterConfig(
    input_dim=24,
    embed_dim=32,
    num_layers=1,
    num_heads=2,
    ff_dim=32,
    pos_conv_groups=4,
    num_slots=3,
    num_classes=2,
)
SPEAKERS = ("alice", "bob")
TRAINING = {"steps": 120, "loss": 0.25, "data": "sim-64 random walk, seed 0"}


@pytest.fixture
def model() -> Weighter:
    torch.manual_seed(0)
    return Weighter(CONFIG).eval()


@pytest.fixture
def saved(tmp_path, model) -> Path:
    path = tmp_path / "model.safetensors"
    save_checkpoint(path, model, frontend="sim-64", speakers=SPEAKERS, training=TRAINING)
    return path


def _rewrite_header(src: Path, dst: Path, edit) -> Path:
    """Copy a checkpoint's tensors to ``dst`` with ``edit(header_dict)`` applied."""
    with safe_open(src, framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        header = json.loads(f.metadata()[METADATA_KEY])
    edit(header)
    save_file(tensors, dst, metadata={METADATA_KEY: json.dumps(header)})
    return dst


def _load_error(path, **kwargs) -> str:
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, **kwargs)
    message = str(info.value)
    assert Path(path).name in message
    return message


# --- round trip -------------------------------------------------------------------


def test_round_trip_same_outputs_and_header(saved, model):
    features = torch.randn(2, 40, CONFIG.input_dim)
    lengths = torch.tensor([40, 31])
    with torch.no_grad():
        before = model(features, lengths)

    loaded, header = load_checkpoint(saved)

    assert isinstance(loaded, Weighter) and not loaded.training
    assert loaded.config == CONFIG
    with torch.no_grad():
        after = loaded(features, lengths)
    for a, b in zip(before, after):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(loaded.classify(after.embeddings), model.classify(before.embeddings))

    assert header.format_version == FORMAT_VERSION
    assert header.model_config == CONFIG
    assert header.frontend == "sim-64"
    assert header.speakers == SPEAKERS
    assert header.training == TRAINING
    assert header.code_version == weighter_gui.__version__
    assert header.created.endswith("Z")
    stored = list(model.parameters()) + list(model.buffers())  # buffers: input statistics
    assert header.num_parameters == sum(p.numel() for p in stored)


def test_save_returns_the_header_read_back(tmp_path, model):
    path = tmp_path / "nested" / "dir" / "m.safetensors"  # parents are created
    written = save_checkpoint(path, model, frontend="sim-64", speakers=SPEAKERS)
    read = read_header(path)
    assert isinstance(read, CheckpointHeader)
    assert read == written
    assert read.tensor_shapes == written.tensor_shapes
    assert read.training == {}


def test_header_json_layout(saved):
    with safe_open(saved, framework="pt") as f:
        metadata = f.metadata()
    assert set(metadata) == {METADATA_KEY}
    header = json.loads(metadata[METADATA_KEY])
    assert header["format"] == "weighter-checkpoint"
    assert header["format_version"] == FORMAT_VERSION
    assert header["model_config"] == CONFIG.to_dict()
    assert header["speakers"] == list(SPEAKERS)
    assert set(header) == {
        "format", "format_version", "model_config", "frontend",
        "speakers", "code_version", "created", "training",
    }  # fmt: skip


def test_model_without_head_round_trips(tmp_path):
    config = WeighterConfig(
        input_dim=24, embed_dim=32, num_layers=1, num_heads=2, ff_dim=32, pos_conv_groups=4,
        num_slots=3, num_classes=0,
    )  # fmt: skip
    path = tmp_path / "nohead.safetensors"
    save_checkpoint(path, Weighter(config), frontend="logmel-ge2e-v1")
    loaded, header = load_checkpoint(path, expected_frontend="logmel-ge2e-v1")
    assert loaded.classifier is None and header.speakers == ()


def test_load_to_device_argument(saved):
    loaded, _ = load_checkpoint(saved, device=torch.device("cpu"))
    assert all(p.device.type == "cpu" for p in loaded.parameters())


def test_save_rejects_bad_arguments(tmp_path, model):
    path = tmp_path / "m.safetensors"
    with pytest.raises(ValueError, match="num_classes=2"):
        save_checkpoint(path, model, frontend="sim-64", speakers=["only-one"])
    with pytest.raises(ValueError, match="frontend"):
        save_checkpoint(path, model, frontend="", speakers=SPEAKERS)
    with pytest.raises(ValueError, match="JSON"):
        save_checkpoint(path, model, frontend="sim-64", speakers=SPEAKERS, training={"x": object()})
    assert list(tmp_path.iterdir()) == []


# --- atomic save ------------------------------------------------------------------


def test_atomic_save_leaves_no_temp_files_and_replaces(tmp_path, model):
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, model, frontend="sim-64", speakers=SPEAKERS, training={"steps": 1})
    save_checkpoint(path, model, frontend="sim-64", speakers=SPEAKERS, training={"steps": 2})
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]
    assert read_header(path).training == {"steps": 2}


def test_failed_save_keeps_old_file_and_no_temp(tmp_path, model, monkeypatch):
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, model, frontend="sim-64", speakers=SPEAKERS, training={"steps": 1})
    before = path.read_bytes()

    def broken_save_file(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr("weighter_gui.core.model.checkpoint.save_file", broken_save_file)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, frontend="sim-64", speakers=SPEAKERS, training={"steps": 2})
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]
    assert path.read_bytes() == before


# --- no pickle --------------------------------------------------------------------


def test_loading_never_unpickles(saved, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("checkpoint loading must not unpickle")

    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    model, header = load_checkpoint(saved)
    assert header.speakers == SPEAKERS
    assert read_header(saved) == header


# --- errors -----------------------------------------------------------------------


def test_missing_file(tmp_path):
    message = _load_error(tmp_path / "absent.safetensors")
    assert "no such file" in message


def test_directory(tmp_path):
    (tmp_path / "ckpt.safetensors").mkdir()
    assert "directory" in _load_error(tmp_path / "ckpt.safetensors")


def test_text_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("these are some notes, not a model\n" * 5)
    message = _load_error(path)
    assert "not a Weighter checkpoint" in message and "not a safetensors file" in message


def test_empty_file(tmp_path):
    path = tmp_path / "empty.safetensors"
    path.write_bytes(b"")
    message = _load_error(path)
    assert "empty" in message and "not a Weighter checkpoint" in message


def test_tiny_file(tmp_path):
    path = tmp_path / "tiny.safetensors"
    path.write_bytes(b"\x01\x02\x03")
    assert "not a Weighter checkpoint" in _load_error(path)


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.safetensors"
    path.write_bytes(torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(1))
                     .to(torch.uint8).numpy().tobytes())  # fmt: skip
    assert "not a Weighter checkpoint" in _load_error(path)


def test_truncated_file(tmp_path, saved):
    data = saved.read_bytes()
    path = tmp_path / "cut.safetensors"
    path.write_bytes(data[: len(data) // 2])
    message = _load_error(path)
    assert "truncated" in message
    with pytest.raises(CheckpointError, match="truncated"):
        read_header(path)


def test_truncated_inside_header(tmp_path, saved):
    path = tmp_path / "cut.safetensors"
    path.write_bytes(saved.read_bytes()[:100])
    assert "truncated" in _load_error(path)


def test_safetensors_without_our_header(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(3)}, path, metadata={"format": "pt"})
    message = _load_error(path)
    assert "not a Weighter checkpoint" in message and "no 'weighter' metadata" in message

    path2 = tmp_path / "nometa.safetensors"
    save_file({"w": torch.zeros(3)}, path2)
    assert "not a Weighter checkpoint" in _load_error(path2)


def test_malformed_header_json(tmp_path):
    path = tmp_path / "bad.safetensors"
    save_file({"w": torch.zeros(3)}, path, metadata={METADATA_KEY: "{not json"})
    assert "not valid JSON" in _load_error(path)


def test_wrong_format_name(tmp_path, saved):
    path = _rewrite_header(saved, tmp_path / "fmt.safetensors", lambda h: h.update(format="x"))
    assert "not a Weighter checkpoint" in _load_error(path)


def test_missing_header_field(tmp_path, saved):
    path = _rewrite_header(saved, tmp_path / "nofe.safetensors", lambda h: h.pop("frontend"))
    assert "missing frontend" in _load_error(path)


def test_newer_format_version(tmp_path, saved):
    def edit(h):
        h["format_version"] = 99
        h["something_new"] = {"x": 1}  # the version is checked before anything else

    path = _rewrite_header(saved, tmp_path / "future.safetensors", edit)
    message = _load_error(path)
    assert "format version 99" in message
    assert "newer Weighter Studio" in message and "upgrade" in message


def test_older_unsupported_format_version(tmp_path, saved):
    path = _rewrite_header(
        saved, tmp_path / "old.safetensors", lambda h: h.update(format_version=0)
    )
    message = _load_error(path)
    assert "format version 0" in message and "older" in message


def test_non_integer_format_version(tmp_path, saved):
    path = _rewrite_header(
        saved, tmp_path / "v.safetensors", lambda h: h.update(format_version="1")
    )
    assert "not an integer" in _load_error(path)


def test_unknown_config_key(tmp_path, saved):
    path = _rewrite_header(
        saved, tmp_path / "cfg.safetensors", lambda h: h["model_config"].update(rotary=True)
    )
    message = _load_error(path)
    assert "rotary" in message and "upgrade" in message


def test_speakers_do_not_match_num_classes(tmp_path, saved):
    path = _rewrite_header(
        saved, tmp_path / "spk.safetensors", lambda h: h.update(speakers=["alice"])
    )
    message = _load_error(path)
    assert "1 speaker(s)" in message and "num_classes=2" in message


def test_shape_mismatch(tmp_path, saved):
    path = _rewrite_header(
        saved, tmp_path / "slots.safetensors", lambda h: h["model_config"].update(num_slots=5)
    )
    message = _load_error(path)
    assert "do not match" in message
    assert "head.1.weight (3, 32) in the file vs (5, 32) in the model" in message
    assert "head.1.bias" in message


def test_missing_and_unexpected_tensors(tmp_path, saved):
    with safe_open(saved, framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        metadata = f.metadata()
    tensors["extra.weight"] = tensors.pop("classifier.weight")
    path = tmp_path / "renamed.safetensors"
    save_file(tensors, path, metadata=metadata)
    message = _load_error(path)
    assert "missing: classifier.weight" in message
    assert "unexpected: extra.weight" in message


def test_config_that_cannot_build_a_model(tmp_path, saved):
    path = _rewrite_header(
        saved, tmp_path / "heads.safetensors", lambda h: h["model_config"].update(num_heads=5)
    )
    assert "cannot build a Weighter" in _load_error(path)


def test_frontend_mismatch(saved):
    message = _load_error(saved, expected_frontend="logmel-ge2e-v1")
    assert "'sim-64'" in message and "'logmel-ge2e-v1'" in message
    load_checkpoint(saved, expected_frontend="sim-64")  # matching is fine


def test_read_header_errors_too(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(CheckpointError, match="notes.txt"):
        read_header(path)


# --- describing and the CLI -------------------------------------------------------


def test_format_header(saved):
    text = format_header(read_header(saved), saved)
    for expected in ("model.safetensors", f"version {FORMAT_VERSION}", "sim-64", "alice, bob", "num_slots:",
                     "steps:", "120", "parameters:", weighter_gui.__version__):  # fmt: skip
        assert expected in text
    assert "KiB" in text


def test_format_header_many_speakers():
    header = CheckpointHeader(
        model_config=WeighterConfig(num_classes=25),
        frontend="sim-64",
        speakers=tuple(f"spk{i:02d}" for i in range(25)),
    )
    text = format_header(header)
    assert "25: spk00" in text and "spk09" in text and "spk10" not in text
    assert "15 more" in text


def test_format_header_sums_up_taught_voices():
    voices = {"encoder": "0123abcd", "centres": {"ann": [0.1] * 192, "bob": [0.2] * 192}}
    header = CheckpointHeader(model_config=WeighterConfig(), frontend="sim-64",
                              training={"taught": ["ann", "bob"], "voices": voices})
    text = format_header(header)
    assert "2 enrolled by voice encoder 0123abcd: ann, bob" in text and "0.2" not in text
    broken = CheckpointHeader(model_config=WeighterConfig(), frontend="sim-64", training={"voices": [1, 2]})
    assert "voices:" in format_header(broken) and "(malformed)" in format_header(broken)


def test_cli_info(saved, capsys):
    assert main(["info", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "model.safetensors" in out and "sim-64" in out and "alice" in out
    assert "num_classes:" in out and "loss:" in out


def test_cli_info_bad_file(tmp_path, capsys):
    path = tmp_path / "notes.txt"
    path.write_text("not a model")
    assert main(["info", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ") and "notes.txt" in captured.err


def test_cli_version_and_no_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert weighter_gui.__version__ in capsys.readouterr().out
    assert main([]) == 2
