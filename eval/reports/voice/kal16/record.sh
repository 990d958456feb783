#!/usr/bin/env bash
# 40 "recordings" of a voice the demo never used (flite's kal16: the demo corpus speaks flite awb/rms/slt, festival
# slt, espeak-ng and piper joe; tts voice's DiT saw only piper joe): sentences 101-140 of
# data/sentences/test_sentences.txt (the demo's test split speaks sentences 1-27; no split speaks the others).
# Usage: eval/reports/voice/kal16/record.sh DIR   -> DIR/kal_NNN.wav + DIR/kal_NNN.txt
set -euo pipefail
out=${1:?usage: record.sh DIR}
mkdir -p "$out"
grep -v '^#' data/sentences/test_sentences.txt | grep -v '^[[:space:]]*$' | sed -n '101,140p' | {
  i=101
  while IFS= read -r line; do
    flite -voice kal16 -t "$line" -o "$out/kal_$i.wav"
    printf '%s\n' "$line" > "$out/kal_$i.txt"
    i=$((i + 1))
  done
}
