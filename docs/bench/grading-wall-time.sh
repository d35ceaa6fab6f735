#!/usr/bin/env bash
# Wall time of `aisec check --all` on the reference solutions, for two builds of aisec side by
# side: this checkout and another (an older commit, say), runs alternated so that both see the
# same machine load. Prints every run and the medians.
#
#   docs/bench/grading-wall-time.sh /path/to/other/checkout [runs] [seed]
#
# Both checkouts must be built (`cargo build --release`). Each is copied once to a temporary
# folder with the reference solutions in place of the stubs; one untimed run per copy builds
# its checkers and runners first, in that checkout's own target folder.
set -euo pipefail

here="$(cd "$(dirname "$0")/../.." && pwd)"
other="$(cd "${1:?usage: $0 OTHER_CHECKOUT [RUNS] [SEED]}" && pwd)"
runs="${2:-5}"
seed="${3:-1}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

prepare() { # checkout name
    local lab="$work/$2"
    mkdir -p "$lab"
    tar -C "$1" --exclude=./target --exclude=./.git --exclude=./out -cf - . | tar -C "$lab" -xf -
    for solution in "$lab"/solutions/*/; do
        id="$(basename "$solution")"
        cp "$solution/src/lib.rs" "$lab/exercises/$id/src/lib.rs"
    done
}

timed() { # checkout name -> seconds
    local start end
    start="$(date +%s.%N)"
    CARGO_TARGET_DIR="$1/target" "$1/target/release/aisec" --lab "$work/$2" \
        check --all --seed "$seed" --format json > "$work/$2.json" 2> "$work/$2.err" || true
    end="$(date +%s.%N)"
    grep -q '"verdict": "passed"' "$work/$2.json" || { echo "$2: no exercise passed" >&2; cat "$work/$2.err" >&2; exit 1; }
    echo "$end - $start" | bc
}

prepare "$here" this
prepare "$other" other
timed "$here" this > /dev/null
timed "$other" other > /dev/null

declare -a this_runs other_runs
for i in $(seq "$runs"); do
    other_runs+=("$(timed "$other" other)")
    this_runs+=("$(timed "$here" this)")
    echo "run $i: this ${this_runs[-1]} s, other ${other_runs[-1]} s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
echo "median: this $(median "${this_runs[@]}") s, other $(median "${other_runs[@]}") s ($runs runs, seed $seed)"
