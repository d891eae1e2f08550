"""Diarization of whole files with a trained Weighter: windows, speakers, segments.

Read top-down: ``Diarizer(checkpoint).run(path)`` is a generator. The window pass
(``windows``) streams the file in equal windows of at most ``window_seconds`` (the
length the model was trained on), computes front-end features per window, runs the
Weighter, cuts a slot in two where its speech holds two voices
(``split_mixed_slots``), and joins each window's slots to provisional tracks as
they come (``clustering.StreamLinker``); it yields one ``WindowResult`` per window (the app
draws them as they come). The file-level pass (``assemble``) then clusters every
window's slots at once (``clustering.cluster_slots``: slots of different windows by
their voiceprints, a speaker-verification network's vectors of each slot's own speech,
``voice_encoder.VoiceEncoder``; two slots of one window are two speakers unless their
GE2E embeddings say they are almost the same voice), so a speaker keeps one label
through an hour-long file, and yields one ``FileDiarization``.

Memory stays bounded: one window of audio and features at a time; the curves are
kept at the model's block rate (one value per 15 frames = 150 ms), about 0.1 MB
per speaker-hour, as is the overlap detector's output; the loudness of each 10 ms
frame (for the segment edges) takes 1.4 MB per hour, and the live slots' embeddings
and voiceprints (``clustering.SlotStore``, for the file-level pass) at most 1.3 MB per
hour (six slots a window, each cut in two at most).

A track is a speaker *slot* as the user sees it: its curve over the whole file,
its confidence (the highest of its windows' slot confidences, each
``C(X) = sum X^2 / sum X``), and its embedding (the curve-mass weighted mean of its
slots' embeddings, i.e. the X-weighted average of the GE2E frame vectors). Tracks
whose embeddings have cosine >= ``merge_similarity`` are first merged (one voice that
two slots of a window shared). A track with under ``min_speaker_seconds`` of speech
in the whole file is dropped; tracks with confidence >= ``threshold`` are the
speakers; their segments are where their curve is >= ``activity``, with edges snapped
to the sound's own starts and stops at 10 ms (``snap_edges``), and at each speaker
change both speakers go on through the blocks the overlap detector marks
(``overlap_at_changes``). A model that
was taught names by fine-tuning (``checkpoint.taught_names``) names each track after
the nearest taught voice by its voiceprint (``taught_voices``), or, for names taught
without one, after what its classification head is sure of.

Core code: no Qt import.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from weighter_gui.core.diarize.clustering import (
    SlotStore,
    StreamLinker,
    cluster_slots,
    merged_groups,
    merged_labels,
    slot_merges,
    unit_rows,
)
from weighter_gui.core.diarize.vad import SpeechDetector, SpeechStream, speech_regions
from weighter_gui.core.io.audio import AudioTooShortError, iter_audio_blocks, probe
from weighter_gui.core.io.resources import default_checkpoint
from weighter_gui.core.model.checkpoint import (
    CheckpointError,
    load_checkpoint,
    taught_names,
)
from weighter_gui.core.model.frontend import (
    FRAME_HOP_S,
    HOP_LENGTH,
    SAMPLE_RATE,
    SpeechFrontend,
)
from weighter_gui.core.model.taught_voices import TaughtVoices
from weighter_gui.core.model.voice_encoder import VOICE_DIM, VoiceEncoder, filterbanks
from weighter_gui.core.segments import (
    covered_seconds,
    intersect_segments,
    union_segments,
)

__all__ = [
    "DiarizeConfig",
    "Diarizer",
    "FileDiarization",
    "Track",
    "WindowResult",
]

MIN_SECONDS = 0.5  # shorter files hold too little speech for a speaker vector
# A file whose loud level (95th percentile of its 10 ms frames) is under this holds no
# speech: the model, standardising its inputs, finds "speakers" even in digital silence
# (a silent channel of a call, a muted recording).
SILENT_DBFS = -70.0


def check_speaker_count(low: int | None, high: int | None) -> None:
    """ValueError unless the speaker count a user gives (``min_speakers``,
    ``max_speakers``; None: not given) is a range of at least 1."""
    for name, value in (("min_speakers", low), ("max_speakers", high)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    if low is not None and high is not None and low > high:
        raise ValueError(f"min_speakers ({low}) is more than max_speakers ({high})")


@dataclass(frozen=True)
class DiarizeConfig:
    window_seconds: float = 60.0
    # Slot confidence that makes a speaker; 0.6-0.8 were no better on held-out voices
    # (docs/results/diarize-settings-threshold-*.md).
    threshold: float = 0.5
    activity: float = 0.5  # curve level that counts as speech
    # Measured on held-out voices (docs/results/diarize-settings.md): without the
    # read-out's competition the two floors drop one-second stray tracks that spoil
    # the speaker count; with it they change nothing there and stay as a guard.
    link_similarity: float = 0.7  # cosine to join a slot to a provisional track while windows come
    # The file-level clustering stops where two clusters' slots' voiceprints
    # (``voice_encoder.VoiceEncoder``) have an average cosine under the file's own level
    # for two voices (``different_voices_level``) plus this margin. Voices differ by
    # file: two TTS voices of a window sit at a median cosine of 0.32, two real people
    # at 0.14. Chosen on long files of held-out voices whose speakers come back
    # (benchmarks/long_recordings.py on data/longdev_tts and data/longdev_real,
    # docs/results/long-longdev-*-voiceprints.md): the best mean of the two hours; a fixed
    # threshold could not serve both (0.75-0.8 best for the TTS voices, 0.5 for the real).
    cluster_similarity: float = 0.45
    # Two slots of one window keep their clusters apart unless their embeddings are at
    # least this alike (one voice the model split between two slots); above 1: always.
    # Chosen on the held-out long files (docs/results/long-longdev-*.md): 0.9 against
    # always apart took the hour of TTS voices 30.7 -> 24.6 % and of real people 58.0 ->
    # 53.0 %; on short held-out files real people went 22.0 -> 20.6 % and the pitch-shifted
    # TTS voices 2.4 -> 3.7 % (two shifts of one voice joined; docs/results/diarize-settings-same-window-*.md).
    same_window_similarity: float = 0.9
    # Tracks of the whole file whose embeddings are at least this close are one voice
    # that two slots of one window shared (linking cannot join those: it is one-to-one).
    # Measured on held-out voices (docs/results/diarize-settings-overlap.md); the shipped
    # model's claim threshold was calibrated with it on.
    merge_similarity: float = 0.95
    min_slot_confidence: float = 0.2  # weaker slots are noise, not tracks
    min_speaker_seconds: float = 1.0  # a track with less speech in the whole file is dropped
    min_segment: float = 0.15  # seconds; shorter segments are dropped
    # Seconds; shorter pauses inside one speaker's speech are filled (a curve dips at
    # commas and breaths). Chosen on the held-out calibration and overlap sets
    # (docs/results/diarize-settings-activity-*.md, -fill-gap-*.md): 0.3 -> 0.9 s took
    # DER 4.13 -> 4.01 % and 6.35 -> 6.08 %; the activity level stayed at 0.5.
    fill_gap: float = 0.9
    # Seconds added to both ends of each segment: half a block. A block half speech and
    # half pause reads below ``activity``, so the curves' edges run short; measured on
    # the held-out voices (docs/results/diarize-settings.md) DER 7.29 -> 6.93 %.
    segment_padding: float = 0.075
    # Segment edges snapped to where the sound starts and stops, found at 10 ms from the
    # audio's own loudness: an edge moves at most ``edge_search`` seconds (0: off), to the
    # end of the sound it sits in or back out of the quiet it sits in, and never into
    # another speaker's segment. Sound is a frame louder than ``edge_level`` of the way
    # from its window's quiet floor to its loud level (5th and 95th percentiles of the
    # frames' dB; ``window_sound_frames``). The curves move in 150 ms blocks; this gives
    # their edges 10 ms.
    # Chosen on the held-out calibration and overlap sets (docs/results/diarize-settings-edge-search-*.md,
    # -edges-*.md): DER 4.01 -> 3.47 % and 6.08 -> 5.36 %; 0.9 s ties with 0.6 s.
    edge_level: float = 0.05
    edge_search: float = 0.6
    # At a speaker change both speakers are kept talking through the blocks around it whose
    # overlap probability (the model's detector) is at least ``change_overlap_level``, each
    # at most ``change_overlap_reach`` seconds (0: off). Most overlapped speech in
    # conversation is at turn changes (the next speaker starts before the last one stops):
    # there a weaker detector output is trusted, and the overlap goes to the change's own
    # two speakers, not to the nearest voice by cosine. A change: one speaker's segment
    # starts at most ``change_before`` s before another's ends, or ``change_after`` s after.
    # Chosen on the held-out calibration and overlap sets (docs/results/diarize-settings-change-overlap-*.md).
    change_overlap_level: float = 0.2
    change_overlap_reach: float = 0.6
    change_before: float = 0.8
    change_after: float = 0.1
    # A speaker whose speech is heard at least ``shadow_overlap`` of the time while the
    # other speakers talk, and whose voice is at least ``shadow_similarity`` (cosine) like
    # one of theirs, is that one's shadow: one voice split over two slots, the second
    # heard mostly where two people talk at once (on the overlap sets most extra
    # speakers were such). Its segments go to the speaker it sounds like (1.0: off).
    # Chosen on the held-out calibration and overlap sets
    # (docs/results/diarize-settings-shadow-*.md): DER 3.44 -> 3.44 % and 4.95 -> 4.32 %;
    # 0.25 gave 3.37 % and 4.32 %, but 0.2 gave 5.28 % on the overlap sets (real speakers
    # merged), so the shipped share keeps a margin from that edge.
    shadow_overlap: float = 0.3
    shadow_similarity: float = 0.85
    # A segment shorter than ``enclosed_seconds`` (0: off) that lies inside the other
    # speakers' segments and whose curve stays under ``enclosed_level`` is dropped: a
    # weak second voice inside another speaker's turn (most lie where the overlap
    # detector fired: the runner-up's share went to a voice that was not talking). A
    # strong one (a confident backchannel) is kept.
    # Chosen on the held-out calibration and overlap sets (docs/results/diarize-settings-enclosed-*.md):
    # DER 3.44 -> 3.21 % and 4.32 -> 4.15 %; dropping them whatever the curve gave 3.18 %
    # and 4.12 %, but these corpora have no backchannels to lose.
    enclosed_seconds: float = 2.0
    enclosed_level: float = 0.8
    # Speech detection (silero-vad, ``vad.py``): what it does not hear as speech is no
    # speaker's. Curves are zeroed in blocks without a speech frame (probability at least
    # ``speech_threshold``), and segments are cut to the speech frames widened by
    # ``speech_pad`` seconds; a file with under ``min_speaker_seconds`` of speech has no
    # speakers. False: the curves alone decide. Chosen on the held-out TTS and real-voice
    # sets (docs/results/diarize-settings-speech-*.md): DER 5.53 -> 2.39 % and 26.06 ->
    # 21.63 % against no detection; silero's own 0.5 with 0.1 s gave 3.34 % and 22.00 %.
    speech_gate: bool = True
    speech_threshold: float = 0.3
    speech_pad: float = 0.3
    # A slot whose own blocks fall into two groups of GE2E vectors less alike than
    # ``split_similarity`` (cosine of the two groups' means), each with at least
    # ``split_min_seconds`` of speech, is two voices the model heard as one: it becomes
    # two slots (``split_mixed_slots``). Below -1: off. Chosen on the held-out sets
    # (docs/results/diarize-settings-split-*.md): real people 20.61 -> 18.82 % DER, the
    # pitch-shifted TTS voices 3.68 -> 3.79 %; 0.75 cut too little (20.03 %), 0.85 too much (23.31 %).
    split_similarity: float = 0.78
    split_min_seconds: float = 2.0
    # How many speakers the user says the file holds (None: estimated). The file-level
    # clustering then stops where the speakers it would keep number at least
    # ``min_speakers`` and at most ``max_speakers``, whatever ``cluster_similarity`` says;
    # two voices of one window are joined only if fewer speakers cannot be reached
    # otherwise. Where even every slot apart is too few, slots are cut in two at their
    # two least alike groups of blocks (``slot_cut``), the least alike first. Tracks
    # are then not merged by ``merge_similarity`` or as shadows: the count decides that.
    min_speakers: int | None = None
    max_speakers: int | None = None
    channel: int | None = None  # None: downmix
    # A taught name (one a fine-tune added to the head) is given to a track when the
    # head's softmax gives it at least this much. Chosen on the annotation loop's seed-11
    # corpus (the highest that names as many slots as any lower), checked on seed 12:
    # 25 of 26 slots named, 24 right (benchmarks/annotation_loop.py).
    name_probability: float = 0.3
    # A taught voice (``TaughtVoices``, enrolled by a fine-tune) names a track whose
    # voiceprint has at least this cosine with it. Chosen on the annotation loop of
    # held-out dev-split real people (``annotation_loop.py --split dev``), the highest
    # that names as many speakers right as any lower: all 11 (file, speaker) pairs whose
    # speaker was labelled, 1 track given a wrong name (0.3: 11 and 4; 0.5: 9 and 1).
    name_similarity: float = 0.4

    def __post_init__(self) -> None:
        check_speaker_count(self.min_speakers, self.max_speakers)

    @property
    def count_given(self) -> bool:
        return self.min_speakers is not None or self.max_speakers is not None


@dataclass(frozen=True)
class WindowResult:
    index: int
    count: int  # windows in the file
    start: float  # seconds
    end: float
    curves: np.ndarray  # [N, blocks] float32: the window's slot curves at block rate
    confidences: np.ndarray  # [N]
    tracks: np.ndarray  # [N] int: the track each slot joined, -1 if too weak
    speech: np.ndarray | None = None  # [blocks] share of each block's 10 ms frames that hold speech


@dataclass
class FileWindows:
    """What the window pass keeps of a file for the file-level pass: per window the
    slot curves at block rate, the overlap probability per block and the loudness of
    each 10 ms frame; the live slots (``SlotStore``); the speech probability per frame.
    About 2.4 MB per hour."""

    path: Path
    duration: float
    curves: list[np.ndarray] = field(default_factory=list)  # per window [slots, blocks]
    overlaps: list[np.ndarray] = field(default_factory=list)  # per window [blocks]
    levels: list[np.ndarray] = field(default_factory=list)  # per window, dB of each 10 ms frame
    slots: SlotStore = field(default_factory=SlotStore)
    speech: np.ndarray | None = None  # [frames] speech probability; None: not detected
    # Kept only when ``min_speakers`` is given: each live slot's best cut in two
    # (``slot_cut``), and each part's: 1.7 MB an hour measured on held-out real
    # people, 16 MB at most (twelve slots a window, three cuts each).
    cuts: list[SlotCut] = field(default_factory=list)


@dataclass(frozen=True)
class SlotCut:
    """One slot's two least alike parts (``slot_cut``), kept in case the user's speaker
    count needs more voices than were found, and each part's own cut in turn."""

    window: int
    slot: int
    similarity: float  # cosine of the two parts' mean GE2E vectors
    curves: np.ndarray  # [2, blocks]: the slot's curve where each part is
    embeddings: np.ndarray  # [2, D]
    voiceprints: np.ndarray  # [2, VOICE_DIM]
    confidences: np.ndarray  # [2]
    weights: np.ndarray  # [2] speech mass times confidence
    parts: tuple[SlotCut | None, ...] = ()  # the first part's cut, the second's (their slots set when made)


