"""RTTM reading and DER with its parts (pyannote.metrics)."""

import pytest

from weighter_gui.core.diarize.evaluation import der
from weighter_gui.core.io.label_files import RTTMError, read_rttm, write_rttm


def _rttm(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text("".join(f"SPEAKER {u} 1 {s} {d} <NA> <NA> {spk} <NA> <NA>\n" for u, s, d, spk in rows))
    return path


def test_identical_is_zero_and_parts_add_up(tmp_path):
    ref = read_rttm(_rttm(tmp_path, "r.rttm", [("f", 0, 10, "A"), ("f", 10, 10, "B"), ("g", 0, 4, "A")]))
    assert der(ref, ref).der == 0
    # Hypothesis: first half of A missed, B's second half given to A (confusion), g absent.
    hyp = read_rttm(_rttm(tmp_path, "h.rttm", [("f", 5, 5, "x"), ("f", 10, 5, "y"), ("f", 15, 5, "x")]))
    report = der(ref, hyp, collar=0.0)
    f = report.files["f"]
    assert f["total"] == pytest.approx(20)
    assert f["missed detection"] == pytest.approx(5)
    assert f["confusion"] == pytest.approx(5)
    assert report.files["g"]["missed detection"] == pytest.approx(4)
    assert report.der == pytest.approx((5 + 5 + 4) / 24)
    assert "TOTAL" in report.table()


def test_overlap_is_scored(tmp_path):
    ref = read_rttm(_rttm(tmp_path, "r.rttm", [("f", 0, 10, "A"), ("f", 5, 5, "B")]))
    hyp = read_rttm(_rttm(tmp_path, "h.rttm", [("f", 0, 10, "A")]))
    report = der(ref, hyp, collar=0.0)
    assert report.files["f"]["total"] == pytest.approx(15)
    assert report.der == pytest.approx(5 / 15)


def test_scoring_within_the_overlapped_regions(tmp_path):
    # A talks 0-10, B 5-10 and 12-14; the hypothesis has A alone 0-10 and misses B at 12-14.
    ref = read_rttm(_rttm(tmp_path, "r.rttm", [("f", 0, 10, "A"), ("f", 5, 5, "B"), ("f", 12, 2, "B"), ("g", 0, 3, "A")]))
    hyp = read_rttm(_rttm(tmp_path, "h.rttm", [("f", 0, 10, "x"), ("g", 0, 3, "x")]))
    overlapped = der(ref, hyp, collar=0.0, within={uri: r.get_overlap() for uri, r in ref.items()})
    # Inside 5-10 both speak: 10 s of speech, B's 5 s missed; g has no overlap, so nothing to score.
    assert overlapped.files["f"]["total"] == pytest.approx(10)
    assert overlapped.files["f"]["missed detection"] == pytest.approx(5)
    assert overlapped.files["g"]["total"] == 0
    assert der(ref, hyp, collar=0.0).files["f"]["missed detection"] == pytest.approx(7)


def test_write_then_read_round_trip(tmp_path):
    ref = read_rttm(_rttm(tmp_path, "r.rttm", [("f", 0, 1.5, "A"), ("h", 2, 1, "B")]))
    out = write_rttm(tmp_path / "out" / "all.rttm", ref.values())
    again = read_rttm(out)
    assert set(again) == {"f", "h"} and der(ref, again).der == 0


@pytest.mark.parametrize(
    "text, message",
    [
        ("SPEAKER f 1 0.0\n", "line 1: a SPEAKER line needs at least 8 fields"),
        ("SPEAKER f 1 zero 1.0 <NA> <NA> A <NA> <NA>\n", "line 1: start and duration must be numbers"),
        ("SPEAKER f 1 -1 1.0 <NA> <NA> A <NA> <NA>\n", "negative"),
        ("; only a comment\n", "no SPEAKER lines"),
    ],
)
def test_malformed_rttm(tmp_path, text, message):
    path = tmp_path / "bad.rttm"
    path.write_text(text)
    with pytest.raises(RTTMError, match=message):
        read_rttm(path)


def test_missing_and_binary_rttm(tmp_path):
    with pytest.raises(RTTMError, match="not found"):
        read_rttm(tmp_path / "nope.rttm")
    (tmp_path / "b.rttm").write_bytes(b"\xff\xfe\xfa")
    with pytest.raises(RTTMError, match="not a text file"):
        read_rttm(tmp_path / "b.rttm")
