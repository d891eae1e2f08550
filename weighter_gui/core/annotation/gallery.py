"""The speaker gallery and the "what to label next" ranking.

The gallery answers "who is this slot?" for a file the user has not labelled yet.
It holds, per speaker name, the voiceprints of the slots the user gave that name
(a merged slot counts for its group's name), each with its provenance: the
project file, the slot label and the model whose analysis it comes from.

It is *derived* data: ``Gallery.from_project(project)`` rebuilds it from the
project's labels and analyses, so undo, redo, renames and re-analyses can never
leave it out of step (the ``ProjectSession`` rebuilds it after every change; it is
a few hundred vectors, a millisecond).

Suggestions compare a slot's voiceprint (``Slot.voice``: CAM++, the voice encoder's
vector of the slot's speech) with each name's *centroid* (the mean of the name's unit
voiceprints, normalised; ``mode="max"`` uses the best single one instead) by cosine
similarity. A voice heard through another room and line stays nearer itself there
than in GE2E: on the annotation loop's held-out real people the gallery names
88 % of the (file, speaker) pairs right, against 71 % in the GE2E speaker space and 54 %
with raw GE2E cosines (README, Does retraining help?). An analysis made before
voiceprints has only GE2E embeddings: those are compared with each other, in the
speaker space when the gallery has one (``model.speaker_space``: the project's
session gives it the shipped one), and never with voiceprints (vectors of another
length are left out). Vectors from different models are not compared either
(``model`` is ``Analysis.model_id``: the checkpoint's sha256, else its path). When a
file is suggested for, its own labelled slots are left out (``exclude_file``), so a
labelled file is judged by the other files' labels.

``rank_files`` orders the project's files by how much a label would help: files
the user has not labelled come first; within each group the model's uncertainty
decides (see ``rank_files``). Files not analysed yet come last.

Core code: no Qt, no torch. The session holds the gallery; the gallery reads the
project.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from weighter_gui.core.annotation.project import Project, ProjectFile
from weighter_gui.core.model.speaker_space import GE2E_DIM, SpeakerSpace

__all__ = ["FileRank", "Gallery", "GalleryEntry", "Suggestion", "rank_files"]

NEAR_THRESHOLD_MARGIN = 0.2  # a confidence this close to the threshold is "unsure"
# A best gallery match below this is "nobody we know": about where held-out real people's
# same-speaker and different-speaker cosines cross (equal error rate), raw and in the space.
LOW_SIMILARITY = 0.5
LOW_SIMILARITY_IN_SPACE = 0.3
# Voiceprints: the cosine taught voices name a track at (``DiarizeConfig.name_similarity``,
# chosen on held-out dev-split real people).
LOW_SIMILARITY_VOICEPRINT = 0.4


@dataclass(frozen=True, eq=False)
class GalleryEntry:
    """One labelled slot: its speaker name, where it comes from, its unit embedding."""

    name: str
    file: str  # project file key
    slot: str  # the slot's label in that file's analysis ("S1", ...)
    embedding: np.ndarray  # [D] float32, unit norm: the slot's voiceprint (GE2E embedding in older analyses)
    model: str = ""  # Analysis.model_id of the analysis that computed it


@dataclass(frozen=True)
class Suggestion:
    name: str
    similarity: float  # cosine similarity, -1..1 (higher: more alike); for "model", the model's own score (name_tracks)
    support: int  # labelled slots behind the name (for this model)
    source: str = "gallery"  # or "model": the name the model gave the slot (a taught name)


class Gallery:
    """Per speaker name, the embeddings of the slots labelled with that name."""

    def __init__(self, entries: Iterable[GalleryEntry] = (), mode: str = "mean",
                 space: SpeakerSpace | None = None) -> None:
        if mode not in ("mean", "max"):
            raise ValueError("mode must be 'mean' (centroid) or 'max' (best single slot)")
        self.mode = mode
        self.space = space  # compares the embeddings it was fit for (GE2E, 256-d) there
        self._entries: list[GalleryEntry] = []
        self._compared: dict[GalleryEntry, np.ndarray] = {}  # each entry as compared: projected once, here
        for entry in entries:
            self.add(entry)

    def low_similarity(self, dim: int) -> float:
        """The similarity under which a best match of ``dim``-long vectors is "nobody we
        know": GE2E embeddings (raw, or in the space) or voiceprints."""
        if dim != GE2E_DIM:
            return LOW_SIMILARITY_VOICEPRINT
        return LOW_SIMILARITY if self.space is None else LOW_SIMILARITY_IN_SPACE

    @classmethod
    def from_project(cls, project: Project, mode: str = "mean", space: SpeakerSpace | None = None) -> Gallery:
        """Every named slot (merged slots under their group's name) of every analysed file."""
        entries = []
        for pf in project.files.values():
            analysis = pf.analysis
            if analysis is None:
                continue
            for slot in analysis.slots:
                name = pf.name_of(slot.label)
                if name is not None:
                    entries.append(GalleryEntry(name, pf.key, slot.label, slot.voice, analysis.model_id))
        return cls(entries, mode=mode, space=space)

    # -- contents -------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[GalleryEntry]:
        return iter(self._entries)

    def add(self, entry: GalleryEntry) -> None:
        vector = np.asarray(entry.embedding, dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(vector))
        if not np.isfinite(norm) or norm == 0:
            return  # a zero or broken embedding says nothing about anyone
        unit = vector / norm
        kept = GalleryEntry(entry.name, entry.file, entry.slot, unit, entry.model)
        self._entries.append(kept)
        self._compared[kept] = self._as_compared(unit)

    def remove(self, file: str, slot: str | None = None) -> int:
        """Drop the entries of ``file`` (one ``slot`` of it, or all); returns how many."""
        keep = [e for e in self._entries if not (e.file == file and (slot is None or e.slot == slot))]
        removed = len(self._entries) - len(keep)
        self._entries = keep
        self._compared = {e: self._compared[e] for e in keep}
        return removed

    def names(self, model: str | None = None) -> list[str]:
        """The speaker names, sorted; only those with entries of ``model`` when given."""
        return sorted({e.name for e in self._entries if model is None or e.model == model})

    def entries(self, name: str | None = None) -> list[GalleryEntry]:
        return [e for e in self._entries if name is None or e.name == name]

    # -- suggestions ----------------------------------------------------------------

    def _as_compared(self, unit: np.ndarray) -> np.ndarray:
        """A unit embedding as suggestions compare it: in the space when it fits there."""
        if self.space is not None and unit.shape[0] == self.space.mean.shape[0]:
            return self.space.project(unit[None])[0]
        return unit

    def _groups(self, model: str | None, exclude_file: str | None, dim: int) -> dict[str, np.ndarray]:
        groups: dict[str, list[np.ndarray]] = {}
        for e in self._entries:
            if model is not None and e.model != model:
                continue
            if exclude_file is not None and e.file == exclude_file:
                continue
            if e.embedding.shape[0] != dim:
                continue
            groups.setdefault(e.name, []).append(self._compared[e])
        return {name: np.stack(vs) for name, vs in groups.items()}

    def rank(
        self, embedding: np.ndarray, *, model: str | None = None, exclude_file: str | None = None
    ) -> list[Suggestion]:
        """Every name with its similarity to ``embedding``, best first (ties by name)."""
        query = np.asarray(embedding, dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(query))
        if not np.isfinite(norm) or norm == 0:
            return []
        dim, query = query.shape[0], self._as_compared(query / norm)
        out = []
        for name, vectors in self._groups(model, exclude_file, dim).items():
            if self.mode == "mean":
                centre = vectors.mean(axis=0)
                cn = float(np.linalg.norm(centre))
                sim = float(centre @ query) / cn if cn > 0 else 0.0
            else:
                sim = float(np.max(vectors @ query))
            out.append(Suggestion(name, max(-1.0, min(1.0, sim)), len(vectors)))
        out.sort(key=lambda s: (-s.similarity, s.name))
        return out

    def suggest(
        self,
        embedding: np.ndarray,
        *,
        model: str | None = None,
        exclude_file: str | None = None,
        min_similarity: float = -1.0,
    ) -> Suggestion | None:
        """The best-matching name, or None (empty gallery, or below ``min_similarity``)."""
        ranked = self.rank(embedding, model=model, exclude_file=exclude_file)
        if not ranked or ranked[0].similarity < min_similarity:
            return None
        return ranked[0]

    def suggest_file(
        self, pf: ProjectFile, *, min_similarity: float = -1.0, exclude_self: bool = True
    ) -> dict[str, Suggestion]:
        """A suggested name per slot of ``pf``'s analysis (slot label -> suggestion).

        Every slot is suggested for independently (two fragments of one speaker may
        both get that speaker's name). Only the same model's entries count; with
        ``exclude_self`` the file's own labels are left out. A slot the gallery has no
        name for gets the name the model gave it, if any (a retrained model knows the
        names it was taught before the project has labels).
        """
        analysis = pf.analysis
        if analysis is None:
            return {}
        out = {}
        for slot in analysis.slots:
            s = self.suggest(
                slot.voice,
                model=analysis.model_id,
                exclude_file=pf.key if exclude_self else None,
                min_similarity=min_similarity,
            )
            if s is None and slot.model_name:
                s = Suggestion(slot.model_name, slot.model_probability, 0, source="model")
            if s is not None:
                out[slot.label] = s
        return out