@dataclass
class Track:
    label: str
    confidence: float
    embedding: np.ndarray  # [D], unit norm
    curve: np.ndarray  # [blocks] float32 over the whole file
    segments: list[tuple[float, float]] = field(default_factory=list)
    name: str | None = None  # a name the model was taught (``taught_names``) given to this voice (``name_tracks``)
    name_probability: float = 0.0  # how sure: the head's probability, or the taught voice's cosine
    voiceprint: np.ndarray | None = None  # [VOICE_DIM], unit norm: its slots' voiceprints, weighted; None: not known

    @property
    def speech_seconds(self) -> float:
        return sum(b - a for a, b in self.segments)


@dataclass
class FileDiarization:
    path: Path
    duration: float
    hop: float  # seconds per curve value
    tracks: list[Track]
    threshold: float
    checkpoint: str = ""
    frontend: str = ""
    speech: np.ndarray | None = None  # [blocks] share of speech frames per curve value; None: not detected

    @classmethod
    def from_analysis(cls, analysis, path: str | os.PathLike[str]) -> FileDiarization:
        """A stored analysis (``core.annotation.analysis.Analysis``, read by its attributes) as a
        diarization of ``path``, so a project's saved result can be scored or exported again."""
        return cls(
            Path(path),
            analysis.duration,
            analysis.hop,
            [Track(t.label, t.confidence, t.embedding, t.curve, list(t.segments), voiceprint=t.voiceprint)
             for t in analysis.tracks],
            analysis.threshold,
            analysis.checkpoint,
            analysis.frontend,
            analysis.speech,
        )

    @classmethod
    def join_channels(cls, results: list[FileDiarization]) -> FileDiarization:
        """Each channel diarized on its own (a call recorded one side per channel), as one
        result: channel c's slots become ``ch<c+1>-<slot>``; speech is heard where any
        channel hears it."""
        first = results[0]
        tracks = [replace(t, label=f"ch{c + 1}-{t.label}") for c, r in enumerate(results) for t in r.tracks]
        speech = [r.speech for r in results if r.speech is not None]
        if speech:
            n = min(len(x) for x in speech)
            speech = np.max(np.stack([x[:n] for x in speech]), axis=0)
        return cls(first.path, first.duration, first.hop, tracks, first.threshold, first.checkpoint,
                   first.frontend, speech if len(speech) else None)

    @property
    def uri(self) -> str:
        return "_".join(self.path.stem.split())  # RTTM fields cannot hold spaces

    @property
    def speakers(self) -> list[Track]:
        return [t for t in self.tracks if t.confidence >= self.threshold]

    def annotation(self):
        """The kept speakers' segments as a ``pyannote.core.Annotation``."""
        from pyannote.core import Annotation, Segment

        ann = Annotation(uri=self.uri)
        for track in self.speakers:
            for i, (a, b) in enumerate(track.segments):
                ann[Segment(a, b), f"{track.label}_{i}"] = track.label
        return ann

    def to_json(self) -> dict:
        return {
            "file": str(self.path),
            "uri": self.uri,
            "duration": round(self.duration, 3),
            "curve_hop": self.hop,
            "threshold": self.threshold,
            "checkpoint": self.checkpoint,
            "frontend": self.frontend,
            "speakers": [t.label for t in self.speakers],
            "tracks": [
                {
                    "label": t.label,
                    "confidence": round(float(t.confidence), 4),
                    "kept": bool(t.confidence >= self.threshold),
                    "segments": [[round(a, 3), round(b, 3)] for a, b in t.segments],
                    "name": t.name,
                    "name_probability": round(float(t.name_probability), 4),
                    "embedding": [round(float(v), 5) for v in t.embedding],
                    "curve": [round(float(v), 3) for v in t.curve],
                }
                for t in self.tracks
            ],
        }


