#!/usr/bin/env bash
# Build the self-contained one-folder Linux bundle of Weighter Studio (PyInstaller),
# then a tarball of it. Usually run through `bash packaging/dev.sh bundle`, which
# sets up .venv, installs PyInstaller into it, builds and smoke-tests.
#
#   bash packaging/build_bundle.sh
#
# Output (build/ is git-ignored):
#   build/bundle/dist/WeighterStudio/weighter-gui     the app (no arguments: the sample conversation)
#   build/bundle/dist/WeighterStudio/weighter         the command-line tool (a link to weighter-gui)
#   build/bundle/dist/WeighterStudio/desktop/         desktop entry, AppStream file, MIME type, installer
#   build/bundle/WeighterStudio-VERSION-linux-ARCH.tar.gz
#
# Environment: PYTHON (default .venv/bin/python), BUNDLE_OUT (default build/bundle),
# BUNDLE_COMPRESS (default "gzip -6": the compressor the tar stream is piped through).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
OUT="${BUNDLE_OUT:-$ROOT/build/bundle}"

say() { printf '[build_bundle] %s\n' "$*"; }
die() { printf '[build_bundle] error: %s\n' "$*" >&2; exit 1; }

[[ -x "$PY" ]] || die "no Python at $PY (run: bash packaging/dev.sh bundle)"
"$PY" -m PyInstaller --version >/dev/null 2>&1 \
    || die "PyInstaller is not installed in $PY's environment (bash packaging/dev.sh bundle installs it)"
"$PY" -c 'import weighter_gui' 2>/dev/null || die "weighter_gui is not importable by $PY"

version="$("$PY" -c 'import weighter_gui; print(weighter_gui.__version__)')"
arch="$(uname -m)"
name="WeighterStudio"
dist="$OUT/dist"
bundle="$dist/$name"
tarball="$OUT/$name-$version-linux-$arch.tar.gz"

rm -rf "$dist" "$tarball"
mkdir -p "$OUT"
start=$(date +%s)
say "PyInstaller $("$PY" -m PyInstaller --version): building $bundle (several minutes)"
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$dist" --workpath "$OUT/work" packaging/weighter_studio.spec
built=$(date +%s)

# The command-line tool: the same executable under another name (see packaging/bundle_entry.py).
ln -s weighter-gui "$bundle/weighter"
# Desktop integration for the bundle: desktop/install_desktop.sh points the menu entry here.
mkdir -p "$bundle/desktop"
cp packaging/linux/*.desktop packaging/linux/*.xml \
   packaging/linux/install_desktop.sh "$bundle/desktop/"
cat >"$bundle/README.txt" <<TXT
Weighter Studio $version, self-contained Linux bundle ($arch)

  ./weighter-gui [FILES or FOLDERS]     the app (no arguments: the sample conversation)
  ./weighter diarize FILE --rttm out.rttm   the command-line tool (./weighter --help)
  ./desktop/install_desktop.sh          add it to the application menu (~/.local/share)
  ./desktop/install_desktop.sh --uninstall

Everything but the graphics stack is in _internal/: the machine provides OpenGL/EGL
and the X11 or Wayland client libraries, as any desktop does (on a bare Debian or
Ubuntu: libegl1 libgl1 libxcb1; not yet tried on a bare system). Multi-process training with
torchrun needs the pip install instead of this bundle.
TXT

say "tarball: $tarball"
tar -C "$dist" -cf - "$name" | ${BUNDLE_COMPRESS:-gzip -6} >"$tarball"
done_=$(date +%s)

say "done: PyInstaller $((built - start)) s, tarball $((done_ - built)) s"
say "size: folder $(du -sh "$bundle" | cut -f1), tarball $(du -sh "$tarball" | cut -f1)"
say "largest parts of $name/_internal (MB):"
# (|| true: head closes the pipe early, which pipefail would report as a failure.)
# (Separate du calls: one call counts a file once, so nvidia/* after nvidia/ would read 0.)
{ for part in "$bundle/_internal"/* "$bundle/_internal"/nvidia/* "$bundle/_internal"/torch/lib/*; do
      du -sm "$part"
  done 2>/dev/null | sort -rn | head -15 | sed "s|$bundle/_internal/|  |"; } || true
