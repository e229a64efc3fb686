#!/usr/bin/env bash
# `make demo`: run the bundled example project's pipeline with Pheme, locally.
#
# 1. copy examples/pheme-api into a temporary git repository and commit it
#    (`pheme run` runs the committed tree, like a push would);
# 2. `pheme validate` and `pheme list` its workflows;
# 3. `pheme run` (a push to main) with PHEME_HOME in the temporary directory;
# 4. `pheme runs` and the build job's log.
# Needs only the project's virtualenv (.venv), python3 and git.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
venv="${VENV:-$root/.venv}"
pheme="$venv/bin/pheme"
[ -x "$pheme" ] || { echo "demo: $pheme not found; run 'make venv' first" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/pheme-demo.XXXXXX")"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

export PHEME_HOME="$work/home"
project="$work/pheme-api"
cp -R "$here/pheme-api" "$project"
cd "$project"
git init -q -b main
git add -A
git -c user.name="Pheme Demo" -c user.email="demo@pheme.invalid" commit -q -m "pheme-api 1.0.0"

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold="" plain=""; fi
step() { printf '\n%s$ %s%s\n' "$bold" "$*" "$plain"; }

step pheme validate
"$pheme" validate

step pheme list
"$pheme" list

step pheme run
"$pheme" run

step pheme runs
"$pheme" runs

step pheme logs 1 --job build
"$pheme" logs 1 --job build | tail -n 15

# --- deployment (the pipeline's deploy job ran `uses: pheme/deploy@v1`: a blue-green deployment to staging
# on the local target, behind Pheme's embedded proxy). PHEME_DEMO_KEEP=1 leaves the service running.
if [ -z "${PHEME_DEMO_KEEP:-}" ]; then
  trap '"$pheme" agent stop >/dev/null 2>&1 || true; cleanup' EXIT
fi

step pheme deployments
"$pheme" deployments

step pheme rollout status api --env staging
"$pheme" rollout status api --env staging

url="$("$pheme" rollout status api --env staging --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["services"][0]["state"]["url"])')"
step "GET $url/version"
python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1] + "/version").read().decode())' "$url"
printf '\n%spheme-api is deployed to staging: %s%s\n' "$bold" "$url" "$plain"
if [ -n "${PHEME_DEMO_KEEP:-}" ]; then
  trap - EXIT
  echo "(left running: PHEME_HOME=$PHEME_HOME; stop it with 'PHEME_HOME=$PHEME_HOME $pheme agent stop')"
fi
