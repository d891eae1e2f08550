"""Weighter checkpoints: tensors in safetensors, a JSON header that describes them.

A checkpoint is one ``.safetensors`` file. Its tensors are the model's state dict;
its metadata holds one key, ``"weighter"``, whose value is a JSON object::

    {
      "format": "weighter-checkpoint",
      "format_version": 1,
      "model_config": {...},        # WeighterConfig.to_dict()
      "frontend": "sim-64",         # the frame features the model expects
      "speakers": ["ann", "bob"],   # one name per classification-head class
      "code_version": "0.1.0",      # weighter_gui.__version__ that wrote it
      "created": "2025-01-01T12:00:00Z",
      "training": {...}             # free JSON: steps, loss, data, ...
    }

Loading never unpickles anything. Every problem with a file is reported as one
``CheckpointError`` whose message names the file, says what is wrong and what to do.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from weighter_gui import __version__
from weighter_gui.core.io.files import atomic_path
from weighter_gui.core.model.weighter import Weighter, WeighterConfig

FORMAT_NAME = "weighter-checkpoint"
FORMAT_VERSION = 2  # what this code writes (2: input statistics buffers)
MIN_FORMAT_VERSION = 2  # the oldest this code still reads
METADATA_KEY = "weighter"  # the safetensors metadata key that holds the JSON header

_HEADER_FIELDS = (
    "format",
    "format_version",
    "model_config",
    "frontend",
    "speakers",
    "code_version",
    "created",
    "training",
)
_MAX_LISTED = 5  # offending tensor names listed in a mismatch message
_SPEAKERS_SHOWN = 10  # speaker names shown by format_header


class CheckpointError(Exception):
    """A checkpoint file cannot be read or does not fit; the message says why and what to do."""


@dataclass(frozen=True)
class CheckpointHeader:
    """What a checkpoint says about itself (the JSON header, parsed and checked)."""

    model_config: WeighterConfig
    frontend: str
    speakers: tuple[str, ...] = ()
    training: dict = field(default_factory=dict, hash=False)
    code_version: str = __version__
    created: str = ""
    format_version: int = FORMAT_VERSION
    format: str = FORMAT_NAME
    # Tensor name -> shape, read from the safetensors header (not part of the JSON).
    tensor_shapes: dict[str, tuple[int, ...]] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

    @property
    def num_parameters(self) -> int:
        """Numbers stored in the file (parameters and buffers), from the tensor shapes."""
        return sum(math.prod(shape) for shape in self.tensor_shapes.values())

    def to_dict(self) -> dict:
        """The JSON header, in the order it is written."""
        return {
            "format": self.format,
            "format_version": self.format_version,
            "model_config": self.model_config.to_dict(),
            "frontend": self.frontend,
            "speakers": list(self.speakers),
            "code_version": self.code_version,
            "created": self.created,
            "training": self.training,
        }


# --- saving -----------------------------------------------------------------------


def save_checkpoint(
    path: str | os.PathLike,
    model: Weighter,
    *,
    frontend: str,
    speakers: Iterable[str] = (),
    training: Mapping | None = None,
) -> CheckpointHeader:
    """Write ``model`` to ``path`` atomically and return the header written.

    ``speakers`` names the classes of the model's classification head, in order (one
    per class; empty for a model without a head). ``training`` is any JSON-able dict.
    The file appears complete or not at all: it is written to a temporary file in the
    same directory, synced, then renamed over ``path``.
    """
    path = Path(path)
    config = model.config
    speakers = tuple(speakers)
    if not isinstance(frontend, str) or not frontend:
        raise ValueError("frontend must be a non-empty string, e.g. 'sim-64'")
    if not all(isinstance(s, str) for s in speakers):
        raise ValueError("speakers must be strings")
    if len(speakers) != config.num_classes:
        raise ValueError(
            f"speakers names {len(speakers)} speaker(s) but the model's classification head "
            f"has num_classes={config.num_classes}; pass one name per class"
        )
    training = dict(training or {})
    try:
        json.dumps(training)
    except (TypeError, ValueError) as e:
        raise ValueError(f"training info must be JSON-serialisable: {e}") from None

    tensors = _state_tensors(model)
    header = CheckpointHeader(
        model_config=config,
        frontend=frontend,
        speakers=speakers,
        training=training,
        code_version=__version__,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        tensor_shapes={name: tuple(t.shape) for name, t in tensors.items()},
    )
    metadata = {METADATA_KEY: json.dumps(header.to_dict())}

    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return header


def _state_tensors(model: Weighter) -> dict[str, torch.Tensor]:
    """The state dict as contiguous CPU tensors, none sharing memory (safetensors refuses that)."""
    tensors: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, value in model.state_dict().items():
        t = value.detach().to("cpu").contiguous()
        storage = t.untyped_storage().data_ptr()
        if storage in seen:
            t = t.clone()
        seen.add(t.untyped_storage().data_ptr())
        tensors[name] = t
    return tensors


# --- loading ----------------------------------------------------------------------


def read_header(path: str | os.PathLike) -> CheckpointHeader:
    """Read and check the header of the checkpoint at ``path``; loads no tensor data."""
    path = Path(path)
    metadata, shapes = _open_safetensors(path)
    return _parse_header(path, metadata, shapes)


def load_checkpoint(
    path: str | os.PathLike,
    *,
    device: str | torch.device = "cpu",
    expected_frontend: str | None = None,
) -> tuple[Weighter, CheckpointHeader]:
    """Load a checkpoint: the model (on ``device``, in eval mode) and its header.

    ``expected_frontend``, if given, must equal the front-end the model was trained on.
    """
    path = Path(path)
    header = read_header(path)
    if expected_frontend is not None and header.frontend != expected_frontend:
        raise CheckpointError(
            f"{path}: the model expects the front-end {header.frontend!r} but "
            f"{expected_frontend!r} is in use; choose a checkpoint trained on "
            f"{expected_frontend!r} or switch the front-end to {header.frontend!r}"
        )
    try:
        model = Weighter(header.model_config)
    except Exception as e:  # e.g. embed_dim not divisible by num_heads
        raise CheckpointError(
            f"{path}: its model config cannot build a Weighter ({type(e).__name__}: {e}); "
            "the header is damaged or was edited by hand"
        ) from None
    _check_tensors(path, header.tensor_shapes, model.state_dict())

    try:
        with safe_open(path, framework="pt", device="cpu") as f:
            state = {name: f.get_tensor(name) for name in f.keys()}
    except (SafetensorError, OSError, RuntimeError, ValueError) as e:
        raise CheckpointError(
            f"{path}: cannot read its tensors ({e}); the file is damaged, save or copy it again"
        ) from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(
            f"{path}: its tensors do not fit the model its config describes ({e}); "
            "the file is damaged or was edited, save it again from the training run"
        ) from None
    try:
        model.to(device)
    except (RuntimeError, ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: cannot move the model to device {device!r}: {e}") from None
    model.eval()
    return model, header


def _open_safetensors(path: Path) -> tuple[dict[str, str], dict[str, tuple[int, ...]]]:
    """The safetensors metadata and tensor shapes of ``path`` (memory-mapped, no data read)."""
    if not path.exists():
        raise CheckpointError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise CheckpointError(
            f"{path}: is a directory, not a checkpoint file; give the .safetensors file"
        )
    try:
        with safe_open(path, framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            shapes = {name: tuple(f.get_slice(name).get_shape()) for name in f.keys()}
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read the file ({e.strerror or e})") from None
    except Exception as e:  # SafetensorError and anything else the reader raises
        raise CheckpointError(f"{path}: {_diagnose(path, e)}") from None
    return metadata, shapes


def _diagnose(path: Path, error: Exception) -> str:
    """Why safetensors refused ``path``, in words: not safetensors at all, or cut short."""
    not_checkpoint = (
        "not a Weighter checkpoint (not a safetensors file); "
        "give a .safetensors checkpoint saved by Weighter Studio"
    )
    truncated = (
        "the file is truncated (shorter than its own header says), e.g. an interrupted "
        "copy or download; copy or save it again"
    )
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            prefix = f.read(8)
            first = f.read(1)
    except OSError as e:
        return f"cannot read the file ({e.strerror or e})"
    if size == 0:
        return f"the file is empty; {not_checkpoint}"
    if size < 8:
        return f"the file is only {size} bytes; {not_checkpoint}"
    header_len = int.from_bytes(prefix, "little")
    looks_like_safetensors = first == b"{" and 2 <= header_len <= 100_000_000
    if not looks_like_safetensors:
        return not_checkpoint
    if 8 + header_len > size:
        return truncated
    try:
        with open(path, "rb") as f:
            f.seek(8)
            tensor_index = json.loads(f.read(header_len))
        data_end = max(
            (int(v["data_offsets"][1]) for k, v in tensor_index.items() if k != "__metadata__"),
            default=0,
        )
    except Exception:
        return f"the safetensors header is damaged ({error}); {not_checkpoint}"
    if 8 + header_len + data_end > size:
        return truncated
    return f"the safetensors data is damaged ({error}); copy or save the checkpoint again"


def _parse_header(
    path: Path, metadata: Mapping[str, str], shapes: dict[str, tuple[int, ...]]
) -> CheckpointHeader:
    """Check the JSON header field by field; the version first, so newer files say so."""
    fix = "the header is damaged or was edited by hand; save the checkpoint again"

    def fail(problem: str, what_to_do: str = fix) -> CheckpointError:
        return CheckpointError(f"{path}: {problem}; {what_to_do}")

    if METADATA_KEY not in metadata:
        raise fail(
            f"a safetensors file without a Weighter header (no {METADATA_KEY!r} metadata), "
            "so not a Weighter checkpoint",
            "give a checkpoint saved by Weighter Studio",
        )
    try:
        raw = json.loads(metadata[METADATA_KEY])
    except ValueError as e:
        raise fail(f"the Weighter header is not valid JSON ({e})") from None
    if not isinstance(raw, dict):
        raise fail(f"the Weighter header is a JSON {type(raw).__name__}, not an object")
    if raw.get("format") != FORMAT_NAME:
        raise fail(
            f"the header's format is {raw.get('format')!r}, not {FORMAT_NAME!r}, "
            "so not a Weighter checkpoint",
            "give a checkpoint saved by Weighter Studio",
        )

    version = raw.get("format_version")
    if type(version) is not int:
        raise fail(f"the header's format_version is {version!r}, not an integer")
    if version > FORMAT_VERSION:
        raise fail(
            f"format version {version} was written by a newer Weighter Studio "
            f"(this is {__version__}, which reads versions "
            f"{MIN_FORMAT_VERSION} to {FORMAT_VERSION})",
            "upgrade Weighter Studio to load it",
        )
    if version < MIN_FORMAT_VERSION:
        raise fail(
            f"format version {version} is older than this Weighter Studio supports "
            f"(versions {MIN_FORMAT_VERSION} to {FORMAT_VERSION})",
            "convert it with the older Weighter Studio that wrote it, or retrain",
        )

    missing = [name for name in _HEADER_FIELDS if name not in raw]
    if missing:
        raise fail(f"the header is missing {', '.join(missing)}")
    unknown = sorted(set(raw) - set(_HEADER_FIELDS))
    if unknown:
        raise fail(
            f"the header has fields this Weighter Studio does not know: {', '.join(unknown)}",
            "it was probably written by a newer version; upgrade Weighter Studio",
        )

    config_dict = raw["model_config"]
    if not isinstance(config_dict, dict):
        raise fail("the header's model_config is not a JSON object")
    try:
        config = WeighterConfig.from_dict(config_dict)
    except ValueError as e:  # unknown keys
        raise fail(
            f"its model config is not one this Weighter Studio knows ({e})",
            "it was probably written by a newer version; upgrade Weighter Studio",
        ) from None
    except TypeError as e:
        raise fail(f"its model config has values of the wrong type ({e})") from None

    frontend = raw["frontend"]
    if not isinstance(frontend, str) or not frontend:
        raise fail(f"the header's frontend is {frontend!r}, not a front-end name")
    speakers = raw["speakers"]
    if not isinstance(speakers, list) or not all(isinstance(s, str) for s in speakers):
        raise fail("the header's speakers is not a list of names")
    if len(speakers) != config.num_classes:
        raise fail(
            f"the header lists {len(speakers)} speaker(s) but the model config has "
            f"num_classes={config.num_classes}; they must match"
        )
    for name in ("code_version", "created"):
        if not isinstance(raw[name], str):
            raise fail(f"the header's {name} is {raw[name]!r}, not a string")
    if not isinstance(raw["training"], dict):
        raise fail("the header's training info is not a JSON object")

    return CheckpointHeader(
        model_config=config,
        frontend=frontend,
        speakers=tuple(speakers),
        training=raw["training"],
        code_version=raw["code_version"],
        created=raw["created"],
        format_version=version,
        format=raw["format"],
        tensor_shapes=shapes,
    )


def _check_tensors(
    path: Path, file_shapes: Mapping[str, tuple[int, ...]], state: Mapping[str, torch.Tensor]
) -> None:
    """Names and shapes in the file must be exactly those of the model built from its config."""
    expected = {name: tuple(t.shape) for name, t in state.items()}
    missing = [n for n in expected if n not in file_shapes]
    unexpected = [n for n in file_shapes if n not in expected]
    wrong = [
        f"{n} {_shape(file_shapes[n])} in the file vs {_shape(expected[n])} in the model"
        for n in expected
        if n in file_shapes and file_shapes[n] != expected[n]
    ]
    if not (missing or unexpected or wrong):
        return
    parts = []
    for label, items in (
        ("with the wrong shape", wrong),
        ("missing", missing),
        ("unexpected", unexpected),
    ):
        if items:
            listed = "; ".join(items[:_MAX_LISTED])
            more = f"; and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
            parts.append(f"{len(items)} tensor(s) {label}: {listed}{more}")
    raise CheckpointError(
        f"{path}: its tensors do not match the model its config describes ("
        + "; ".join(parts)
        + "); the header or tensors were changed after saving, save it again from the training run"
    )


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


# --- describing -------------------------------------------------------------------


def taught_names(training: Mapping) -> tuple[str, ...]:
    """The speaker names fine-tunes (``--init``, the app's Retrain) added to a model's
    head, as its header's ``training["taught"]`` records them: names worth giving to a
    voice, unlike a training corpus's voices. Anything malformed counts as none."""
    names = training.get("taught", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return ()
    return tuple(names)


def format_header(header: CheckpointHeader, path: str | os.PathLike | None = None) -> str:
    """Readable multi-line description of a checkpoint (what ``weighter info`` prints)."""
    rows: list[tuple[str, str]] = []
    if path is not None:
        path = Path(path)
        rows.append(("file", str(path)))
        try:
            rows.append(("size", _size(path.stat().st_size)))
        except OSError:
            pass
    rows += [
        ("format", f"{header.format} version {header.format_version}"),
        ("code version", header.code_version),
        ("created", header.created or "unknown"),
        ("front-end", header.frontend),
    ]
    if header.tensor_shapes:
        rows.append(
            ("parameters", f"{header.num_parameters:,} in {len(header.tensor_shapes)} tensors")
        )
    speakers = header.speakers
    if speakers:
        shown = ", ".join(speakers[:_SPEAKERS_SHOWN])
        hidden = len(speakers) - _SPEAKERS_SHOWN
        more = f", ... ({hidden} more)" if hidden > 0 else ""
        rows.append(("speakers", f"{len(speakers)}: {shown}{more}"))
    else:
        rows.append(("speakers", "none (no classification head)"))

    lines = _aligned(rows)
    lines.append("model config:")
    lines += _aligned(
        [(k, _value(v)) for k, v in header.model_config.to_dict().items()], indent="  "
    )
    lines.append("training:" if header.training else "training: (none recorded)")
    lines += _aligned([(str(k), _voices(v) if k == "voices" else _value(v)) for k, v in header.training.items()],
                      indent="  ")
    return "\n".join(lines)


def _voices(v: object) -> str:
    """The taught voices' entry in a line, not its numbers."""
    centres = v.get("centres") if isinstance(v, Mapping) else None
    if not isinstance(centres, Mapping):
        return "(malformed)"
    if "encoder" in v:
        return f"{len(centres)} enrolled by voice encoder {v['encoder']}: {', '.join(map(str, centres))}"
    # retrained before voiceprints: centres in the GE2E speaker space, which names no track now
    return f"{len(centres)} enrolled in speaker space {v.get('space')} (not used): {', '.join(map(str, centres))}"


def _aligned(rows: list[tuple[str, str]], indent: str = "") -> list[str]:
    width = max((len(k) for k, _ in rows), default=0) + 1
    return [f"{indent}{(k + ':').ljust(width)} {v}" for k, v in rows]


def _value(v: object) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, (list, tuple)) and all(isinstance(x, (int, float)) for x in v):
        return ", ".join(str(x) for x in v)
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def _size(n: int) -> str:
    if n < 1024:
        return f"{n:,} bytes"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit} ({n:,} bytes)"
