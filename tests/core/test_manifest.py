"""Label manifests: round trip, and one clear error per malformed line."""

import json

import pytest

from weighter_gui.core.io.manifest import ManifestError, ManifestItem, read_manifest, write_manifest


def _write(tmp_path, lines):
    path = tmp_path / "m.jsonl"
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


GOOD = {"id": "c1", "audio": "audio/c1.flac", "likes": ["ann", "ben"],
        "segments": [[0.0, 1.5, "ann"], [1.2, 3.0, "ben"]], "duration": 3.0,
        "sample_rate": 16000, "sha256": "a" * 64, "split": "train"}


def test_round_trip_keeps_everything(tmp_path):
    items = read_manifest(_write(tmp_path, [GOOD, {"audio": "/abs/x.wav", "likes": []}]))
    assert items[0].audio == tmp_path / "audio" / "c1.flac"
    assert items[0].segments == ((0.0, 1.5, "ann"), (1.2, 3.0, "ben"))
    assert items[0].extra == {"split": "train"}
    assert items[1].id == "x" and items[1].segments is None
    out = write_manifest(tmp_path / "copy" / "m.jsonl", items)
    again = read_manifest(out)
    assert [i.audio.resolve() for i in again] == [i.audio.resolve() for i in items]
    assert again[0] == items[0].__class__(**{**items[0].__dict__, "audio": again[0].audio})
    # Paths below the manifest's folder stay relative, so the folder can move.
    written = write_manifest(tmp_path / "m2.jsonl", items)
    assert json.loads(written.read_text().splitlines()[0])["audio"] == "audio/c1.flac"


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", "line 2: not valid JSON"),
        ("[1, 2]", "line 2: each line must be a JSON object"),
        ({"likes": ["a"]}, 'line 2: missing "audio"'),
        ({"audio": "a.wav", "likes": "ann"}, '"likes" must be a list'),
        ({"audio": "a.wav", "likes": ["a", "a"]}, "names a speaker twice"),
        ({"audio": "a.wav", "likes": ["a"], "segments": [[2, 1, "a"]]}, "need 0 <= start < end"),
        ({"audio": "a.wav", "likes": ["a"], "segments": [[0, 1, "zoe"]]}, "'zoe', who is not among the likes"),
        ({"audio": "a.wav", "likes": ["a"], "segments": [[0, 1]]}, "segment 0 is not"),
        ({"audio": "a.wav", "likes": [], "duration": -1}, '"duration" must be a positive'),
        ({"audio": "a.wav", "likes": [], "sha256": "xyz"}, '"sha256" must be 64 hex'),
        ({"id": "c1", "audio": "b.wav", "likes": []}, "id 'c1' repeats line 1"),
    ],
)
def test_malformed_line_names_file_line_and_problem(tmp_path, line, message):
    path = _write(tmp_path, [GOOD, line])
    with pytest.raises(ManifestError) as e:
        read_manifest(path)
    assert str(path) in str(e.value) and message in str(e.value)


def test_missing_empty_and_binary_files(tmp_path):
    with pytest.raises(ManifestError, match="manifest not found"):
        read_manifest(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(ManifestError, match="no entries"):
        read_manifest(tmp_path / "empty.jsonl")
    (tmp_path / "bin.jsonl").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ManifestError, match="not a text file"):
        read_manifest(tmp_path / "bin.jsonl")


def test_failed_write_leaves_old_manifest(tmp_path, monkeypatch):
    path = write_manifest(tmp_path / "m.jsonl", [ManifestItem("a", tmp_path / "a.wav", ("x",))])
    before = path.read_text()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError):
        write_manifest(path, [ManifestItem("b", tmp_path / "b.wav", ("y",))])
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.jsonl"]
