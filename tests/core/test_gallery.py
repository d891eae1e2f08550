"""The speaker gallery (suggested names) and the "what to label next" ranking."""

from pathlib import Path

import numpy as np
import pytest

from weighter_gui.core.annotation.analysis import Analysis
from weighter_gui.core.annotation.gallery import Gallery, GalleryEntry, rank_files
from weighter_gui.core.annotation.project import Project
from weighter_gui.core.annotation.session import ProjectSession
from weighter_gui.core.diarize.diarizer import FileDiarization, Track

HOP = 0.15
DIM = 64
PROTOTYPES = {
    name: np.random.default_rng(seed).normal(size=DIM)
    for seed, name in enumerate(["anna", "ben", "cleo", "dan"])
}


def voice(name: str, seed: int, noise: float = 0.3) -> np.ndarray:
    """An embedding near the speaker's prototype (like one slot's view of that voice)."""
    p = PROTOTYPES[name] / np.linalg.norm(PROTOTYPES[name])
    v = p + noise * np.random.default_rng(1000 + seed).normal(size=DIM) / np.sqrt(DIM)
    return (v / np.linalg.norm(v)).astype(np.float32)


def diarization(path, tracks, duration=10.0, checkpoint=""):
    """tracks: (confidence, embedding, segments) per slot."""
    blocks = int(np.ceil(duration / HOP))
    out = [
        Track(f"S{i + 1}", conf, emb, np.zeros(blocks, np.float32), list(segs))
        for i, (conf, emb, segs) in enumerate(tracks)
    ]
    return FileDiarization(Path(path), duration, HOP, out, 0.5, checkpoint, "test")


@pytest.fixture
def session(tmp_path):
    s = ProjectSession(Project(tmp_path / "g.weighter"), autosave=False)
    s.add_files([tmp_path / f"f{i}.wav" for i in range(4)])  # audio need not exist for labelling
    s.set_analysis(
        "f0", diarization("f0.wav", [(0.9, voice("anna", 0), [(0, 4)]), (0.9, voice("ben", 1), [(4, 8)])])
    )
    s.set_analysis(
        "f1",
        diarization(
            "f1.wav",
            [
                (0.9, voice("ben", 2), [(0, 4)]),
                (0.8, voice("cleo", 3), [(4, 8)]),
                (0.7, voice("anna", 4), [(8, 9)]),
            ],
        ),
    )
    s.set_analysis(
        "f2",
        diarization(
            "f2.wav",
            [
                (0.9, voice("cleo", 5), [(0, 3)]),
                (0.85, voice("anna", 6), [(3, 6)]),
                (0.8, voice("dan", 7), [(6, 9)]),
                (0.4, voice("ben", 8), [(9, 9.5)]),
            ],
        ),
    )
    s.name_slot("f0", "S1", "anna")
    s.name_slot("f0", "S2", "ben")
    s.name_slot("f1", "S1", "ben")
    s.name_slot("f1", "S2", "cleo")
    s.merge_slots("f1", "S3", "S2")  # a wrong merge at first ...
    s.unmerge_slot("f1", "S3")  # ... undone by hand
    s.name_slot("f1", "S3", "anna")
    return s


def test_suggestions_for_a_new_file(session):
    suggestions = session.suggestions("f2")
    assert suggestions["S1"].name == "cleo" and suggestions["S2"].name == "anna"
    assert suggestions["S1"].similarity > 0.8 and suggestions["S2"].similarity > 0.8
    assert suggestions["S2"].support == 2  # two labelled anna slots
    # dan is nobody the gallery knows: whatever it suggests, it is far less sure
    assert suggestions["S3"].similarity < 0.5
    ranked = session.gallery.rank(session.project.file("f2").analysis.slot("S3").embedding)
    assert [s.name for s in ranked] == sorted(
        [s.name for s in ranked], key=lambda n: -next(r.similarity for r in ranked if r.name == n)
    )
    assert {s.name for s in ranked} == {"anna", "ben", "cleo"}


def test_gallery_follows_labels_through_undo_and_rename(session):
    g = session.gallery
    assert g.names() == ["anna", "ben", "cleo"]
    assert {(e.file, e.slot) for e in g.entries("anna")} == {("f0", "S1"), ("f1", "S3")}
    session.name_slot("f2", "S3", "dan")
    assert "dan" in session.gallery.names()
    session.undo()
    assert "dan" not in session.gallery.names()
    session.rename_speaker("anna", "Anna")
    assert session.gallery.names() == ["Anna", "ben", "cleo"]
    session.mark_not_speaker("f0", "S1")  # a slot that is no speaker leaves the gallery
    assert {(e.file, e.slot) for e in session.gallery.entries("Anna")} == {("f1", "S3")}


