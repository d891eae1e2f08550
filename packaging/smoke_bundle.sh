#!/usr/bin/env bash
# Smoke-test a built bundle: the app starts offscreen on the sample recording, analyses
# it, saves a screenshot and exits 0, and the picture is not blank; the `weighter`
# command prints the default model's header and diarizes the sample. With Xvfb and
# xwininfo present it also times start-up to a visible (mapped) window.
#
#   bash packaging/smoke_bundle.sh [BUNDLE_DIR] [OUT.png]
#
# BUNDLE_DIR defaults to build/bundle/dist/WeighterStudio (packaging/build_bundle.sh);
# OUT.png to build/bundle/smoke.png. Settings go to a temporary XDG_CONFIG_HOME.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUNDLE="$(cd "${1:-$ROOT/build/bundle/dist/WeighterStudio}" && pwd)"
OUT="${2:-$ROOT/build/bundle/smoke.png}"
PY="$(command -v python3)"
APP="$BUNDLE/weighter-gui"
CLI="$BUNDLE/weighter"
RES="$BUNDLE/_internal/weighter_gui/resources"

say() { printf '[smoke_bundle] %s\n' "$*"; }
fail() { printf '[smoke_bundle] FAIL: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

[[ -x "$APP" ]] || fail "no executable at $APP (build it: bash packaging/build_bundle.sh)"
[[ -f "$RES/sample/sample.flac" ]] || fail "the sample is missing from the bundle ($RES/sample)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$(dirname "$OUT")"
rm -f "$OUT"
cd "$tmp"  # nothing from the source tree in the working directory
export XDG_CONFIG_HOME="$tmp/config" QT_LOGGING_RULES="qt.multimedia*=false"
unset WEIGHTER_GUI_RESOURCES PYTHONPATH

# 1. The command-line tool.
"$CLI" info "$RES/weighter-default.safetensors" >"$tmp/info.txt" || fail "weighter info exited $?"
grep -q "weighter-checkpoint" "$tmp/info.txt" || fail "weighter info printed no checkpoint header"
t0=$(now)
"$CLI" diarize "$RES/sample/sample.flac" --rttm "$tmp/sample.rttm" --reference "$RES/sample/sample.rttm" \
    >"$tmp/diarize.txt" 2>&1 || { cat "$tmp/diarize.txt"; fail "weighter diarize exited non-zero"; }
[[ -s "$tmp/sample.rttm" ]] || fail "weighter diarize wrote no RTTM"
say "weighter info + diarize: ok ($(secs "$t0" "$(now)") s for diarize; $(grep -m1 TOTAL "$tmp/diarize.txt" | tr -s ' '))"

# 2. The app, offscreen: open the sample (no arguments), analyse, screenshot, exit 0.
t0=$(now)
QT_QPA_PLATFORM=offscreen timeout 600 "$APP" --screenshot "$OUT" >"$tmp/app.log" 2>&1 \
    || { tail -30 "$tmp/app.log"; fail "weighter-gui --screenshot exited non-zero"; }
say "app start -> sample analysed -> screenshot saved: $(secs "$t0" "$(now)") s"
"$PY" "$ROOT/packaging/check_png.py" "$OUT" --min-colours 200 || fail "the screenshot looks blank"

# 3. Optional: start-up to a mapped window under Xvfb (first run of a fresh bundle
#    is slower: the page cache is cold).
viewable() {  # is a window of class ("weighter-gui" "Weighter Studio") mapped and viewable on display $1?
    local id
    for id in $(DISPLAY="$1" xwininfo -root -tree 2>/dev/null | awk '/\("weighter-gui" "Weighter Studio"\)/ { print $1 }'); do
        DISPLAY="$1" xwininfo -id "$id" 2>/dev/null | grep -q "Map State: IsViewable" && return 0
    done
    return 1
}
if command -v Xvfb >/dev/null && command -v xwininfo >/dev/null; then
    display=":$((90 + RANDOM % 100))"
    Xvfb "$display" -screen 0 1600x1000x24 -nolisten tcp >/dev/null 2>&1 &
    xvfb_pid=$!
    for _ in $(seq 50); do DISPLAY="$display" xwininfo -root >/dev/null 2>&1 && break; sleep 0.1; done
    t0=$(now)
    DISPLAY="$display" QT_QPA_PLATFORM=xcb "$APP" >"$tmp/window.log" 2>&1 &
    app_pid=$!
    shown=""
    for _ in $(seq 600); do
        if viewable "$display"; then
            shown=$(secs "$t0" "$(now)")
            break
        fi
        kill -0 "$app_pid" 2>/dev/null || break
        sleep 0.05
    done
    kill "$app_pid" 2>/dev/null || true
    wait "$app_pid" 2>/dev/null || true
    kill "$xvfb_pid" 2>/dev/null || true
    wait "$xvfb_pid" 2>/dev/null || true
    if [[ -n "$shown" ]]; then
        say "app start -> window visible (Xvfb): $shown s"
    else
        tail -20 "$tmp/window.log"
        fail "no Weighter Studio window appeared under Xvfb within 30 s"
    fi
else
    say "Xvfb or xwininfo missing: start-up to a visible window not measured"
fi
say "OK: $BUNDLE ($(du -sh "$BUNDLE" | cut -f1)); screenshot $OUT"