def probe_long_enough(path: Path):
    """The file's ``AudioInfo``; an ``AudioError`` for a bad file or one too short to diarize."""
    info = probe(path)
    if info.duration < MIN_SECONDS:
        raise AudioTooShortError(
            path, f"too short ({info.duration:.2f} s; at least {MIN_SECONDS} s needed)",
            "use a longer recording",
        )
    return info


@dataclass
class _Slots:
    """The file's live slots as arrays, and the window curves they index."""

    windows: np.ndarray
    slots: np.ndarray
    embeddings: np.ndarray
    voiceprints: np.ndarray
    weights: np.ndarray
    confidences: np.ndarray
    curves: list[np.ndarray]

    @classmethod
    def of(cls, file: FileWindows) -> _Slots:
        store = file.slots
        return cls(store.windows, store.slots, store.embeddings, store.voiceprints, store.weights, store.confidences,
                   file.curves)

    def cut(self, cut: SlotCut) -> _Slots:
        """These slots with ``cut``'s slot as its first part and its second part as a
        new slot of the same window."""
        (entry,) = np.flatnonzero((self.windows == cut.window) & (self.slots == cut.slot))
        curves = list(self.curves)
        curves[cut.window] = np.concatenate([curves[cut.window], cut.curves[1:]])
        curves[cut.window][cut.slot] = cut.curves[0]
        new = len(curves[cut.window]) - 1
        embeddings, weights, confidences = self.embeddings.copy(), self.weights.copy(), self.confidences.copy()
        voiceprints = self.voiceprints.copy()
        embeddings[entry], weights[entry], confidences[entry] = unit_rows(cut.embeddings[0]), cut.weights[0], cut.confidences[0]
        voiceprints[entry] = cut.voiceprints[0]
        return _Slots(
            np.append(self.windows, cut.window), np.append(self.slots, new),
            np.concatenate([embeddings, unit_rows(cut.embeddings[1:]).astype(embeddings.dtype)]),
            np.concatenate([voiceprints, cut.voiceprints[1:].astype(voiceprints.dtype)]),
            np.append(weights, cut.weights[1]), np.append(confidences, cut.confidences[1]), curves,
        )


