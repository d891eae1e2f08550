#!/usr/bin/env bash
# Rebuild resources/sample/: the short conversation the app and the README open first.
# Non-reserved text-to-speech voices only (the train split), with its exact RTTM.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
.venv/bin/weighter synth "$tmp" --conversations 1 --split train --seed 11 --speakers 3 3 \
    --duration 28 32 --overlap 0.4
mkdir -p resources/sample
cp "$tmp/audio/train_s11_00000.flac" resources/sample/sample.flac
sed 's/train_s11_00000/sample/' "$tmp/rttm/train_s11_00000.rttm" > resources/sample/sample.rttm
ls -l resources/sample
