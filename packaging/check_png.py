"""Check that a PNG screenshot is a real picture, not a blank or flat window.

    python3 packaging/check_png.py SHOT.png [--min-colours 64] [--min-size 400x300]

Standard library only (zlib), so it runs beside a bundle with any python3. Reads
8-bit greyscale, RGB and RGBA PNGs without interlacing (what Qt writes). Exit 0 when
the picture is at least --min-size, holds at least --min-colours distinct colours
(sampled every 2nd pixel) and no single colour covers more than 90 % of it.
"""

from __future__ import annotations

import argparse
import struct
import sys
import zlib
from collections import Counter
from pathlib import Path

CHANNELS = {0: 1, 2: 3, 6: 4}  # colour type -> samples per pixel


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_png(path: Path) -> tuple[int, int, int, list[bytes]]:
    """(width, height, bytes per pixel, rows) of an 8-bit non-interlaced PNG."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG file")
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError(f"{path}: no IHDR chunk")
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in CHANNELS or interlace:
        raise ValueError(f"{path}: unsupported PNG (depth {depth}, colour type {colour}, interlace {interlace})")
    bpp = CHANNELS[colour]
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 0xFF
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                up_left = prev[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + _paeth(left, prev[i], up_left)) & 0xFF
        elif kind != 0:
            raise ValueError(f"{path}: bad filter type {kind} in row {y}")
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("png", type=Path)
    parser.add_argument("--min-colours", type=int, default=64)
    parser.add_argument("--min-size", default="400x300", help="WIDTHxHEIGHT")
    args = parser.parse_args(argv)
    min_w, min_h = (int(v) for v in args.min_size.lower().split("x"))
    try:
        width, height, bpp, rows = read_png(args.png)
    except (OSError, ValueError, zlib.error) as exc:
        print(f"FAIL: {exc}")
        return 1
    counts = Counter(
        row[x * bpp : x * bpp + min(bpp, 3)] for row in rows[::2] for x in range(0, width, 2)
    )
    total = sum(counts.values())
    top_share = counts.most_common(1)[0][1] / total
    print(f"{args.png}: {width}x{height}, {len(counts)} distinct colours, commonest covers {top_share:.0%}")
    problems = []
    if width < min_w or height < min_h:
        problems.append(f"smaller than {min_w}x{min_h}")
    if len(counts) < args.min_colours:
        problems.append(f"fewer than {args.min_colours} colours: blank or flat")
    if top_share > 0.9:
        problems.append("one colour covers more than 90 %: blank")
    if problems:
        print("FAIL: " + "; ".join(problems))
        return 1
    print("OK: not blank")
    return 0


if __name__ == "__main__":
    sys.exit(main())
