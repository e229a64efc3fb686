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
