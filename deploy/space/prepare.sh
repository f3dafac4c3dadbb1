#!/usr/bin/env bash
# Lay out a Hugging Face Space (Streamlit SDK) from this checkout, with the offline demo built ahead of time.
#   deploy/space/prepare.sh OUT_DIR        then: cd OUT_DIR && git init && git lfs track "*.pkl" ... && git push
# Needs the project's venv (make setup). SKIP_DEMO=1 lays out the files only (the demo build takes 6-7 minutes).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:?usage: prepare.sh OUT_DIR}"
python="${PYTHON:-$root/.venv/bin/python}"
mkdir -p "$out"
# The tracked files of this checkout (no venv, caches or artifacts), then the Space's own README and requirements.
git -C "$root" ls-files -z | (cd "$root" && xargs -0 cp --parents -t "$out")
cp "$here/README.md" "$out/README.md"
cp "$here/requirements.txt" "$out/requirements.txt"
# Streamlit's per-file upload limit for a public server (the Space runs plain `streamlit run`, not facefake serve).
sed -i 's/^maxUploadSize = .*/maxUploadSize = 50/' "$out/.streamlit/config.toml"
printf '\n[client]\nshowErrorDetails = "none"\ntoolbarMode = "minimal"\n' >> "$out/.streamlit/config.toml"
printf '%s\n' '*.pkl filter=lfs diff=lfs merge=lfs -text' '*.png filter=lfs diff=lfs merge=lfs -text' > "$out/.gitattributes"
if [ "${SKIP_DEMO:-0}" != 1 ]; then
  PYTHONPATH="$root" "$python" -m facefake_core demo build --out "$out/demo"
fi
echo "Space laid out in $out. Set the Space variables FACEFAKE_PUBLIC=1 (on by default in a Space) and FACEFAKE_DEMO_DIR=demo."
