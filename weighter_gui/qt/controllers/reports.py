"""References, exports, the evaluation report and the "label next" list."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from weighter_gui.qt.controllers.files import FilesController
from weighter_gui.qt.state.workspace import Workspace
from weighter_gui.qt.views.dialogs import Dialogs

LABEL_FILTER = ("Diarizations (*.rttm *.TextGrid *.eaf *.txt *.csv *.tsv *.vtt *.srt *.json);;"
                "RTTM (*.rttm);;Praat TextGrid (*.TextGrid);;ELAN (*.eaf);;Audacity labels (*.txt);;"
                "CSV or TSV (*.csv *.tsv);;Subtitles (*.vtt *.srt);;JSON (*.json);;All files (*)")
# kind: (title, a file or a folder, filter, suffix, the writer in core.annotation.exports, its arguments)
EXPORTS = {
    "manifest": ("Export the training manifest", "file", "Manifest (*.jsonl);;All files (*)", ".jsonl",
                 "export_manifest", ()),
    "rttm": ("Export RTTM (and the reviewed ranges as UEM)", "file", "RTTM (*.rttm);;All files (*)", ".rttm",
             "export_rttm", ()),
    **{fmt: (f"Export {what} into a folder (one file per recording)", "folder", "", "", "export_turns", (fmt,))
       for fmt, what in (("textgrid", "Praat TextGrids"), ("eaf", "ELAN files"), ("audacity", "Audacity labels"),
                         ("csv", "CSV tables"), ("vtt", "WebVTT subtitles"), ("srt", "SRT subtitles"),
                         ("json", "JSON"))},
    "pyannote": ("Export a pyannote.database protocol into a folder", "folder", "", "",
                 "export_pyannote_protocol", ()),
    "nemo": ("Export a NeMo diarization manifest into a folder", "folder", "", "", "export_nemo_manifest", ()),
    "hf": ("Export a Hugging Face dataset into a folder", "folder", "", "", "export_hf_dataset", ()),
}


def _exports():
    """``core.annotation.exports``, imported on first use: it brings pyannote, about a
    second of import time the window must not wait for at start-up."""
    from weighter_gui.core.annotation import exports

    return exports


class ReportsController:
    def __init__(self, workspace: Workspace, files: FilesController, dialogs: Dialogs,
                 ensure_project: Callable[[], bool]) -> None:
        self.workspace = workspace
        self.files = files
        self.dialogs = dialogs
        self.ensure_project = ensure_project  # the open project, or a new untitled one

    # ============================================================ references

    def ask_import_reference(self) -> None:
        if self.workspace.key_for(self.workspace.current) is None:
            return
        path = self.dialogs.ask_open_path("Import a reference", self.files.last_folder(), LABEL_FILTER)
        if path:
            self.import_reference(path)

    def import_reference(self, path: str | Path) -> bool:
        """The current file's reference (any format of ``core.io.label_files``): one undo step."""
        key = self.workspace.key_for(self.workspace.current)
        if key is None:
            return False
        return self.dialogs.attempt(self.workspace.session.import_reference, key, path)

    def ask_import_turns(self) -> None:
        if self.workspace.current is None or not self.ensure_project():
            return
        path = self.dialogs.ask_open_path("Import turns to correct", self.files.last_folder(), LABEL_FILTER)
        if path:
            self.import_turns(path)

    def import_turns(self, path: str | Path, tier: str | None = None) -> bool:
        """Another system's diarization of the current file as its turns, to correct (one
        undo step); a file that cannot be read is named with its line and changes nothing."""
        if self.workspace.current is None or not self.ensure_project():
            return False
        key = self.workspace.key_for(self.workspace.current)
        if key is None:
            return False
        done = self.dialogs.attempt(self.workspace.session.import_turns, key, path, tier)
        if done:
            self.dialogs.status(f"Imported the turns of {Path(path).name}; correct them in the turns lane")
        return done

    # ============================================================ exports

    def ask_export(self, kind: str) -> None:
        if not self.dialogs.require_project(self.workspace.session):
            return
        title, target, filter_, suffix, _, _ = EXPORTS[kind]
        project_path = self.workspace.session.path
        if target == "file":
            path = self.dialogs.ask_save_path(title, str(project_path.parent / (project_path.stem + suffix)), filter_)
        else:
            path = self.dialogs.ask_folder(title, str(project_path.parent))
        if path:
            self.export(kind, path)

    def export(self, kind: str, path: str | Path):
        """Write an export; shows (and returns) the report's summary, or None on failure."""
        _, _, _, _, name, args = EXPORTS[kind]
        try:
            report = getattr(_exports(), name)(self.workspace.session.project, Path(path), *args)
        except Exception as exc:  # any failure is the user's to read; the app goes on
            self.dialogs.error("Export failed", str(exc))
            return None
        self.dialogs.report("Export", report.summary())
        return report

    def evaluate(self) -> None:
        """DER of the corrected labels and of the model as it is, against every reference."""
        if not self.dialogs.require_project(self.workspace.session):
            return
        project = self.workspace.session.project
        evaluate = _exports().evaluate
        try:
            corrected = evaluate(project)
            model = evaluate(project, which="model")
        except Exception as exc:  # no reference yet, or a file that cannot be scored
            self.dialogs.error("Evaluation", str(exc))
            return
        summary = f"Corrected labels: DER {corrected.der:.1%}\nModel as is: DER {model.der:.1%}"
        self.dialogs.report_table("Evaluation", summary, corrected.table())

    # ============================================================ label next

    def open_ranked(self, key: str) -> None:
        """A file picked in the "label next" list."""
        path = self.workspace.path_for(key)
        if path is not None:
            self.workspace.set_current(path)