# ------------------------------------------------------------------------ what to label next


@dataclass(frozen=True)
class FileRank:
    """One file's place in the "label next" list, with the reasons."""

    key: str
    score: float  # higher: a label here teaches more (0 for a file with nothing open)
    analysed: bool
    labelled: bool  # the user has named, merged or rejected a slot, or added a like
    missing: bool  # the audio file is not where the project says
    closeness: float  # mean over open kept slots of how close their confidence is to the threshold (0..1)
    novelty: float  # mean over open kept slots of 1 - best gallery similarity (0..1; 0 without a gallery)
    near_threshold: tuple[str, ...]  # open slots (kept or not) within the margin of the threshold
    low_similarity: tuple[str, ...]  # open kept slots whose best gallery match is weak
    reviewed: float = 0.0  # the share of the file a person has checked (0..1)

    def reason(self) -> str:
        """A few words for a tooltip."""
        if not self.analysed:
            return "not analysed yet"
        parts = ["not labelled yet" if not self.labelled else "partly labelled"]
        if self.reviewed:
            parts.append(f"{self.reviewed:.0%} reviewed")
        if self.near_threshold:
            parts.append(f"{len(self.near_threshold)} slot(s) near the threshold")
        if self.low_similarity:
            parts.append(f"{len(self.low_similarity)} speaker(s) unlike anyone named")
        if self.missing:
            parts.append("audio file missing")
        return "; ".join(parts)