class Diarizer:
    """Owns a model, its front-end and a device; diarizes files one after another."""

    def __init__(
        self,
        checkpoint: str | os.PathLike[str] | None = None,
        config: DiarizeConfig = DiarizeConfig(),
        device: str | torch.device = "cpu",
        voice_encoder: VoiceEncoder | str | os.PathLike[str] | None = None,
    ) -> None:
        path = Path(checkpoint) if checkpoint is not None else default_checkpoint()
        if checkpoint is None and not path.exists():
            raise CheckpointError(
                f"{path}: the default model is missing from this installation; "
                "reinstall, or pass a checkpoint with --checkpoint"
            )
        self.model, self.header = load_checkpoint(path, device="cpu")
        self.checkpoint = path
        taught = set(taught_names(self.header.training))
        self._taught = [i for i, s in enumerate(self.header.speakers) if s in taught]
        self.frontend = SpeechFrontend()
        if self.header.frontend != self.frontend.id:
            raise CheckpointError(
                f"{path}: the model expects front-end {self.header.frontend!r}, but this "
                f"version computes {self.frontend.id!r}; use a checkpoint trained for it"
            )
        self.config = config
        self.device = torch.device(device)
        self.model.to(self.device).eval()
        self.speech_detector = SpeechDetector() if config.speech_gate else None
        # slots of different windows, and tracks and taught voices, are compared by their
        # voiceprints (default: the shipped CAM++)
        self.voice_encoder = (voice_encoder if isinstance(voice_encoder, VoiceEncoder)
                              else VoiceEncoder.from_file(voice_encoder))
        self._voices = TaughtVoices.from_header(self.header.training.get("voices"), self.voice_encoder.digest, VOICE_DIM)

    @property
    def stride(self) -> int:
        return self.model.config.time_reduction

    @property
    def _split_min_blocks(self) -> int:
        return max(2, math.ceil(self.config.split_min_seconds / (self.stride * FRAME_HOP_S)))

    def diarize(self, path: str | os.PathLike[str]) -> FileDiarization:
        """The whole file's result, for callers that do not draw windows as they come."""
        for event in self.run(path):
            if isinstance(event, FileDiarization):
                return event
        raise RuntimeError(f"{path}: diarization ended without a result")  # run() always ends with one

    def run(
        self, path: str | os.PathLike[str], cancelled: Callable[[], bool] = lambda: False
    ) -> Iterator[WindowResult | FileDiarization]:
        """Yield each window's result, then the file's ``FileDiarization``.

        Raises an ``AudioError`` for a bad file (before the first window where the
        header shows it). Stops quietly, yielding nothing more, when ``cancelled()``.
        """
        windows = yield from self.windows(path, cancelled)
        if windows is not None and not cancelled():
            yield self.assemble(windows)

    def analyse(self, path: str | os.PathLike[str]) -> "FileWindows":
        """The window pass alone, for callers that assemble it more than one way."""
        events = self.windows(path)
        while True:
            try:
                next(events)
            except StopIteration as done:
                return done.value

    def windows(
        self, path: str | os.PathLike[str], cancelled: Callable[[], bool] = lambda: False
    ) -> Iterator[WindowResult]:
        """The window pass: yield each window's result (slots joined to provisional
        tracks as they come); return what the file-level pass needs (``FileWindows``),
        or None when cancelled."""
        path = Path(path)
        info = probe_long_enough(path)
        cfg = self.config
        block_samples = HOP_LENGTH * self.stride
        total_samples = math.ceil(info.duration * SAMPLE_RATE)
        count = max(1, math.ceil(info.duration / cfg.window_seconds))
        # Equal windows of whole blocks, so no window is a sliver and blocks tile the file.
        window_blocks = math.ceil(total_samples / block_samples / count)
        window_samples = window_blocks * block_samples
        linker = StreamLinker(cfg.link_similarity)
        result = FileWindows(path, info.duration)
        speech = SpeechStream(self.speech_detector) if self.speech_detector is not None else None
        buffer = np.zeros(0, dtype=np.float32)
        index = 0
        blocks_iter = iter_audio_blocks(path, block_seconds=min(cfg.window_seconds, 30.0), channel=cfg.channel)
        exhausted = False
        while not exhausted or len(buffer):
            while not exhausted and len(buffer) < window_samples:
                try:
                    buffer = np.concatenate([buffer, next(blocks_iter)])
                except StopIteration:
                    exhausted = True
            if cancelled():
                return None
            chunk, buffer = buffer[:window_samples], buffer[window_samples:]
            if len(chunk) == 0:
                break
            if len(chunk) <= 400 and index > 0:  # a few ms left over: too short to frame
                result.curves[-1] = np.pad(result.curves[-1], ((0, 0), (0, 1)), mode="edge")
                result.overlaps[-1] = np.pad(result.overlaps[-1], (0, 1), mode="edge")
                break
            win = self._window(chunk)
            result.levels.append(frame_levels(chunk))
            window_speech = None
            if speech is not None:
                speech.push(chunk)
                frames = speech.frames()[index * window_samples // HOP_LENGTH :][: len(chunk) // HOP_LENGTH]
                window_speech = block_speech(frames, cfg.speech_threshold, self.stride, win["curves"].shape[1])
                win["curves"] = gate_curves(win["curves"], window_speech)
            if cfg.split_similarity >= -1:
                win = split_mixed_slots(win, cfg.activity, cfg.split_similarity, self._split_min_blocks, self.stride)
            result.overlaps.append(win["overlap"])
            result.curves.append(win["curves"])
            live = win["confidences"] >= cfg.min_slot_confidence
            weights = win["mass"] * win["confidences"]
            feats = filterbanks(chunk) if live.any() else None
            voiceprints = slot_voiceprints(self.voice_encoder, feats, win["curves"], np.flatnonzero(live), cfg.activity,
                                           self.stride)
            result.slots.add(index, win["embeddings"], weights, win["confidences"], live, voiceprints)
            if (cfg.min_speakers or 0) > 1:
                voice = (self.voice_encoder, feats)
                result.cuts += slot_cuts(win, index, live, cfg.activity, self._split_min_blocks, self.stride, voice)
            tracks = linker.link(win["embeddings"], weights, live)
            start = index * window_samples / SAMPLE_RATE
            yield WindowResult(
                index, count, start, start + len(chunk) / SAMPLE_RATE,
                win["curves"], win["confidences"], tracks, window_speech,
            )
            index += 1
        if speech is not None:
            result.speech = speech.frames()
        return result

    @torch.inference_mode()
    def _window(self, audio: np.ndarray) -> dict:
        frames = len(audio) // HOP_LENGTH  # whole 10 ms frames inside this window
        feats = self.frontend.tensor(np.pad(audio, (0, max(0, 401 - len(audio)))))[: max(frames, 1)]
        out = self.model(feats[None].to(self.device))
        curves = out.curves[0].cpu().numpy()
        blocks = math.ceil(curves.shape[1] / self.stride)
        # each block's mean speaker vector (the part of the features slot embeddings average)
        speaker = feats[:, -out.embeddings.shape[-1]:]
        speaker = torch.nn.functional.pad(speaker, (0, 0, 0, blocks * self.stride - len(speaker)))
        block_vectors = speaker.reshape(blocks, self.stride, -1).mean(1).cpu().numpy()
        block_curves = curves[:, :: self.stride][:, :blocks].astype(np.float32)
        # a model without the overlap detector reads as "never overlapped"
        overlap = out.overlap[0, :: self.stride][:blocks].cpu().numpy() if out.overlap is not None else np.zeros(blocks)
        return {
            "curves": block_curves,
            "overlap": overlap.astype(np.float32),
            "confidences": out.confidences[0].cpu().numpy(),
            "embeddings": out.embeddings[0].cpu().numpy(),
            "mass": curves.sum(1),
            "block_vectors": block_vectors,
        }

    def name_tracks(self, tracks: list[Track], config: DiarizeConfig | None = None) -> None:
        """Give tracks taught names, each name to one track at most, the speakers before
        the weaker tracks: the nearest taught voice by the track's voiceprint
        (``TaughtVoices``; ``name_probability`` is then that cosine), then, for names
        taught without a voice (no lone speech to enrol them from, or a checkpoint
        retrained before voices were kept), the name the classification head is surest
        of (its probability)."""
        cfg = config or self.config
        if not tracks:
            return
        given: set[str] = set()
        if self._voices is not None:
            for group in ([t for t in tracks if t.confidence >= cfg.threshold and t.voiceprint is not None],
                          [t for t in tracks if t.confidence < cfg.threshold and t.voiceprint is not None]):
                if not group:
                    continue
                named = self._voices.names_for(np.stack([t.voiceprint for t in group]), cfg.name_similarity, given)
                for track, got in zip(group, named):
                    if got is not None:
                        track.name, track.name_probability = got
                        given.add(got[0])
        voiced = set(self._voices.names) if self._voices is not None else set()
        by_head = [k for k in self._taught if self.header.speakers[k] not in voiced]
        unnamed = [t for t in tracks if t.name is None]
        if not by_head or not unnamed:
            return
        with torch.no_grad():
            emb = torch.as_tensor(np.stack([t.embedding for t in unnamed]), dtype=torch.float32, device=self.device)
            probs = self.model.classify(emb).softmax(-1).cpu().numpy()
        best = probs.argmax(1)
        for i in np.argsort(-probs.max(1)):
            k = int(best[i])
            name = self.header.speakers[k]
            if k in by_head and name not in given and probs[i, k] >= cfg.name_probability:
                unnamed[i].name, unnamed[i].name_probability = name, float(probs[i, k])
                given.add(name)

    def assemble(self, windows: "FileWindows", config: DiarizeConfig | None = None) -> FileDiarization:
        """The file's speakers from its window pass: the slots clustered over the whole
        file (``cluster_slots``), then segments (``config`` defaults to this diarizer's)."""
        cfg = config or self.config
        duration, levels = windows.duration, np.concatenate(windows.levels)
        overlap, speech_probs = np.concatenate(windows.overlaps), windows.speech
        hop = self.stride * FRAME_HOP_S
        # a slot that fired on a breath or a fragment is not a speaker to label
        min_speech = min(cfg.min_speaker_seconds, duration / 2)
        slots = _Slots.of(windows)
        if cfg.count_given:
            slots, cluster = self._cluster_to_count(slots, windows.cuts, cfg, min_speech)
        else:
            cluster = cluster_slots(
                slots.windows, slots.embeddings, slots.weights, self.cluster_threshold(slots, cfg),
                cfg.same_window_similarity, slots.voiceprints,
            )
        embeddings, weights = slots.embeddings, slots.weights
        count = int(cluster.max()) + 1 if len(cluster) else 0
        sums = np.zeros((count, embeddings.shape[1]))
        np.add.at(sums, cluster, embeddings * weights[:, None])
        voice_sums = np.zeros((count, slots.voiceprints.shape[1]))
        np.add.at(voice_sums, cluster, slots.voiceprints * weights[:, None])
        confidence = np.zeros(count)
        np.maximum.at(confidence, cluster, slots.confidences)
        offsets = np.concatenate([[0], np.cumsum([c.shape[1] for c in slots.curves])])
        curve = np.zeros((count, offsets[-1]), dtype=np.float32)
        for window, slot, t in zip(slots.windows, slots.slots, cluster):
            part = curve[t, offsets[window] : offsets[window + 1]]
            np.maximum(part, slots.curves[window][slot], out=part)
        total_blocks = int(offsets[-1])
        groups = [[t] for t in range(count)] if cfg.count_given else merged_groups(sums, cfg.merge_similarity)
        tracks = []
        for group in groups:
            summed = sums[group].sum(0)
            emb = summed / max(np.linalg.norm(summed), 1e-12)
            # the slots shared the voice's speech between them: their curves add up
            merged_curve = np.minimum(curve[group].sum(0), 1.0)
            segs = curve_segments(
                merged_curve, hop, cfg.activity, cfg.min_segment, cfg.fill_gap, duration, cfg.segment_padding
            )
            track = Track("", float(confidence[group].max()), emb, merged_curve, segs,
                          voiceprint=unit_rows(voice_sums[group].sum(0)))
            if track.speech_seconds >= min_speech:
                tracks.append(track)
        if len(levels) and np.percentile(levels, 95) < SILENT_DBFS:
            tracks = []
        speech_frames = None if speech_probs is None else speech_probs >= cfg.speech_threshold
        if speech_frames is not None and speech_frames.sum() * FRAME_HOP_S < min_speech:
            tracks = []  # noise, music, room tone: nobody speaks
        if cfg.edge_search > 0:
            sound = window_sound_frames(windows.levels, cfg.edge_level)
            speakers = [t for t in tracks if t.confidence >= cfg.threshold]
            # every track is snapped against the speakers' segments as the curves gave them
            found = {id(t): list(t.segments) for t in speakers}
            for track in tracks:
                others = [s for t in speakers if t is not track for s in found[id(t)]]
                track.segments = snap_edges(track.segments, sound, others, cfg.edge_search, duration)
        speakers = [t for t in tracks if t.confidence >= cfg.threshold]
        if cfg.change_overlap_reach > 0 and len(speakers) > 1:
            grown = overlap_at_changes(
                [t.segments for t in speakers], overlap, hop, cfg.change_overlap_level, cfg.change_overlap_reach,
                cfg.change_before, cfg.change_after, duration,
            )
            for track, segments in zip(speakers, grown):
                track.segments = segments
        if cfg.shadow_overlap < 1.0 and not cfg.count_given:
            tracks = [t for t in tracks if t.confidence < cfg.threshold] + merge_shadows(
                [t for t in tracks if t.confidence >= cfg.threshold], cfg.shadow_overlap, cfg.shadow_similarity
            )
        if cfg.enclosed_seconds > 0:
            drop_enclosed([t for t in tracks if t.confidence >= cfg.threshold], hop, cfg.enclosed_seconds, cfg.enclosed_level)
            # a speaker left with only a fragment is no speaker, as above
            tracks = [t for t in tracks if t.confidence < cfg.threshold or t.speech_seconds >= min_speech]
        if speech_frames is not None:
            pad = cfg.speech_pad
            allowed = union_segments([
                (max(0.0, a - pad), min(duration, b + pad))
                for a, b in speech_regions(speech_probs, cfg.speech_threshold, min_speech=0.0, min_silence=0.0)
            ])
            for track in tracks:
                track.segments = intersect_segments(track.segments, allowed, cfg.min_segment)
            tracks = [t for t in tracks if t.confidence < cfg.threshold or t.speech_seconds >= min_speech]
        # Speakers first (most speech first), then the weak tracks; labels S1, S2, ... in that order.
        tracks.sort(key=lambda tr: (tr.confidence < cfg.threshold, -tr.speech_seconds))
        for i, tr in enumerate(tracks):
            tr.label = f"S{i + 1}"
        self.name_tracks(tracks, cfg)
        speech_share = None
        if speech_frames is not None:
            speech_share = block_speech(speech_probs, cfg.speech_threshold, self.stride, total_blocks)
        return FileDiarization(
            windows.path, duration, hop, tracks, cfg.threshold, str(self.checkpoint), self.header.frontend, speech_share
        )

    @staticmethod
    def cluster_threshold(slots: _Slots, cfg: DiarizeConfig) -> float:
        """Where the file-level clustering stops: ``different_voices_level`` of the
        file's slots plus ``cluster_similarity``."""
        return different_voices_level(slots.windows, slots.embeddings, slots.voiceprints,
                                      cfg.same_window_similarity) + cfg.cluster_similarity

    def _cluster_to_count(
        self, slots: _Slots, cuts: list[SlotCut], cfg: DiarizeConfig, min_speech: float
    ) -> tuple[_Slots, np.ndarray]:
        """``cluster_slots`` stopped where the speakers it keeps (confidence at least
        ``threshold``, ``min_speech`` seconds) number ``min_speakers`` to
        ``max_speakers``, nearest to where ``cluster_threshold`` stops it, with
        ``cuts`` made, least alike first (a part's own cut becomes one to make), while
        every slot apart is still too few. Returns the slots (cuts made) and a cluster
        for each."""
        low, high = cfg.min_speakers or 1, cfg.max_speakers or math.inf
        hop = self.stride * FRAME_HOP_S
        cuts = sorted(cuts, key=lambda c: c.similarity)
        threshold = self.cluster_threshold(slots, cfg)
        while True:
            n = len(slots.windows)
            merges = slot_merges(slots.windows, slots.embeddings, slots.weights, cfg.same_window_similarity,
                                 voices=slots.voiceprints)
            seconds = np.array([(slots.curves[w][s] >= cfg.activity).sum() * hop for w, s in zip(slots.windows, slots.slots)])
            heard = slots.confidences >= cfg.threshold
            # speakers kept after k merges, for every k
            owner = np.arange(n)
            kept = []
            for k in range(len(merges) + 1):
                if k:
                    i, j, _ = merges[k - 1]
                    owner[owner == j] = i
                speech = np.bincount(owner, weights=seconds, minlength=n)
                loud = np.bincount(owner, weights=heard, minlength=n) > 0
                kept.append(int(np.sum(loud & (speech >= min_speech))))
            stop = next((k for k, (_, _, sim) in enumerate(merges) if sim < threshold), len(merges))
            if kept[stop] > high:
                stop = next((k for k in range(stop, len(kept)) if kept[k] <= high), len(kept) - 1)
            elif kept[stop] < low:
                stop = next((k for k in range(stop, -1, -1) if kept[k] >= low), 0)
            if kept[stop] >= low or not cuts:
                return slots, merged_labels(n, merges[:stop])
            cut = cuts.pop(0)
            slots = slots.cut(cut)
            made = (cut.slot, len(slots.curves[cut.window]) - 1)  # the slots the two parts now are
            cuts = sorted(cuts + [replace(part, slot=slot) for part, slot in zip(cut.parts, made) if part is not None],
                          key=lambda c: c.similarity)


# A file with few pairs of slots heard apart in one window leans on this level (the
# median of the held-out TTS and real hours' levels, 0.32 and 0.14, is about 0.23),
# counted as this many pairs.
PRIOR_LEVEL, PRIOR_PAIRS = 0.25, 5


def different_voices_level(windows: np.ndarray, embeddings: np.ndarray, voiceprints: np.ndarray,
                           same_window_similarity: float) -> float:
    """The median voiceprint cosine of two slots of one window that the model heard
    apart (their GE2E cosine under ``same_window_similarity``): how alike two different
    voices of this file are, with ``PRIOR_PAIRS`` pairs at ``PRIOR_LEVEL`` added."""
    windows = np.asarray(windows)
    raw, voice = unit_rows(np.asarray(embeddings, np.float64)), unit_rows(np.asarray(voiceprints, np.float64))
    apart = [np.full(PRIOR_PAIRS, PRIOR_LEVEL)]
    for window in np.unique(windows):  # pairs inside each window only: a handful each
        rows = np.flatnonzero(windows == window)
        first, second = np.triu_indices(len(rows), 1)
        heard_apart = (raw[rows] @ raw[rows].T)[first, second] < same_window_similarity
        apart.append((voice[rows] @ voice[rows].T)[first, second][heard_apart])
    return float(np.median(np.concatenate(apart)))


def curve_segments(
    curve: np.ndarray, hop: float, level: float, min_len: float, fill_gap: float, duration: float,
    padding: float = 0.0,
) -> list[tuple[float, float]]:
    """Runs of ``curve >= level`` as (start, end) seconds, short gaps filled, short runs
    dropped, then ``padding`` added at both ends (within the file)."""
    active = np.concatenate([[False], curve >= level, [False]])
    edges = np.flatnonzero(np.diff(active.astype(np.int8)))
    runs = [(s * hop, min(e * hop, duration)) for s, e in zip(edges[::2], edges[1::2])]
    merged: list[tuple[float, float]] = []
    for a, b in runs:
        if merged and a - merged[-1][1] < fill_gap:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    padded: list[tuple[float, float]] = []
    for a, b in merged:
        if b - a < min_len - 1e-9:
            continue
        a, b = max(0.0, a - padding), min(duration, b + padding)
        if padded and a <= padded[-1][1]:
            padded[-1] = (padded[-1][0], b)
        else:
            padded.append((a, b))
    return [(round(float(a), 3), round(float(b), 3)) for a, b in padded]


def split_mixed_slots(win: dict, activity: float, similarity: float, min_blocks: int, stride: int) -> dict:
    """``win`` (``Diarizer._window``'s dict) with each slot that holds two voices cut in two.

    When a slot's two groups of blocks (``slot_cut``) are less alike than
    ``similarity``, the second part becomes a new slot; both parts are tried again, up
    to twice the model's slots. Trained on voices that sound alike (TTS), the model
    gives two real people one slot; GE2E still tells them apart within one window,
    where room and line are the same for both.
    """
    unit = _unit_vectors(win)
    rows = list(win["curves"])
    queue = list(range(len(rows)))
    cut = False
    while queue and len(rows) < 2 * len(win["curves"]):
        i = queue.pop(0)
        found = slot_cut(rows, i, unit, activity, min_blocks)
        if found is None or found[0] >= similarity:
            continue
        side = found[1]
        rows[i], part = np.where(side == 0, rows[i], 0.0), np.where(side == 1, rows[i], 0.0)
        rows.append(part)
        queue += [i, len(rows) - 1]
        cut = True
    return _with_rows(win, rows, stride) if cut else win


def slot_cuts(win: dict, window: int, live: np.ndarray, activity: float, min_blocks: int, stride: int,
              voice: tuple[VoiceEncoder, torch.Tensor], depth: int = 2) -> list[SlotCut]:
    """Each ``live`` slot's best cut in two (``slot_cut``), and each part's, down to
    ``depth`` cuts (a slot in four parts at most); the window left as it is. ``voice``:
    the voice encoder and the window's filterbanks, for the parts' voiceprints."""
    cuts = [_cut_of(win, int(i), window, activity, min_blocks, stride, voice, depth) for i in np.flatnonzero(live)]
    return [c for c in cuts if c is not None]


def _cut_of(win: dict, i: int, window: int, activity: float, min_blocks: int, stride: int,
            voice: tuple[VoiceEncoder, torch.Tensor], depth: int) -> SlotCut | None:
    rows = list(win["curves"])
    found = slot_cut(rows, i, _unit_vectors(win), activity, min_blocks)
    if found is None:
        return None
    similarity, side = found
    parts = [np.where(side == g, rows[i], 0.0) for g in (0, 1)]
    cut = _with_rows(win, rows[:i] + [parts[0]] + rows[i + 1 :] + [parts[1]], stride)
    k = [i, len(rows)]
    deeper = tuple(_cut_of(cut, j, window, activity, min_blocks, stride, voice, depth - 1) for j in k) if depth > 1 else ()
    voiceprints = slot_voiceprints(voice[0], voice[1], cut["curves"], k, activity, stride)
    return SlotCut(window, i, similarity, cut["curves"][k], cut["embeddings"][k], voiceprints, cut["confidences"][k],
                   (cut["mass"] * cut["confidences"])[k], deeper)


def slot_cut(rows: list[np.ndarray], i: int, unit: np.ndarray, activity: float,
             min_blocks: int) -> tuple[float, np.ndarray] | None:
    """Slot ``i``'s own blocks (its curve at least ``activity`` and the highest there)
    grouped in two by their unit GE2E block vectors ``unit`` (k-means, smoothed over
    0.75 s): (cosine of the two groups' means, [blocks] 0 or 1: the group of each
    block's nearest own block in time), or None when either group would hold fewer
    than ``min_blocks`` blocks. k-means++ with ten starts, not a start from the two
    least alike blocks: those are often one odd block (a cough, a line click), and the
    groups then stay around it (held-out real people: 18.82 -> 18.18 % DER; pyannote's
    sample, told it holds two voices: 48.3 -> 11.2 %)."""
    from scipy.ndimage import median_filter
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    c = rows[i]
    others = np.max([r for j, r in enumerate(rows) if j != i], axis=0) if len(rows) > 1 else np.zeros_like(c)
    own = np.flatnonzero((c >= activity) & (c >= others))
    if len(own) < 2 * min_blocks:
        return None
    x = unit[own]
    with threadpool_limits(1), warnings.catch_warnings():  # a few hundred rows: threads cost 15 times the work
        warnings.simplefilter("ignore", ConvergenceWarning)  # one sound throughout: one group, no cut
        group = KMeans(n_clusters=2, n_init=10, random_state=0).fit_predict(x)
    group = median_filter(group, size=5, mode="nearest")
    group = group if group[0] == 0 else 1 - group  # the part heard first keeps the slot
    if min(np.sum(group == 0), np.sum(group == 1)) < min_blocks:
        return None
    means = np.stack([x[group == g].mean(0) for g in (0, 1)])
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    nearest = np.abs(np.arange(len(c))[:, None] - own[None, :]).argmin(1)
    return float(means[0] @ means[1]), group[nearest]


MIN_VOICE_FRAMES = 50  # 0.5 s: a slot heard for less is embedded from its strongest 0.5 s
# 20 s: a slot heard for longer is embedded from its strongest 20 s (enough for a voice;
# embedding a whole minute took the peak memory of an hour from 0.9 to 2.1 GB)
MAX_VOICE_FRAMES = 2000


def slot_voiceprints(encoder: VoiceEncoder, feats: torch.Tensor | None, curves: np.ndarray, slots, activity: float,
                     stride: int) -> np.ndarray:
    """[len(slots), VOICE_DIM]: each slot's voiceprint, ``encoder`` on the window's
    filterbank frames ``feats`` of the slot's own blocks (its curve at least
    ``activity`` and the highest there, so the vector is of that voice alone): the
    strongest ``MIN_VOICE_FRAMES`` to ``MAX_VOICE_FRAMES`` of them."""
    out = []
    for i in slots:
        c = curves[i]
        others = np.max(np.delete(curves, i, 0), axis=0) if len(curves) > 1 else np.zeros_like(c)
        strength = _per_frame(c, stride, len(feats))
        own = _per_frame((c >= activity) & (c >= others), stride, len(feats))
        count = int(np.clip(own.sum(), MIN_VOICE_FRAMES, MAX_VOICE_FRAMES))
        # own frames first, strongest first; a stable sort keeps a block's frames together
        order = np.lexsort((-strength, ~own))[:count]
        frames = np.zeros(len(feats), dtype=bool)
        frames[order] = True
        out.append(encoder.embed(feats[torch.from_numpy(frames)]))
    return np.array(out, np.float32) if out else np.zeros((0, VOICE_DIM), np.float32)


def _per_frame(blocks: np.ndarray, stride: int, frames: int) -> np.ndarray:
    """Block values repeated over their frames, to ``frames`` long (the last repeated)."""
    values = np.repeat(blocks, stride)[:frames]
    return np.pad(values, (0, frames - len(values)), mode="edge") if len(values) else np.zeros(frames, blocks.dtype)


def _unit_vectors(win: dict) -> np.ndarray:
    vectors = win["block_vectors"]
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def _with_rows(win: dict, rows: list[np.ndarray], stride: int) -> dict:
    """``win`` with slot curves ``rows`` (the model's and new ones after them): a changed
    slot's embedding, confidence and mass are computed from its block curve and the
    block vectors; an unchanged one keeps the model's frame-rate values."""
    vectors = win["block_vectors"]
    curves = np.stack(rows).astype(np.float32)
    added = len(rows) - len(win["curves"])
    mass = curves.sum(1)
    embeddings = np.concatenate([np.asarray(win["embeddings"], np.float32), np.zeros((added, vectors.shape[1]), np.float32)])
    confidences = np.concatenate([np.asarray(win["confidences"], np.float32), np.zeros(added, np.float32)])
    frame_mass = np.concatenate([np.asarray(win["mass"], np.float64), np.zeros(added)])
    for i in range(len(rows)):
        if i < len(win["curves"]) and np.array_equal(curves[i], win["curves"][i]):
            continue  # not cut: the model's own frame-rate values
        embeddings[i] = curves[i] @ vectors / max(mass[i], 1e-12)
        confidences[i] = (curves[i] ** 2).sum() / max(mass[i], 1e-12)
        frame_mass[i] = mass[i] * stride
    return {**win, "curves": curves, "embeddings": embeddings, "confidences": confidences, "mass": frame_mass}


def block_speech(probs: np.ndarray, threshold: float, stride: int, blocks: int) -> np.ndarray:
    """[blocks] share of each block's ``stride`` 10 ms frames whose speech probability
    is at least ``threshold`` (a missing tail counts as no speech)."""
    flags = np.zeros(blocks * stride, np.float32)
    n = min(len(probs), len(flags))
    flags[:n] = np.asarray(probs[:n]) >= threshold
    return flags.reshape(blocks, stride).mean(1)


def gate_curves(curves: np.ndarray, speech: np.ndarray) -> np.ndarray:
    """[N, blocks] curves zeroed in the blocks where no frame holds speech."""
    return curves * (speech > 0)[None, : curves.shape[1]].astype(curves.dtype)


def frame_levels(audio: np.ndarray) -> np.ndarray:
    """[frames] loudness in dB of each whole 10 ms frame (power over 30 ms, centred)."""
    frames = len(audio) // HOP_LENGTH
    power = np.mean(audio[: frames * HOP_LENGTH].reshape(frames, HOP_LENGTH).astype(np.float64) ** 2, axis=1)
    if frames >= 3:
        power = np.convolve(np.pad(power, 1, mode="edge"), np.ones(3) / 3, mode="valid")
    return (10 * np.log10(power + 1e-12)).astype(np.float32)


def sound_frames(levels: np.ndarray, level: float, min_range_db: float = 10.0) -> np.ndarray | None:
    """[frames] True where a frame is louder than ``level`` of the way from the file's
    quiet floor to its loud level; None when the file has no quiet to tell apart (under
    ``min_range_db`` between the two), so there is nothing to snap to."""
    if len(levels) == 0:
        return None
    floor, loud = np.percentile(levels, [5, 95])
    if loud - floor < min_range_db:
        return None
    return levels > floor + level * (loud - floor)


def window_sound_frames(levels: list[np.ndarray], level: float) -> np.ndarray | None:
    """``sound_frames`` of a file, each window's ``levels`` (one array per window) judged
    against that window's own floor and loud level, as a short file's are; a window
    without quiet of its own (speech throughout) against the file's. A long file joins
    rooms, lines and noise floors: judged against the whole file's floor, the steady
    noise of a louder stretch read as sound, and edges ran on into its pauses (an hour of
    held-out TTS conversations: false alarm 4.6 -> 1.4 %, DER 15.8 -> 12.6 %; of
    held-out real people 44.2 -> 41.3 %)."""
    whole = sound_frames(np.concatenate(levels) if levels else np.zeros(0, np.float32), level)
    if whole is None:
        return None
    parts, start = [], 0
    for window in levels:
        own = sound_frames(window, level)
        parts.append(own if own is not None else whole[start : start + len(window)])
        start += len(window)
    return np.concatenate(parts)


def snap_edges(
    segments: list[tuple[float, float]], sound: np.ndarray | None, others: list[tuple[float, float]],
    search: float, duration: float,
) -> list[tuple[float, float]]:
    """Each segment's edges moved to the sound's own start and stop (10 ms frames of
    ``sound``), at most ``search`` seconds: an edge inside sound moves out to where that
    sound ends, but not into ``others`` (other speakers' segments); an edge in quiet
    moves in to the nearest sound. Segments that come to touch are joined."""
    if sound is None or not segments:
        return segments
    n, reach = len(sound), round(search / FRAME_HOP_S)
    taken = np.zeros(n, dtype=bool)
    for a, b in others:
        taken[round(a / FRAME_HOP_S) : round(b / FRAME_HOP_S)] = True
    free = sound & ~taken
    snapped: list[tuple[float, float]] = []
    for a, b in segments:
        start, end = min(round(a / FRAME_HOP_S), n - 1), min(round(b / FRAME_HOP_S), n)
        if sound[start]:  # back while the sound goes on and nobody else speaks
            low = max(0, start - reach)
            while start > low and free[start - 1]:
                start -= 1
        else:
            ahead = np.flatnonzero(sound[start : min(n, start + reach)])
            start = start + int(ahead[0]) if len(ahead) else start
        if end > 0 and sound[end - 1]:  # on while the sound goes on and nobody else speaks
            high = min(n, end + reach)
            while end < high and free[end]:
                end += 1
        else:
            behind = np.flatnonzero(sound[max(0, end - reach) : end])
            end = max(0, end - reach) + int(behind[-1]) + 1 if len(behind) else end
        if end <= start:
            continue
        a, b = start * FRAME_HOP_S, min(end * FRAME_HOP_S, duration)
        if snapped and a <= snapped[-1][1]:
            snapped[-1] = (min(a, snapped[-1][0]), max(b, snapped[-1][1]))
        else:
            snapped.append((a, b))
    return [(round(float(a), 3), round(float(b), 3)) for a, b in snapped]


def merge_shadows(speakers: list[Track], overlap_share: float, similarity: float) -> list[Track]:
    """``speakers`` with each shadow merged into the speaker it sounds like.

    A shadow heard ``overlap_share`` or more of its speech while the other speakers
    talk, with a cosine of at least ``similarity`` to one of them. Tried from the least
    speech up, each against the speakers left.
    """
    left = sorted(speakers, key=lambda t: t.speech_seconds)
    i = 0
    while i < len(left) and len(left) > 1:
        shadow, others = left[i], left[:i] + left[i + 1 :]
        heard = sum(covered_seconds(shadow.segments, union_segments([s for t in others for s in t.segments])))
        cosines = [float(shadow.embedding @ t.embedding) for t in others]
        best = int(np.argmax(cosines))
        if shadow.speech_seconds > 0 and heard >= overlap_share * shadow.speech_seconds and cosines[best] >= similarity:
            into = others[best]
            summed = into.speech_seconds * into.embedding + shadow.speech_seconds * shadow.embedding
            into.embedding = summed / max(float(np.linalg.norm(summed)), 1e-12)
            if into.voiceprint is not None and shadow.voiceprint is not None:
                into.voiceprint = unit_rows(into.speech_seconds * into.voiceprint + shadow.speech_seconds * shadow.voiceprint)
            into.curve = np.minimum(into.curve + shadow.curve, 1.0)
            into.segments = [(round(float(a), 3), round(float(b), 3)) for a, b in union_segments(into.segments + shadow.segments)]
            del left[i]
            i = 0  # the merged speaker's segments changed what the others overlap
        else:
            i += 1
    return left


def drop_enclosed(speakers: list[Track], hop: float, max_seconds: float, level: float, inside: float = 0.9) -> None:
    """Drop, in place, each speaker's segments shorter than ``max_seconds`` that lie at
    least ``inside`` within the other speakers' segments and whose curve (one value per
    ``hop`` seconds) stays under ``level``."""
    others = [union_segments([s for u in speakers if u is not t for s in u.segments]) for t in speakers]
    for track, cover in zip(speakers, others):
        kept = []
        for (a, b), covered in zip(track.segments, covered_seconds(track.segments, cover)):
            peak = track.curve[int(a / hop) : max(int(a / hop) + 1, math.ceil(b / hop))].max(initial=0.0)
            if b - a < max_seconds and covered >= inside * (b - a) and peak < level:
                continue
            kept.append((a, b))
        track.segments = kept


def overlap_at_changes(
    tracks: list[list[tuple[float, float]]], overlap: np.ndarray, hop: float, level: float, reach: float,
    before: float, after: float, duration: float,
) -> list[list[tuple[float, float]]]:
    """Each track's segments with both speakers of every speaker change kept talking
    through the change's overlapped blocks.

    A change is a segment of one track that starts at most ``before`` seconds before
    another track's segment ends, or at most ``after`` seconds after it. From the first
    speaker's end onward and from the second speaker's start backward, each moves over
    the blocks whose ``overlap`` probability (one per ``hop`` seconds) is at least
    ``level``, at most ``reach`` seconds, and never past the other's segment.
    """
    n, steps = len(overlap), round(reach / hop)
    grown = [list(segments) for segments in tracks]
    starts = [np.array([a for a, _ in segments]) for segments in tracks]  # sorted: segments do not overlap
    for first, ending in enumerate(tracks):
        for i, (a1, b1) in enumerate(ending):
            for second, starting in enumerate(tracks):
                if second == first:
                    continue
                near = range(
                    int(np.searchsorted(starts[second], b1 - before, side="left")),
                    int(np.searchsorted(starts[second], b1 + after, side="right")),
                )
                for j in near:
                    a2, b2 = starting[j]
                    if b2 <= b1:
                        continue
                    k = k0 = min(int(b1 / hop), n)
                    while k < n and k - k0 < steps and overlap[k] >= level:
                        k += 1
                    if k > k0:
                        grown[first][i] = (grown[first][i][0], max(grown[first][i][1], min(k * hop, b2, duration)))
                    k = k0 = min(int(a2 / hop), n) - 1
                    while k >= 0 and k0 - k < steps and overlap[k] >= level:
                        k -= 1
                    if k < k0:
                        grown[second][j] = (min(grown[second][j][0], max((k + 1) * hop, a1)), grown[second][j][1])
    return [[(round(float(a), 3), round(float(b), 3)) for a, b in union_segments(segments)] for segments in grown]
