#!/usr/bin/env bash
# Seconds from `worldsim play` starting to its first frame on screen, with worldsim's caches empty:
# the window is screenshot after the first tick and play exits, so the wall time bounds it.
#   bash scripts/first_picture.sh            # needs xvfb-run; an installed worldsim (README's set-up)
set -euo pipefail
cache="$HOME/.cache/worldsim"
[ -d "$cache" ] && mv "$cache" "$cache.first_picture_bak"
trap '[ -d "$cache.first_picture_bak" ] && rm -rf "$cache" && mv "$cache.first_picture_bak" "$cache"' EXIT
out=$(mktemp -d)
start=$(date +%s.%N)
xvfb-run -a -s '-screen 0 1280x720x24' worldsim play --ticks 1 --screenshot "$out/first.png" > "$out/play.txt" 2>&1
end=$(date +%s.%N)
[ -s "$out/first.png" ] || { echo "no screenshot: $(tail -n 1 "$out/play.txt")"; exit 1; }
echo "first picture within $(python3 -c "print(round($end - $start, 2))") s ($(tail -n 1 "$out/play.txt" | cut -c1-80)); screenshot $out/first.png"
