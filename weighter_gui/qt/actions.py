"""Every command of the window, declared as data: its id, text, keys, handler, and when
it is enabled; and the menus, in order.

``build_actions`` makes the ``QAction``s (added to the window, so their keys work with
menus and toolbar hidden) and connects each to its handler, named ``"controller.method"``
and looked up, when triggered, in the controllers the window passes in. ``update_actions`` enables each
by its ``enabled`` condition, a name looked up in the conditions the window passes in.
A menu entry ``"@name"`` is a submenu the window fills itself (recent files, speeds, ...);
``"-"`` is a separator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QMenuBar, QWidget

APP_NAME = "Weighter Studio"
NAME_KEYS = 9  # keys 1-9 name the selected slot after the first nine known speakers
SKIP_SECONDS = 5.0
ZOOM_STEP = 0.5  # + halves the visible time, - doubles it
REANALYSE_TIP = "Analyse the selected file again with the current settings"

std = QKeySequence.StandardKey


@dataclass(frozen=True)
class ActionSpec:
    id: str
    text: str
    handler: str  # "controller.method"
    args: tuple = ()
    keys: tuple = ()  # shortcut strings or standard keys; the first listed is shown in menus
    tip: str = ""
    checkable: bool = False
    checked: bool = False
    enabled: str = ""  # a condition's name; "" = always


ACTIONS: tuple[ActionSpec, ...] = (
    # File
    ActionSpec("open_files", "&Open files…", "files.ask_open_files", keys=(std.Open,)),
    ActionSpec("open_folder", "Open &folder…", "files.ask_open_folder", keys=("Ctrl+Shift+O",)),
    ActionSpec("remove", "&Remove file from list", "files.remove_current", keys=("Ctrl+W",), enabled="file"),
    ActionSpec("new_project", "&New project…", "project.ask_new", keys=("Ctrl+Shift+N",),
               tip="Start a project: labels, undo and exports; open files join it"),
    ActionSpec("open_project", "Open pro&ject…", "project.ask_open", keys=("Ctrl+Shift+P",)),
    ActionSpec("save_project_as", "Save project &as…", "project.ask_save_as", keys=("Ctrl+Shift+S",),
               tip="Save the project under a new name; autosave goes there from now on, the old file stays as it was"),
    ActionSpec("locate_missing", "&Locate missing file…", "relink.locate_current", enabled="locate",
               tip="Say where the selected file's audio went (it was moved or renamed)"),
    ActionSpec("find_missing", "Find missing files in fol&der…", "relink.ask_find_missing", enabled="find_missing",
               tip="Look in a folder and its subfolders for every missing audio file"),
    ActionSpec("settings", "&Settings…", "files.ask_settings", keys=("Ctrl+,",)),
    ActionSpec("quit", "&Quit", "window.close", keys=(std.Quit,)),
    # Edit
    ActionSpec("undo", "&Undo", "labelling.undo", keys=(std.Undo, "Ctrl+Z"), enabled="can_undo"),
    ActionSpec("redo", "&Redo", "labelling.redo", keys=(std.Redo, "Ctrl+Shift+Z"), enabled="can_redo"),
    # Label (the selected slot of the selected file)
    ActionSpec("name", "&Name slot…", "labelling.ask_name_selected", keys=("N",),
               tip="Name the selected slot (a known speaker or a new name)"),
    *(ActionSpec(f"name_known_{i + 1}", f"Name as known speaker {i + 1}", "turns.number_key", args=(i,),
                 keys=(str(i + 1),),
                 tip="A selected turn or range goes to speaker row N; else the selected slot gets known name N")
      for i in range(NAME_KEYS)),
    ActionSpec("accept", "&Accept suggestion", "labelling.accept_suggestion", keys=("A",),
               tip="Name the selected slot as the gallery suggests"),
    ActionSpec("accept_all", "Accept all su&ggestions", "labelling.accept_all_suggestions", keys=("Shift+A",),
               enabled="project"),
    ActionSpec("not_speaker", "Not a &speaker", "labelling.toggle_not_speaker", keys=("X",),
               tip="Mark the selected slot as not a speaker (again: undo the mark)"),
    ActionSpec("merge", "&Merge into…", "labelling.ask_merge", keys=("M",),
               tip="Merge the selected slot into another slot of this file"),
    ActionSpec("unmerge", "&Unmerge", "labelling.unmerge", keys=("U",)),
    ActionSpec("add_like", "Add &like…", "labelling.ask_add_like", keys=("Shift+L",), enabled="project",
               tip="Say a speaker is in this file although the model missed them"),
    ActionSpec("rename", "&Rename speaker…", "labelling.ask_rename", keys=("F2",), enabled="project",
               tip="Rename a speaker in every file of the project"),
    ActionSpec("mark_reviewed", "Mark re&viewed", "labelling.mark_reviewed", args=(True,), keys=("R",),
               enabled="project_file",
               tip="You checked the selected range (shift-drag), or with none the whole file: its turns are yours"),
    ActionSpec("unmark_reviewed", "Unmark reviewed", "labelling.mark_reviewed", args=(False,), keys=("Shift+R",),
               enabled="project_file"),
    # Turns (the current file's, in the turns lane)
    ActionSpec("split_turn", "&Split turn at playhead", "turns.split", keys=("S",), enabled="file",
               tip="Cut the selected turn (or the one under the playhead) in two at the playhead"),
    ActionSpec("join_turn", "&Join with next turn", "turns.join_next", keys=("J",), enabled="file",
               tip="Join the selected turn with the same speaker's next turn"),
    ActionSpec("delete_turn", "&Delete turn", "turns.delete", keys=("Delete", "Backspace"), enabled="file"),
    ActionSpec("add_turn", "Add &turn…", "turns.ask_add", keys=("T",), enabled="file",
               tip="Draw a turn over the selected range for a speaker you pick (others keep theirs)"),
    *(ActionSpec(f"add_turn_{i + 1}", f"Add turn for speaker row {i + 1}", "turns.add_for", args=(i,),
                 keys=(f"Ctrl+{i + 1}",), enabled="file") for i in range(NAME_KEYS)),
    ActionSpec("erase_range", "&Erase range", "turns.erase", keys=("E",), enabled="file",
               tip="Nobody speaks in the selected range: cut every turn there"),
    ActionSpec("play_turn", "&Play turn", "turns.play", keys=("Shift+Space",), enabled="file",
               tip="Loop the selected turn"),
    ActionSpec("import_turns", "Import &turns to correct…", "reports.ask_import_turns", enabled="file",
               tip="Another system's diarization of this file (RTTM, TextGrid, EAF, CSV, JSON, ...) as its turns"),
    ActionSpec("import_reference", "Import &reference…", "reports.ask_import_reference", enabled="project_file",
               tip="A reference diarization for the selected file: drawn under the curves, scored (DER)"),
    # Export
    ActionSpec("export_manifest", "Training &manifest…", "reports.ask_export", args=("manifest",), enabled="project"),
    ActionSpec("export_rttm", "&RTTM…", "reports.ask_export", args=("rttm",), enabled="project"),
    *(ActionSpec(f"export_{kind}", text, "reports.ask_export", args=(kind,), enabled="project")
      for kind, text in (("textgrid", "Praat &TextGrids…"), ("eaf", "&ELAN files…"), ("audacity", "&Audacity labels…"),
                         ("csv", "&CSV tables…"), ("vtt", "&WebVTT subtitles…"), ("srt", "&SRT subtitles…"),
                         ("json", "&JSON…"), ("pyannote", "&pyannote.database protocol…"),
                         ("nemo", "&NeMo manifest…"), ("hf", "&Hugging Face dataset…"))),
    ActionSpec("evaluate", "&Evaluate against references", "reports.evaluate", enabled="project"),
    # Model
    ActionSpec("retrain", "&Retrain on project labels…", "retrain.open", enabled="project"),
    # Playback
    ActionSpec("play", "&Play / pause", "view.toggle_play", keys=("Space",), tip="Play or pause (Space)",
               enabled="file"),
    ActionSpec("loop", "&Loop selection", "view.set_looping", keys=("L",), checkable=True, enabled="file",
               tip="Loop the selected range (shift-drag on the plots to select)"),
    ActionSpec("skip_back", "Skip &back 5 s", "view.skip", args=(-SKIP_SECONDS,), keys=("Left",), enabled="file"),
    ActionSpec("skip_forward", "Skip &forward 5 s", "view.skip", args=(SKIP_SECONDS,), keys=("Right",),
               enabled="file"),
    ActionSpec("to_start", "Go to &start", "view.seek", args=(0.0,), keys=("Ctrl+Home",), enabled="file"),
    ActionSpec("solo", "Play &only this speaker", "view.solo", keys=("O",), enabled="file",
               tip="Play only where the selected speaker speaks (again: everyone)"),
    ActionSpec("mute", "Play all but t&his speaker", "view.mute", keys=("Shift+O",), enabled="file",
               tip="Skip where the selected speaker speaks (again: everyone)"),
    ActionSpec("slower", "&Slower", "view.step_speed", args=(-1,), keys=("[",)),
    ActionSpec("faster", "F&aster", "view.step_speed", args=(+1,), keys=("]",)),
    # Go: to what needs attention
    ActionSpec("next_change", "Next speaker &change", "go.speaker_change", args=(True,), keys=("Alt+Right",),
               enabled="file", tip="Move the playhead to where the next turn starts"),
    ActionSpec("previous_change", "&Previous speaker change", "go.speaker_change", args=(False,),
               keys=("Alt+Left",), enabled="file"),
    ActionSpec("next_unsure", "Next &unsure stretch", "go.unsure", args=(True,), keys=("Alt+Down",), enabled="file",
               tip="Where speech is heard and the strongest curve is neither clearly on nor off"),
    ActionSpec("previous_unsure", "Previous u&nsure stretch", "go.unsure", args=(False,), keys=("Alt+Up",),
               enabled="file"),
    ActionSpec("next_disagreement", "Next &disagreement with the reference", "go.disagreement", args=(True,),
               keys=("Alt+PgDown",), enabled="project_file",
               tip="Where the turns differ from the imported reference: another speaker, missed or extra speech"),
    ActionSpec("previous_disagreement", "Previous disa&greement with the reference", "go.disagreement",
               args=(False,), keys=("Alt+PgUp",), enabled="project_file"),
    # View
    ActionSpec("zoom_in", "Zoom &in", "view.zoom", args=(ZOOM_STEP,), keys=("+", "=", std.ZoomIn)),
    ActionSpec("zoom_out", "Zoom &out", "view.zoom", args=(1 / ZOOM_STEP,), keys=("-", std.ZoomOut)),
    ActionSpec("fit", "&Fit whole file", "view.fit", keys=("F", "Home")),
    ActionSpec("pan_left", "Pan &left", "view.pan", args=(-0.25,), keys=("Ctrl+Left",)),
    ActionSpec("pan_right", "Pan &right", "view.pan", args=(0.25,), keys=("Ctrl+Right",)),
    ActionSpec("follow", "Follow &playhead", "view.set_follow", keys=("P",), checkable=True, checked=True,
               tip="Scroll the view to keep the playhead visible"),
    ActionSpec("mel", "&Mel frequency scale", "view.set_mel", keys=("Shift+M",), checkable=True, checked=True),
    ActionSpec("waveform", "Show wa&veform", "waveform.set_shown", keys=("V",), checkable=True,
               tip="A waveform overview over the spectrogram, one band per channel"),
    ActionSpec("weak", "Show &weaker tracks", "view.set_show_weak", keys=("W",), checkable=True),
    ActionSpec("auto_db", "&Automatic dB range", "view.set_auto_db", keys=("D",), checkable=True, checked=True,
               tip="Pick the spectrogram's dB range from each file's levels"),
    # Analysis
    ActionSpec("cancel", "&Cancel analysis", "files.cancel_current", keys=("Ctrl+.",), enabled="file_busy",
               tip="Stop analysing the selected file"),
    ActionSpec("cancel_all", "Cancel &all analyses", "files.cancel_all", keys=("Ctrl+Shift+.",)),
    ActionSpec("reanalyse", "&Re-analyse", "files.reanalyse_current", keys=("Ctrl+R",), tip=REANALYSE_TIP,
               enabled="file_present"),
    # Help
    ActionSpec("shortcuts", "&Keyboard shortcuts", "window.show_shortcuts", keys=(std.HelpContents, "F1")),
    ActionSpec("about", f"&About {APP_NAME}", "window.show_about"),
)

MENUS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("&File", ("open_files", "open_folder", "@recent_files", "remove", "-", "new_project", "open_project",
               "@recent_projects", "save_project_as", "locate_missing", "find_missing", "-", "settings", "-",
               "quit")),
    ("&Edit", ("undo", "redo")),
    ("&View", ("zoom_in", "zoom_out", "fit", "pan_left", "pan_right", "-", "follow", "mel", "auto_db", "waveform", "weak",
               "-", "@docks")),
    ("&Playback", ("play", "skip_back", "skip_forward", "to_start", "loop", "-", "solo", "mute", "@speed")),
    ("&Go", ("next_change", "previous_change", "-", "next_unsure", "previous_unsure", "-", "next_disagreement",
             "previous_disagreement")),
    ("&Analysis", ("cancel", "cancel_all", "reanalyse", "-", "@channels", "@speaker_count")),
    ("&Label", ("name", "accept", "accept_all", "not_speaker", "merge", "unmerge", "add_like", "rename",
                "@known_names", "-", "mark_reviewed", "unmark_reviewed", "-", "import_reference")),
    ("&Turns", ("import_turns", "-", "split_turn", "join_turn", "delete_turn", "-", "add_turn", "erase_range", "-", "play_turn")),
    ("E&xport", ("export_rttm", "export_textgrid", "export_eaf", "export_audacity", "export_csv", "export_vtt",
                 "export_srt", "export_json", "-", "export_manifest", "export_pyannote", "export_nemo", "export_hf",
                 "-", "evaluate")),
    ("&Model", ("retrain",)),
    ("&Help", ("shortcuts", "about")),
)


def _sequences(keys) -> list[QKeySequence]:
    out: list[QKeySequence] = []
    for key in keys:
        for sequence in (QKeySequence.keyBindings(key) if isinstance(key, QKeySequence.StandardKey)
                         else [QKeySequence(key)]):
            # A standard key may equal one listed too (HelpContents is F1 here):
            # twice the same key makes Qt call the shortcut ambiguous.
            if not sequence.isEmpty() and sequence not in out:
                out.append(sequence)
    return out


def build_actions(window: QWidget, controllers: Mapping[str, object]) -> dict[str, QAction]:
    """One QAction per spec, on ``window``, triggering its handler."""
    actions: dict[str, QAction] = {}
    for spec in ACTIONS:
        action = QAction(spec.text, window)
        sequences = _sequences(spec.keys)
        if sequences:
            action.setShortcuts(sequences)
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setCheckable(spec.checkable)
        action.setChecked(spec.checked)
        if spec.tip:
            action.setStatusTip(spec.tip)
            action.setToolTip(spec.tip)
        action.triggered.connect(partial(_trigger, controllers, spec, action))
        window.addAction(action)  # keys work even while menus and toolbar are hidden
        actions[spec.id] = action
    return actions


def _trigger(controllers: Mapping[str, object], spec: ActionSpec, action: QAction, *_signal_args) -> None:
    """Call the spec's handler (looked up now: controllers may be made after the actions);
    a checkable action's handler also gets its new state (read from the action: PySide
    does not always pass the signal's argument on to a partial)."""
    owner, method = spec.handler.split(".")
    handler = getattr(controllers[owner], method)
    if spec.checkable:
        handler(*spec.args, action.isChecked())
    else:
        handler(*spec.args)


def build_menus(bar: QMenuBar, actions: Mapping[str, QAction], submenus: Mapping[str, Callable]) -> dict[str, QMenu]:
    """The menu bar from ``MENUS``; ``submenus["name"](menu)`` fills an ``"@name"`` entry.
    Returns the menus by title."""
    menus: dict[str, QMenu] = {}
    for title, entries in MENUS:
        menu = menus[title] = bar.addMenu(title)
        for entry in entries:
            if entry == "-":
                menu.addSeparator()
            elif entry.startswith("@"):
                submenus[entry[1:]](menu)
            else:
                menu.addAction(actions[entry])
    return menus


def update_actions(actions: Mapping[str, QAction], conditions: Mapping[str, Callable[[], bool]]) -> None:
    """Enable each action by its spec's condition."""
    for spec in ACTIONS:
        if spec.enabled:
            actions[spec.id].setEnabled(bool(conditions[spec.enabled]()))
