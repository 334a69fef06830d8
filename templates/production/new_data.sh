#!/bin/sh
# Is there data under DATASET_DIR newer than the last run's marker? Writes the newest file's
# modification time (seconds since the epoch) to OUTPUT_FILE when there is, and "none" when not.
# With MARK set, records MARK as the marker instead (after a run succeeded), so data that arrived
# while the run trained is newer than the marker and starts the next run.
# Environment: DATASET_DIR, MARKER_FILE, OUTPUT_FILE; MARK (optional).
set -eu

if [ -n "${MARK:-}" ]; then
    mkdir -p "$(dirname "$MARKER_FILE")"
    printf '%s\n' "$MARK" > "$MARKER_FILE.tmp"
    mv "$MARKER_FILE.tmp" "$MARKER_FILE"
    exit 0
fi

mkdir -p "$(dirname "$OUTPUT_FILE")"
newest=$(find "$DATASET_DIR" -type f -printf '%T@\n' 2>/dev/null | sort -n | tail -n 1)
newest=${newest%%.*}
last=0
if [ -f "$MARKER_FILE" ]; then
    last=$(cat "$MARKER_FILE")
fi
if [ -n "$newest" ] && [ "$newest" -gt "$last" ]; then
    printf '%s' "$newest" > "$OUTPUT_FILE"
else
    printf 'none' > "$OUTPUT_FILE"
fi
