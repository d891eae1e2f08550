"""Packaging: the wheel ships resources/, resources_dir() finds an installed copy, the
desktop entry, AppStream file and MIME type are valid, and the icon PNGs have their sizes.

The validators (desktop-file-validate from desktop-file-utils, appstreamcli from
appstream) are installed by packaging/dev.sh; without them those tests are skipped.
"""

import re
import shutil
import struct
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from weighter_gui.core.io import resources

ROOT = Path(__file__).resolve().parents[1]
LINUX = ROOT / "packaging" / "linux"
ICONS = ROOT / "resources" / "icons"
ICON_SIZES = (16, 32, 48, 64, 128, 256)
APP_ID = "io.github.weighter_studio.WeighterStudio"
DESKTOP = LINUX / f"{APP_ID}.desktop"
METAINFO = LINUX / f"{APP_ID}.metainfo.xml"
MIME_XML = LINUX / "weighter-studio.xml"
MIME_TYPE = "application/x-weighter-project"
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian: bash packaging/dev.sh test installs it)")
    return path


# ----------------------------------------------------------------------------- the wheel


def test_every_code_package_is_listed_for_the_wheel():
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "weighter_gui").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    listed = set(SETUPTOOLS["packages"])
    assert on_disk - listed == set(), "add these packages to [tool.setuptools] packages in pyproject.toml"
    assert SETUPTOOLS["package-dir"] == {"weighter_gui.resources": "resources"}
    assert "weighter_gui.resources" in listed


def test_package_data_covers_every_shipped_file():
    patterns = SETUPTOOLS["package-data"]["weighter_gui.resources"]
    res = ROOT / "resources"
    shipped = {p for pattern in patterns for p in res.glob(pattern) if p.is_file()}
    on_disk = {p for p in res.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert on_disk - shipped == set(), "files in resources/ that the wheel would leave out"
    for name in ("ge2e_encoder.safetensors", "speaker-space.safetensors", "voice-encoder.safetensors",
                 "weighter-default.safetensors",
                 "sample/sample.flac"):
        assert res / name in shipped


# ----------------------------------------------------------------------------- finding resources/


def _fake_resources(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / resources.DEFAULT_CHECKPOINT_NAME).write_bytes(b"x")
    return folder


def test_resources_dir_finds_an_installed_copy(tmp_path, monkeypatch):
    monkeypatch.delenv(resources.RESOURCES_ENV, raising=False)
    package = tmp_path / "site-packages" / "weighter_gui"
    installed = _fake_resources(package / "resources")
    monkeypatch.setattr(resources, "_PACKAGE_DIR", package)
    assert resources.resources_dir() == installed
    assert resources.default_checkpoint() == installed / resources.DEFAULT_CHECKPOINT_NAME
    assert resources.app_icon() == installed / "icons" / "weighter-studio.svg"


def test_resources_dir_finds_the_checkout(tmp_path, monkeypatch):
    monkeypatch.delenv(resources.RESOURCES_ENV, raising=False)
    package = tmp_path / "repo" / "weighter_gui"
    package.mkdir(parents=True)
    checkout = _fake_resources(tmp_path / "repo" / "resources")
    monkeypatch.setattr(resources, "_PACKAGE_DIR", package)
    assert resources.resources_dir() == checkout
    # This repository: the checkout's folder.
    monkeypatch.undo()
    monkeypatch.delenv(resources.RESOURCES_ENV, raising=False)
    assert resources.resources_dir() == ROOT / "resources"


def test_resources_env_wins(tmp_path, monkeypatch):
    package = tmp_path / "site-packages" / "weighter_gui"
    _fake_resources(package / "resources")
    monkeypatch.setattr(resources, "_PACKAGE_DIR", package)
    monkeypatch.setenv(resources.RESOURCES_ENV, str(tmp_path / "elsewhere"))
    assert resources.resources_dir() == (tmp_path / "elsewhere").resolve()


# ----------------------------------------------------------------------------- desktop files


def test_desktop_entry_is_valid():
    proc = subprocess.run([_tool("desktop-file-validate"), str(DESKTOP)], capture_output=True, text=True, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "error:" not in output and "warning:" not in output, output


def test_metainfo_is_valid():
    proc = subprocess.run(
        [_tool("appstreamcli"), "validate", "--no-net", str(METAINFO)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_desktop_metainfo_mime_and_app_agree():
    entry = dict(
        line.split("=", 1) for line in DESKTOP.read_text().splitlines() if "=" in line and not line.startswith("#")
    )
    assert entry["Exec"] == "weighter-gui %F"
    assert entry["Icon"] == APP_ID
    mime_types = entry["MimeType"].rstrip(";").split(";")
    assert MIME_TYPE in mime_types
    assert {"audio/wav", "audio/x-wav", "audio/flac", "audio/ogg", "audio/mpeg", "audio/x-aiff"} <= set(mime_types)

    component = ET.parse(METAINFO).getroot()
    assert component.findtext("id") == APP_ID
    assert component.find("launchable").text == DESKTOP.name
    assert {b.text for b in component.iter("binary")} == {"weighter-gui", "weighter"}
    assert component.find("content_rating") is not None
    assert component.find("releases/release").get("version") is not None

    ns = {"m": "http://www.freedesktop.org/standards/shared-mime-info"}
    mime = ET.parse(MIME_XML).getroot().find("m:mime-type", ns)
    assert mime.get("type") == MIME_TYPE
    assert mime.find("m:glob", ns).get("pattern") == "*.weighter"

    # The app tells the desktop its id (Wayland matches the window to the entry by it).
    app_source = (ROOT / "weighter_gui" / "qt" / "app.py").read_text()
    assert re.search(rf'^APP_ID = "{re.escape(APP_ID)}"$', app_source, re.MULTILINE)


# ----------------------------------------------------------------------------- icon


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_icon_svg_and_pngs():
    svg = ET.parse(ICONS / "weighter-studio.svg").getroot()
    assert svg.tag.endswith("svg") and svg.get("viewBox") == "0 0 256 256"
    for size in ICON_SIZES:
        png = ICONS / f"weighter-studio-{size}.png"
        assert png.is_file(), f"{png} missing: python packaging/render_icons.py"
        assert _png_size(png) == (size, size)


def test_app_window_icon_loads(qapp):
    from weighter_gui.qt.app import application_icon

    icon = application_icon()
    assert not icon.isNull()
    assert {size.width() for size in icon.availableSizes()} >= set(ICON_SIZES)
