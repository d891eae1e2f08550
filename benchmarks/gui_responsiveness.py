"""How responsive is the desktop app? Four figures, with targets:

1. launch -> window visible (a fresh ``python`` process; target < 2 s);
2. selecting a 1-hour file -> its spectrogram drawn (target < 3 s);
3. median repaint time of pan/zoom steps on that file while the model analyses
   it (target <= 50 ms);
4. GUI event-loop latency, 95th percentile, while inference runs: a 10 ms QTimer
   ping, how late each tick comes (target < 50 ms).

Run (a display is needed for honest paint times; Xvfb is fine)::

    xvfb-run -a .venv/bin/python benchmarks/gui_responsiveness.py [--checkpoint PATH]

It prints a markdown table and writes ``docs/results/gui-responsiveness.json``.
The 1-hour file (noise + tones, 16 kHz) is made in a temporary folder. Without
``--checkpoint`` the default model is used when it exists, else a small
random-weights model (the front-end, which costs most, is the same).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_LOGGING_RULES", "qt.multimedia*=false")

REPO = Path(__file__).resolve().parents[1]
RESULT_PATH = REPO / "docs" / "results" / "gui-responsiveness.json"
TARGETS = {
    "launch_to_visible_s": 2.0,
    "hour_spectrogram_visible_s": 3.0,
    "pan_zoom_repaint_median_ms": 50.0,
    "event_loop_latency_p95_ms": 50.0,
}
PING_MS = 10
LATENCY_SECONDS = 10.0


# ----------------------------------------------------------------------------- helpers


def write_hour_file(path: Path, seconds: int = 3600, rate: int = 16_000) -> Path:
    """Noise plus switching tones, written block by block (bounded memory)."""
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(0)
    with sf.SoundFile(str(path), "w", rate, 1, "PCM_16") as out:
        for minute in range(seconds // 60):
            t = np.arange(60 * rate) / rate + 60 * minute
            block = 0.03 * rng.standard_normal(len(t))
            pitch = 180.0 + 60.0 * (minute % 4)
            on = np.sin(2 * np.pi * 0.25 * t) > 0  # 2 s on, 2 s off
            block += on * 0.2 * sum(np.sin(2 * np.pi * pitch * k * t) / k for k in range(1, 6))
            out.write(block.astype(np.float32))
    return path


def tiny_checkpoint(path: Path) -> Path:
    from weighter_gui.core.model.checkpoint import save_checkpoint
    from weighter_gui.core.model.frontend import speech_frontend_id
    from weighter_gui.core.model.weighter import Weighter
    from weighter_gui.core.training.train import speech_model_config

    cfg = speech_model_config(320, 0, embed_dim=32, num_layers=1, ff_dim=64, num_heads=2)
    save_checkpoint(path, Weighter(cfg).eval(), frontend=speech_frontend_id())
    return path


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


# ----------------------------------------------------------------------------- 1. launch


CHILD_CODE = r"""
import sys, time
from weighter_gui.qt.app import QApplication
from weighter_gui.qt.main_window import MainWindow
from weighter_gui.qt.state.settings import SettingsStore
from PySide6.QtCore import QSettings, QTimer
app = QApplication([sys.argv[0]])
window = MainWindow(settings_store=SettingsStore(QSettings(sys.argv[1], QSettings.Format.IniFormat)))
window.show()
def check():
    handle = window.windowHandle()
    if handle is not None and handle.isExposed():
        app.processEvents()
        window.repaint()  # the first frame is drawn
        print("VISIBLE", time.time(), flush=True)
        window.close()
        app.quit()
    else:
        QTimer.singleShot(1, check)