def test_merged_slots_count_for_their_group(session):
    session.merge_slots("f2", "S2", "S1")
    session.name_slot("f2", "S1", "cleo")
    assert {(e.file, e.slot) for e in session.gallery.entries("cleo")} == {
        ("f1", "S2"),
        ("f2", "S1"),
        ("f2", "S2"),
    }


def test_a_file_is_not_its_own_witness(session):
    own = session.suggestions("f0")  # f0's labels left out: the other files decide
    assert own["S1"].name == "anna" and own["S1"].support == 1
    with_self = session.gallery.suggest_file(session.project.file("f0"), exclude_self=False)
    assert with_self["S1"].support == 2


def test_different_models_are_never_compared(tmp_path):
    ckpt_a, ckpt_b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    ckpt_a.write_bytes(b"model a")
    ckpt_b.write_bytes(b"model b")
    s = ProjectSession(Project(), autosave=False)
    s.add_files([tmp_path / "x.wav", tmp_path / "y.wav", tmp_path / "z.wav"])
    s.set_analysis("x", diarization("x.wav", [(0.9, voice("anna", 0), [(0, 2)])], checkpoint=str(ckpt_a)))
    s.set_analysis("y", diarization("y.wav", [(0.9, voice("anna", 1), [(0, 2)])], checkpoint=str(ckpt_b)))
    s.set_analysis("z", diarization("z.wav", [(0.9, voice("anna", 2), [(0, 2)])], checkpoint=str(ckpt_a)))
    s.name_slot("x", "S1", "anna")
    assert s.suggestions("y") == {}
    assert s.suggestions("z")["S1"].name == "anna"


def test_voiceprints_are_what_the_gallery_compares_and_older_analyses_keep_their_embeddings(tmp_path):
    """A slot with a voiceprint is suggested for by the named slots' voiceprints; an
    analysis made before voiceprints (GE2E embeddings only) by embeddings, never
    against voiceprints; both survive saving the project."""
    path = tmp_path / "v.weighter"
    s = ProjectSession(Project(path), autosave=False)
    s.add_files([tmp_path / f"{k}.wav" for k in "abcd"])

    def voiced(key, who, seed, voiceprint=True):
        emb = voice("dan", seed)  # the GE2E embeddings all look like one voice; the voiceprints tell them apart
        d = diarization(f"{key}.wav", [(0.9, emb, [(0, 4)])])
        if voiceprint:
            d.tracks[0].voiceprint = np.resize(voice(who, seed), 48) / np.linalg.norm(np.resize(voice(who, seed), 48))
        s.set_analysis(key, d)

    voiced("a", "anna", 0)
    voiced("b", "ben", 1)
    voiced("c", "ben", 2)
    voiced("d", "anna", 3, voiceprint=False)
    s.name_slot("a", "S1", "anna")
    s.name_slot("b", "S1", "ben")
    assert s.suggestions("c")["S1"].name == "ben"  # by voiceprint: the embeddings would say either
    assert s.suggestions("d") == {}  # an older analysis: no named slot of its kind to compare with
    s.save()
    again = ProjectSession.open(path)
    assert again.project.file("c").analysis.slots[0].voiceprint.shape == (48,)
    assert again.project.file("d").analysis.slots[0].voiceprint is None
    assert again.suggestions("c")["S1"].name == "ben"
    assert again.gallery.low_similarity(48) == 0.4 and again.gallery.low_similarity(256) in (0.3, 0.5)


def test_min_similarity_and_max_mode():
    g = Gallery(
        [
            GalleryEntry("anna", "f", "S1", voice("anna", 0)),
            GalleryEntry("anna", "g", "S1", voice("anna", 1)),
            GalleryEntry("ben", "f", "S2", voice("ben", 2)),
        ],
        mode="max",
    )
    query = voice("anna", 0)
    assert g.suggest(query).similarity == pytest.approx(1.0, abs=1e-5)  # max: the identical entry
    assert Gallery(g.entries()).suggest(query).similarity < 1.0  # mean: the centroid
    assert g.suggest(voice("dan", 3), min_similarity=0.9) is None
    assert g.remove("f") == 2 and g.names() == ["anna"]
    assert Gallery().suggest(query) is None
    g.add(GalleryEntry("zero", "h", "S1", np.zeros(DIM, np.float32)))  # says nothing: ignored
    assert "zero" not in g.names()


