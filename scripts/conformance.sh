#!/usr/bin/env bash
# Runs the shared bake conformance corpora against the release build and compares the
# pass counts with .ci/conformance-baseline.
#   scripts/conformance.sh           print the counts
#   scripts/conformance.sh --check   fail if any count fell below the baseline
#   scripts/conformance.sh --update  record the current counts as the baseline
set -uo pipefail
cd "$(dirname "$0")/.."
shared=${SHARED:-../shared}
baseline=.ci/conformance-baseline
[[ -x target/release/rbake ]] || cargo build --release --locked -q

declare -A dirs=(
    [cases]="$shared/conformance/cases"
    [newer]="$shared/conformance/newer"
    [real-world]="$shared/corpus/real-world"
)
status=0
report=""
for name in cases newer real-world; do
    dir=${dirs[$name]}
    [[ -d "$dir" ]] || continue
    out=$(RBAKE=target/release/rbake bash "$shared/conformance/run.sh" "$dir" 2>&1)
    summary=$(tail -n1 <<<"$out")
    passed=${summary%% passed*}
    echo "$out" | grep '^FAIL' | sed "s/^/[$name] /"
    failed=${summary#*passed, }
    failed=${failed%% failed*}
    # Phrased as a match count: the corpora record known differences, not test failures.
    echo "conformance $name: $passed of $((passed + failed)) cases match"
    report+="$name $passed"$'\n'
    if [[ "${1:-}" == "--check" && -f $baseline ]]; then
        want=$(awk -v n="$name" '$1 == n { print $2 }' "$baseline")
        if [[ -n "$want" && "$passed" -lt "$want" ]]; then
            echo "conformance $name: $passed passed, below the recorded $want" >&2
            status=1
        fi
    fi
done
if [[ "${1:-}" == "--update" ]]; then
    printf '%s' "$report" > "$baseline"
    echo "recorded:"; cat "$baseline"
fi
if [[ $status -eq 0 ]]; then
    echo "conformance ratchet: no corpus fell below .ci/conformance-baseline"
fi
exit $status