def rank_files(
    project: Project,
    gallery: Gallery | None = None,
    *,
    margin: float = NEAR_THRESHOLD_MARGIN,
    low_similarity: float | None = None,
) -> list[FileRank]:
    """The project's files, the most worth labelling first.

    Order: analysed files the user has not labelled, then analysed files already
    labelled, then analysed files reviewed from start to end, then files without an analysis; inside each group by ``score``,
    highest first (ties by key). Only *open* slots count (not named, not merged,
    not marked "not a speaker": the user has settled the others). Per file::

        closeness = mean over open kept slots of max(0, 1 - |confidence - threshold| / margin)
        novelty   = mean over open kept slots of clip(1 - best gallery similarity, 0, 1)
        score     = closeness + novelty + 0.25 * (open slots within margin of the threshold)

    "Kept" uses the file's effective threshold. ``novelty`` needs gallery entries of
    the file's model (without them it is 0). The gallery defaults to the project's;
    ``low_similarity`` to the gallery's own.
    """
    if gallery is None:
        gallery = Gallery.from_project(project)
    ranks = []
    for pf in project.files.values():
        analysis = pf.analysis
        if analysis is None:
            ranks.append(FileRank(pf.key, 0.0, False, pf.is_labelled, not pf.exists, 0.0, 0.0, (), ()))
            continue
        threshold = pf.effective_threshold
        touched = pf.labels.touched
        has_gallery = bool(gallery.names(analysis.model_id))
        closeness, novelty, near, low = [], [], [], []
        for slot in analysis.slots:
            if slot.label in touched:
                continue
            distance = abs(slot.confidence - threshold)
            if distance <= margin:
                near.append(slot.label)
            if slot.confidence < threshold:
                continue
            closeness.append(max(0.0, 1.0 - distance / margin) if margin > 0 else 0.0)
            if has_gallery:
                best = gallery.suggest(slot.voice, model=analysis.model_id, exclude_file=pf.key)
                sim = best.similarity if best is not None else -1.0
                novelty.append(min(1.0, max(0.0, 1.0 - sim)))
                if sim < (gallery.low_similarity(len(slot.voice)) if low_similarity is None else low_similarity):
                    low.append(slot.label)
        c = float(np.mean(closeness)) if closeness else 0.0
        n = float(np.mean(novelty)) if novelty else 0.0
        score = c + n + 0.25 * len(near)
        ranks.append(
            FileRank(pf.key, score, True, pf.is_labelled, not pf.exists, c, n, tuple(near), tuple(low),
                     pf.reviewed_share)
        )
    # a file a person has checked through needs nothing more: last among the analysed
    ranks.sort(key=lambda r: (not r.analysed, r.reviewed >= 1.0, r.labelled, -r.score, r.key))
    return ranks
