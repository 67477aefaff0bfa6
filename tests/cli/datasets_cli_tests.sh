#!/usr/bin/env bash
# `bilevel-opt datasets preview`: contact sheets of the hanzi stand-in (from a tiny hand-written fixture, never the
# downloaded data) and of an Omniglot-layout folder (whose drawings are PNG files the binary itself wrote), and
# its refusals: bad names and values, a non-regular --out, damaged folders — exit 2, nothing written.
set -u
bin="$1"
source "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
check_absent() { if [[ -e "$2" ]]; then bad "$1 left $2"; else ok; fi; }
is_png() { if [[ -f "$2" && "$(head -c 8 "$2" | od -An -tx1 | tr -d ' \n')" == 89504e470d0a1a0a ]]; then ok; else bad "$1: $2 is not a PNG"; fi; }

# A data directory with three hanzi characters and a manifest pinning them.
mkdir -p "$tmp/data/hanzi"
cat > "$tmp/data/hanzi/medians.jsonl" <<'EOF'
{"character":"一","medians":[[[100,400],[924,400]]],"radStrokes":[0]}
{"character":"十","medians":[[[100,420],[924,420]],[[512,850],[512,-50]]],"radStrokes":[0,1]}
{"character":"口","medians":[[[220,720],[250,100]],[[240,720],[780,720],[760,120]],[[260,130],[770,130]]]}
EOF
size=$(stat -c %s "$tmp/data/hanzi/medians.jsonl")
sha=$(sha256sum "$tmp/data/hanzi/medians.jsonl" | cut -d' ' -f1)
cat > "$tmp/data/manifest.json" <<EOF
{"sources": [{"name": "hanzi-writer-data", "kind": "npm", "package": "hanzi-writer-data", "version": "2.0.1",
              "files": [{"generator": "hanzi-medians", "path": "hanzi/medians.jsonl", "size": $size, "sha256": "$sha"}]}],
 "datasets": [{"name": "hanzi", "description": "fixture", "source": "hanzi-writer-data", "format": "strokes",
               "files": {"medians": "hanzi/medians.jsonl"}, "train": 40, "test": 20, "features": 784, "classes": 3}]}
EOF

expect "preview hanzi" 0 "wrote .*sheet.png: 2 characters × 20 instances" -- \
  datasets preview hanzi --data-dir "$tmp/data" --out "$tmp/sheet.png" --chars 2 --seed 1
is_png "preview hanzi" "$tmp/sheet.png"
expect "preview hanzi, held-out rows named" 0 "口 \(3 strokes, held out\)" -- \
  datasets preview hanzi --data-dir "$tmp/data" --out "$tmp/sheet.png" --chars 5
expect "datasets list shows hanzi" 0 "hanzi .*present" -- datasets list --data-dir "$tmp/data"
expect "datasets verify hanzi" 0 "all 1 files match" -- datasets verify --data-dir "$tmp/data" hanzi

# An Omniglot folder whose drawings are PNGs the binary wrote.
for part in images_background/Alpha/character01 images_background/Alpha/character02 images_evaluation/Beta/character01; do
  mkdir -p "$tmp/omni/$part"
  for i in 01 02 03; do cp "$tmp/sheet.png" "$tmp/omni/$part/0001_$i.png"; done
done
expect "preview omniglot" 0 "^rows: .*character01 \(images_evaluation/Beta, held out\)" -- \
  datasets preview omniglot --data-dir "$tmp/omni" --out "$tmp/omni.png"
expect "preview omniglot size" 0 "omni.png: 3 characters × 3 instances" -- datasets preview omniglot --data-dir "$tmp/omni" --out "$tmp/omni.png"
is_png "preview omniglot" "$tmp/omni.png"

# Refusals: exit 2, the message names the problem, nothing written.
expect "unknown dataset" 2 "unknown character dataset 'kanji' \(valid: hanzi, omniglot\)" -- \
  datasets preview kanji --out "$tmp/x.png"
expect "bad --chars" 2 "--chars must lie in" -- datasets preview hanzi --data-dir "$tmp/data" --chars 0 --out "$tmp/x.png"
check_absent "refusals" "$tmp/x.png"
mkdir "$tmp/adir"
expect "--out is a directory" 2 "exists and is not a regular file" -- \
  datasets preview hanzi --data-dir "$tmp/data" --out "$tmp/adir"
mkfifo "$tmp/fifo"
expect "--out is a fifo" 2 "exists and is not a regular file" -- datasets preview hanzi --data-dir "$tmp/data" --out "$tmp/fifo"
if [[ -p "$tmp/fifo" ]]; then ok; else bad "the fifo was replaced"; fi
expect "--out in a missing directory" 2 "no directory" -- \
  datasets preview hanzi --data-dir "$tmp/data" --out "$tmp/none/x.png"
expect "missing Omniglot folder" 2 "nowhere: no such directory \(expected the Omniglot folder" -- \
  datasets preview omniglot --data-dir "$tmp/nowhere" --out "$tmp/y.png"
mkdir -p "$tmp/omni/images_background/Empty"
expect "empty alphabet" 2 "images_background/Empty: empty alphabet" -- \
  datasets preview omniglot --data-dir "$tmp/omni" --out "$tmp/y.png"
rmdir "$tmp/omni/images_background/Empty"
head -c 100 "$tmp/sheet.png" > "$tmp/omni/images_evaluation/Beta/character01/0001_02.png"
expect "corrupt PNG" 2 "Beta/character01/0001_02.png: corrupt or invalid PNG" -- \
  datasets preview omniglot --data-dir "$tmp/omni" --out "$tmp/y.png"
check_absent "damaged folders" "$tmp/y.png"
printf 'x' >> "$tmp/data/hanzi/medians.jsonl"
expect "damaged hanzi file" 2 "hanzi/medians.jsonl: wrong size: .*make data DATA_DIR=" -- \
  datasets preview hanzi --data-dir "$tmp/data" --out "$tmp/y.png"
check_absent "damaged hanzi" "$tmp/y.png"
expect "no hanzi data" 2 "no dataset manifest|make data" -- datasets preview hanzi --data-dir "$tmp/empty" --out "$tmp/y.png"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