def test_rank_files_most_uncertain_first(session, tmp_path):
    p = session.project
    session.add_files([tmp_path / "unanalysed.wav"])
    # f3: two confident slots of known voices; f2: slots near the threshold and an unknown voice
    session.set_analysis(
        "f3", diarization("f3.wav", [(0.99, voice("ben", 9), [(0, 4)]), (0.98, voice("cleo", 10), [(4, 8)])])
    )
    ranks = rank_files(p, session.gallery)
    assert [r.key for r in ranks] == ["f2", "f3", "f0", "f1", "unanalysed"]  # settled files tie at 0: by key
    by_key = {r.key: r for r in ranks}
    assert not by_key["f2"].labelled and by_key["f0"].labelled
    assert by_key["f2"].score > by_key["f3"].score
    assert "S3" in by_key["f2"].low_similarity and "S4" in by_key["f2"].near_threshold
    assert by_key["f0"].score == 0.0  # every slot settled
    assert not by_key["unanalysed"].analysed and by_key["unanalysed"].reason() == "not analysed yet"
    assert "not labelled yet" in by_key["f2"].reason()
    assert session.rank() == ranks
    # labelling f2 moves it behind the unlabelled f3
    session.name_slot("f2", "S1", "cleo")
    assert [r.key for r in session.rank()][:2] == ["f3", "f2"]
    # a file reviewed in part says so; one reviewed through goes behind every analysed file
    session.mark_reviewed("f3", 0.0, 4.0)
    f3 = next(r for r in session.rank() if r.key == "f3")
    assert f3.reviewed == pytest.approx(4.0 / session.file("f3").duration) and "% reviewed" in f3.reason()
    session.mark_reviewed("f3", 0.0, session.file("f3").duration)
    assert [r.key for r in session.rank()][-2:] == ["f3", "unanalysed"]


def test_rank_without_gallery_uses_threshold_closeness(tmp_path):
    s = ProjectSession(Project(), autosave=False)
    s.add_files([tmp_path / "sure.wav", tmp_path / "unsure.wav"])
    s.set_analysis(
        "sure", diarization("sure.wav", [(0.99, voice("anna", 0), [(0, 2)]), (0.01, voice("ben", 1), [])])
    )
    s.set_analysis(
        "unsure",
        diarization("unsure.wav", [(0.52, voice("anna", 2), [(0, 2)]), (0.45, voice("ben", 3), [(2, 3)])]),
    )
    ranks = s.rank()
    assert [r.key for r in ranks] == ["unsure", "sure"]
    assert ranks[0].closeness == pytest.approx(0.9) and ranks[0].novelty == 0.0
    assert ranks[0].near_threshold == ("S1", "S2") and ranks[1].score == 0.0


def test_analysis_objects_work_directly(session):
    a = session.project.file("f0").analysis
    assert isinstance(a, Analysis)
    g = Gallery.from_project(session.project)
    assert len(g) == 5


def test_a_name_the_model_was_taught_is_suggested_where_the_gallery_has_none(tmp_path):
    """A retrained model's head names a voice before the project has any label; it
    stays behind the gallery, and survives saving and reopening the project."""
    session = ProjectSession(Project(tmp_path / "m.weighter"), autosave=False)
    session.add_files([tmp_path / "f0.wav", tmp_path / "f1.wav"])
    d = diarization("f0.wav", [(0.9, voice("anna", 0), [(0, 4)]), (0.9, voice("ben", 1), [(4, 8)])])
    d.tracks[0].name, d.tracks[0].name_probability = "anna", 0.93
    session.set_analysis("f0", d)
    first = session.suggestions("f0")
    assert set(first) == {"S1"} and first["S1"].name == "anna" and first["S1"].source == "model"
    assert first["S1"].similarity == pytest.approx(0.93)
    session.project.save()
    again = ProjectSession(Project.load(tmp_path / "m.weighter"), autosave=False).suggestions("f0")
    assert again["S1"].name == "anna" and again["S1"].source == "model"

    # Once the gallery knows a name for the voice, the gallery's suggestion wins.
    session.set_analysis("f1", diarization("f1.wav", [(0.9, voice("anna", 2), [(0, 4)])]))
    session.name_slot("f1", "S1", "Anna K.")
    assert session.suggestions("f0")["S1"].name == "Anna K."
    assert session.suggestions("f0")["S1"].source == "gallery"
