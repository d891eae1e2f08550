#!/usr/bin/env bash
# Developer and CI entry point for Weighter Studio.
#
#   bash packaging/dev.sh test [PYTEST ARGS...]   set up, then run the test suite offscreen
#   bash packaging/dev.sh run  [FILES...]         set up (plus the X libraries), then start the app
#                                                 (on the bundled sample conversation when no FILES)
#   bash packaging/dev.sh bundle                  set up, install PyInstaller into .venv, build the
#                                                 one-folder bundle + tarball (build/bundle/), smoke-test it
#
# Idempotent: Debian packages are installed only when missing, and pip work is
# skipped while .venv/.weighter-stamp matches pyproject.toml and the pins below.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
STAMP="$VENV/.weighter-stamp"
# torchaudio 2.11.0 loads beside torch 2.14.1; it does NOT load beside the CPU-only
# torch 2.13.0 wheel (its extension needs libc10_cuda.so). Install these first.
TORCH_PINS=(torch==2.14.1 torchaudio==2.11.0)
# The bundle's builder (bundle mode only; not part of the test set-up).
PYINSTALLER_PINS=(pyinstaller==6.22.3 pyinstaller-hooks-contrib==2026.9)

# Qt offscreen + QtMultimedia (libpulse0: QtMultimedia imports; libxrandr2: a backend is found),
# the speech engines the front-end and corpus tests use, and the validators of the
# desktop entry and AppStream file (tests/test_packaging.py), and Praat (it reads back
# the TextGrids we write: tests/core/test_label_files.py).
APT_TEST=(libegl1 libgl1 libx11-6 libdbus-1-3 libfontconfig1 libfreetype6 libglib2.0-0
          libxkbcommon0 libpulse0 libxrandr2
          espeak-ng flite sox
          praat
          desktop-file-utils appstream)
# A real window under Xvfb (screenshots).
APT_RUN=(xvfb xauth libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
         libxcb-render-util0 libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0)

export DEBIAN_FRONTEND=noninteractive
export PIP_NO_INPUT=1

say() { printf '[dev.sh] %s\n' "$*"; }
die() { printf '[dev.sh] error: %s\n' "$*" >&2; exit 1; }

usage() {
    echo "usage: bash packaging/dev.sh {test|run|bundle} [extra args]" >&2
    exit 2
}

ensure_apt() {
    local missing=() pkg status
    for pkg in "$@"; do
        status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
        [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
    done
    if ((${#missing[@]} == 0)); then
        say "Debian packages: all ${#} present"
        return
    fi
    local sudo=()
    if [[ "$(id -u)" != 0 ]]; then
        command -v sudo >/dev/null || die "not root and no sudo; install: ${missing[*]}"
        sudo=(sudo -n env DEBIAN_FRONTEND=noninteractive)
    fi
    say "Debian packages: installing ${missing[*]}"
    "${sudo[@]}" apt-get update -q </dev/null
    "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
}

find_python() {
    local cand
    for cand in "${PYTHON:-}" python3 python3.13 python3.12 python3.11; do
        [[ -n "$cand" ]] && command -v "$cand" >/dev/null || continue
        if "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$cand"
            return
        fi
    done
    die "need Python >= 3.11 (set PYTHON=/path/to/python3.11)"
}

stamp_value() {
    # What the venv was built from: pyproject, the torch pins and where the repo lies
    # (an editable install points at this path).
    { cat pyproject.toml; echo "${TORCH_PINS[*]}"; echo "$ROOT"; } | sha256sum | cut -d' ' -f1
}

ensure_venv() {
    if [[ ! -x "$VENV/bin/python" ]]; then
        local py
        py="$(find_python)"
        say "venv: creating .venv with $py ($("$py" -V 2>&1))"
        "$py" -m venv "$VENV"
    fi
    local want
    want="$(stamp_value)"
    if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] \
        && "$VENV/bin/python" -c 'import weighter_gui' 2>/dev/null; then
        say "venv: up to date (.venv/.weighter-stamp matches)"
        return
    fi
    rm -f "$STAMP"
    say "pip: installing ${TORCH_PINS[*]}"
    "$VENV/bin/python" -m pip install -q "${TORCH_PINS[@]}" </dev/null
    say "pip: installing -e '.[test]'"
    "$VENV/bin/python" -m pip install -q -e '.[test]' </dev/null
    echo "$want" >"$STAMP"
    say "venv: ready"
}

ensure_pyinstaller() {
    local want have
    want="$(printf '%s\n' "${PYINSTALLER_PINS[@]}" | LC_ALL=C sort | tr '\n' ' ')"
    have="$("$VENV/bin/python" -m pip list --format=freeze 2>/dev/null \
        | { grep -iE '^pyinstaller(-hooks-contrib)?==' || true; } | tr 'A-Z' 'a-z' | LC_ALL=C sort | tr '\n' ' ')"
    if [[ "$have" == "$want" ]]; then
        say "pip: $want present"
        return
    fi
    say "pip: installing $want"
    "$VENV/bin/python" -m pip install -q "${PYINSTALLER_PINS[@]}" </dev/null
}

mode="${1:-}"
[[ $# -gt 0 ]] && shift
case "$mode" in
    test)
        ensure_apt "${APT_TEST[@]}"
        ensure_venv
        say "pytest: QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest -q $*"
        export QT_QPA_PLATFORM=offscreen
        exec "$VENV/bin/python" -m pytest -q "$@"
        ;;
    run)
        ensure_apt "${APT_TEST[@]}" "${APT_RUN[@]}"
        ensure_venv
        say "run: .venv/bin/weighter-gui $*"
        exec "$VENV/bin/weighter-gui" "$@"
        ;;
    bundle)
        # x11-utils: xwininfo, for the smoke test's time-to-visible-window under Xvfb.
        ensure_apt "${APT_TEST[@]}" "${APT_RUN[@]}" x11-utils
        ensure_venv
        ensure_pyinstaller
        bash "$ROOT/packaging/build_bundle.sh"
        exec bash "$ROOT/packaging/smoke_bundle.sh" "$@"
        ;;
    *)
        usage
        ;;
esac
