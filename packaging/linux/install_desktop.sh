#!/usr/bin/env bash
# Add Weighter Studio to the desktop for this user (~/.local/share): menu entry,
# icon, the project MIME type (*.weighter) and the AppStream file.
#
#   bash packaging/linux/install_desktop.sh [--exec COMMAND] [--uninstall]
#
# From a clone or a pip/pipx install, the entry runs `weighter-gui` (it must be on PATH;
# or pass --exec /full/path/to/weighter-gui). Inside the PyInstaller bundle
# (WeighterStudio/desktop/install_desktop.sh) it runs the bundle's own weighter-gui.
# Uses xdg-icon-resource and xdg-mime (package xdg-utils) when they exist, else copies
# the files; then refreshes the caches it can. The menu entry is copied, not installed
# with xdg-desktop-menu: outside a known desktop that tool also makes the app the
# default handler of every audio type it lists. Only *.weighter projects default to it.
set -euo pipefail

APP_ID="io.github.weighter_studio.WeighterStudio"
MIME_XML="weighter-studio.xml"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"

exec_cmd=""
uninstall=0
while (($#)); do
    case "$1" in
        --exec) exec_cmd="${2:?--exec needs a command}"; shift 2 ;;
        --uninstall) uninstall=1; shift ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

if [[ -x "$HERE/../weighter-gui" && -d "$HERE/../_internal" ]]; then    # the bundle
    icons="$HERE/../_internal/weighter_gui/resources/icons"
    [[ -n "$exec_cmd" ]] || exec_cmd="$(cd "$HERE/.." && pwd)/weighter-gui"
else                                                                   # a clone
    icons="$HERE/../../resources/icons"
    [[ -n "$exec_cmd" ]] || exec_cmd="weighter-gui"
fi
have() { command -v "$1" >/dev/null 2>&1; }
say() { printf '[install_desktop] %s\n' "$*"; }
SIZES=(16 32 48 64 128 256)

refresh() {
    have update-desktop-database && update-desktop-database -q "$DATA/applications" 2>/dev/null || true
    have update-mime-database && update-mime-database "$DATA/mime" 2>/dev/null || true
    have gtk-update-icon-cache && gtk-update-icon-cache -q -t "$DATA/icons/hicolor" 2>/dev/null || true
}

if ((uninstall)); then
    if have xdg-mime; then xdg-mime uninstall --mode user "$HERE/$MIME_XML" || true; fi
    apps_list="${XDG_CONFIG_HOME:-$HOME/.config}/mimeapps.list"
    [[ -f "$apps_list" ]] && sed -i "/^application\/x-weighter-project=$APP_ID.desktop;*\$/d" "$apps_list"
    rm -f "$DATA/applications/$APP_ID.desktop" "$DATA/mime/packages/$MIME_XML" \
          "$DATA/metainfo/$APP_ID.metainfo.xml" "$DATA/icons/hicolor/scalable/apps/$APP_ID.svg"
    for s in "${SIZES[@]}"; do rm -f "$DATA/icons/hicolor/${s}x${s}/apps/$APP_ID.png"; done
    refresh
    say "removed from $DATA"
    exit 0
fi

[[ -f "$icons/weighter-studio-256.png" ]] || { echo "icons not found in $icons" >&2; exit 1; }
if [[ "$exec_cmd" == weighter-gui ]] && ! have weighter-gui; then
    say "warning: weighter-gui is not on PATH; the menu entry will not start until it is (or use --exec)"
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# The desktop entry with this install's command (quoted when it holds spaces).
quoted="$exec_cmd"
[[ "$exec_cmd" == *" "* ]] && quoted="\"$exec_cmd\""
sed -e "s|^Exec=weighter-gui |Exec=$quoted |" -e "s|^TryExec=weighter-gui$|TryExec=$exec_cmd|" \
    "$HERE/$APP_ID.desktop" >"$tmp/$APP_ID.desktop"

# Icons (hicolor theme, named by the app id as the desktop entry's Icon= says).
for s in "${SIZES[@]}"; do
    if have xdg-icon-resource; then
        xdg-icon-resource install --noupdate --novendor --mode user --context apps --size "$s" \
            "$icons/weighter-studio-$s.png" "$APP_ID"
    else
        install -D -m 644 "$icons/weighter-studio-$s.png" "$DATA/icons/hicolor/${s}x${s}/apps/$APP_ID.png"
    fi
done
have xdg-icon-resource && xdg-icon-resource forceupdate --mode user || true
install -D -m 644 "$icons/weighter-studio.svg" "$DATA/icons/hicolor/scalable/apps/$APP_ID.svg"

# The project MIME type, then the menu entry (which lists it), then the AppStream file.
if have xdg-mime; then
    xdg-mime install --mode user --novendor "$HERE/$MIME_XML"
else
    install -D -m 644 "$HERE/$MIME_XML" "$DATA/mime/packages/$MIME_XML"
fi
install -D -m 644 "$tmp/$APP_ID.desktop" "$DATA/applications/$APP_ID.desktop"
install -D -m 644 "$HERE/$APP_ID.metainfo.xml" "$DATA/metainfo/$APP_ID.metainfo.xml"
refresh
if have xdg-mime; then xdg-mime default "$APP_ID.desktop" application/x-weighter-project || true; fi
say "installed into $DATA (menu entry runs: $exec_cmd)"