QTimer.singleShot(0, check)
app.exec()
"""


def measure_launch(tmp: Path, runs: int = 3) -> list[float]:
    times = []
    for run in range(runs):
        began = time.time()
        proc = subprocess.run(
            [sys.executable, "-c", CHILD_CODE, str(tmp / f"launch{run}.ini")],
            capture_output=True, text=True, timeout=120, cwd=REPO,
        )
        line = next((text for text in proc.stdout.splitlines() if text.startswith("VISIBLE")), None)
        if line is None:
            raise RuntimeError(f"launch probe failed:\n{proc.stdout}\n{proc.stderr}")
        times.append(float(line.split()[1]) - began)
    return times


# ----------------------------------------------------------------------------- 2-4. in process


def measure_in_process(hour_file: Path, checkpoint: str | None, tmp: Path) -> dict:
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QSettings, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from weighter_gui.qt.main_window import MainWindow
    from weighter_gui.qt.state.settings import SettingsStore
    from weighter_gui.qt.state.workspace import FileState

    app = QApplication.instance() or QApplication([sys.argv[0]])
    window = MainWindow(
        settings_store=SettingsStore(QSettings(str(tmp / "bench.ini"), QSettings.Format.IniFormat)),
        checkpoint=checkpoint,
    )
    window.resize(1400, 850)
    window.show()

    def spin_until(predicate, timeout_s: float) -> bool:
        end = time.perf_counter() + timeout_s
        while time.perf_counter() < end:
            app.processEvents()
            if predicate():
                return True
            time.sleep(0.001)
        return predicate()

    # Steady state first: the device probe has imported torch.
    spin_until(lambda: window.device is not None, 60)

    # -- 2. select the hour -> spectrogram drawn ------------------------------------
    shown = {}
    window.view.spectrogram_shown.connect(lambda path: shown.setdefault("t", time.perf_counter()))
    began = time.perf_counter()
    window.files.open_paths([hour_file])
    if not spin_until(lambda: "t" in shown, 120):
        raise RuntimeError("the spectrogram never appeared")
    window.timeline.viewport().repaint()  # and painted
    spectrogram_s = time.perf_counter() - began
    level = window.timeline.spectrogram._slice[0]

    # Wait until the model really runs (its first window is under way).
    record = window.workspace.get(hour_file.resolve())
    spin_until(lambda: record.state is FileState.ANALYSING, 120)

    # -- 3. pan/zoom repaint times while the model runs -----------------------------
    timeline = window.timeline
    viewport = timeline.viewport()
    steps = []
    for width in (3600.0, 900.0, 120.0, 20.0):
        start = 1200.0
        for _ in range(5):  # pans
            start = min(max(0.0, start + 0.1 * width), 3600.0 - width)
            steps.append((start, start + width))
        for factor in (0.8, 1.25, 0.8, 1.25):  # zooms around the middle
            centre = start + width / 2
            half = width * factor / 2
            steps.append((max(0.0, centre - half), min(3600.0, centre + half)))
    repaint_ms = []
    timer = QElapsedTimer()
    for a, b in steps:
        timer.start()
        timeline.set_visible_range(a, b)
        app.processEvents()
        viewport.repaint()
        repaint_ms.append(timer.nsecsElapsed() / 1e6)

    # -- 4. event-loop latency while inference runs ----------------------------------
    timeline.fit_all()
    lateness_ms: list[float] = []
    clock = QElapsedTimer()
    ping = QTimer()
    ping.setTimerType(Qt.TimerType.PreciseTimer)
    ping.setInterval(PING_MS)
    last = {"t": None}

    def on_ping():
        now = clock.nsecsElapsed() / 1e6
        if last["t"] is not None:
            lateness_ms.append(max(0.0, now - last["t"] - PING_MS))
        last["t"] = now

    ping.timeout.connect(on_ping)
    percent_before = record.percent
    loop = QEventLoop()  # the real event loop, as in the app, for LATENCY_SECONDS
    QTimer.singleShot(int(LATENCY_SECONDS * 1000), loop.quit)
    clock.start()
    ping.start()
    loop.exec()
    ping.stop()
    running = record.state is FileState.ANALYSING
    percent_after = record.percent

    window.close()
    return {
        "hour_spectrogram_visible_s": spectrogram_s,
        "hour_spectrogram_level_shown": level,
        "pan_zoom_repaint_ms": repaint_ms,
        "event_loop_lateness_ms": lateness_ms,
        "analysis_running_during_latency": running,
        "analysis_percent_during_latency": [percent_before, percent_after],
        "device": window.device,
    }


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="model to run (default: shipped model, else a tiny random one)")
    parser.add_argument("--out", type=Path, default=RESULT_PATH)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="weighter-gui-bench-") as folder:
        tmp = Path(folder)
        t = time.perf_counter()
        hour_file = write_hour_file(tmp / "one-hour.wav")
        print(f"wrote {hour_file.name} (1 h, 16 kHz) in {time.perf_counter() - t:.1f} s", file=sys.stderr)

        checkpoint = args.checkpoint
        model_note = checkpoint or ""
        if checkpoint is None:
            from weighter_gui.core.diarize.diarizer import default_checkpoint

            if default_checkpoint().exists():
                model_note = f"default ({default_checkpoint().name})"
            else:
                checkpoint = str(tiny_checkpoint(tmp / "tiny.safetensors"))
                model_note = "tiny random-weights model (no default model installed)"

        launch = measure_launch(tmp)
        measured = measure_in_process(hour_file, checkpoint, tmp)

    repaint = measured.pop("pan_zoom_repaint_ms")
    lateness = measured.pop("event_loop_lateness_ms")
    figures = {
        "launch_to_visible_s": statistics.median(launch),
        "hour_spectrogram_visible_s": measured["hour_spectrogram_visible_s"],
        "pan_zoom_repaint_median_ms": statistics.median(repaint),
        "event_loop_latency_p95_ms": percentile(lateness, 95),
    }
    result = {
        "command": "xvfb-run -a .venv/bin/python benchmarks/gui_responsiveness.py"
        + (f" --checkpoint {args.checkpoint}" if args.checkpoint else ""),
        "platform": os.environ.get("QT_QPA_PLATFORM") or ("xcb" if os.environ.get("DISPLAY") else "default"),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "model": model_note,
        "device": measured["device"],
        "figures": {k: round(v, 4) for k, v in figures.items()},
        "targets": TARGETS,
        "met": {
            k: figures[k] <= TARGETS[k] if k == "pan_zoom_repaint_median_ms" else figures[k] < TARGETS[k]
            for k in TARGETS
        },
        "details": {
            "launch_runs_s": [round(x, 3) for x in launch],
            "pan_zoom_steps": len(repaint),
            "pan_zoom_repaint_p95_ms": round(percentile(repaint, 95), 2),
            "pan_zoom_repaint_max_ms": round(max(repaint), 2),
            "event_loop_ticks": len(lateness),
            "event_loop_latency_median_ms": round(statistics.median(lateness), 2) if lateness else None,
            "event_loop_latency_max_ms": round(max(lateness), 2) if lateness else None,
            **measured,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    rows = [
        ("Launch -> window visible", "launch_to_visible_s", "s", "< 2 s"),
        ("Select 1-hour file -> spectrogram visible", "hour_spectrogram_visible_s", "s", "< 3 s"),
        ("Pan/zoom repaint, median (model running)", "pan_zoom_repaint_median_ms", "ms", "<= 50 ms"),
        ("Event-loop latency p95 (model running)", "event_loop_latency_p95_ms", "ms", "< 50 ms"),
    ]
    print(f"\nWeighter Studio GUI responsiveness ({result['machine']}, {result['platform']}, "
          f"model on {result['device']}, load {result['load_average_1min']:.1f})\n")
    print("| measure | value | target | met |")
    print("|---|---|---|---|")
    for label, key, unit, target in rows:
        value = figures[key]
        shown = f"{value:.2f} s" if unit == "s" else f"{value:.1f} ms"
        print(f"| {label} | {shown} | {target} | {'yes' if result['met'][key] else 'NO'} |")
    print(f"\nwritten to {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
