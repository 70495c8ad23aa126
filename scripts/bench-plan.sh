#!/usr/bin/env bash
# Plan benchmark: `rbake plan -f build.hcl --format json` (declared capabilities, no --probe,
# no engine) on a generated spec (benches/gen.py plan: 1-3 platforms per target, registry
# pushes, multi-platform docker loads, OCI exports, target: contexts, two builders), run
# from the generated folder, where every context and Dockerfile exists.
#   scripts/bench-plan.sh [SIZES...]     default: 1000 targets
# Environment:
#   RBAKE=PATH      binary to time (default: target/release/rbake, built with -j1)
#   RUNS=9          timed runs per size (plus one untimed warm-up)
#   IN_PROCESS=1    also run the stage timings of `cargo bench --bench pipeline` on the
#                   same spec (compiles the bench binary first: minutes on 2 cores)
#   KEEP=1          keep the generated files (the folder is printed)
# Prints a table of medians (wall ms from spawn to exit; CPU ms = user + system) and peak
# RSS (wait4's ru_maxrss, as /usr/bin/time -v reports it). Method and recorded numbers:
# docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
sizes=("$@")
[[ ${#sizes[@]} -gt 0 ]] || sizes=(1000)
runs=${RUNS:-9}

if [[ -z "${RBAKE:-}" ]]; then
    cargo build --release --locked -j1 -q
    RBAKE=$root/target/release/rbake
fi
[[ "$RBAKE" == /* ]] || RBAKE=$root/$RBAKE

work=$(mktemp -d "${TMPDIR:-/tmp}/rbake-bench-plan.XXXXXX")
if [[ -n "${KEEP:-}" ]]; then echo "inputs kept in $work"; else trap 'rm -rf "$work"' EXIT; fi

field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

echo "rbake: $RBAKE ($("$RBAKE" --version 2>/dev/null || echo '?'))"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
echo
rows=()
for n in "${sizes[@]}"; do
    dir=$work/$n
    python3 benches/gen.py plan "$n" "$dir"
    # Untimed first run: warms the page cache, shows the plan's size and any diagnostics.
    (cd "$dir" && env -i PATH="$PATH" HOME="$HOME" "$RBAKE" plan -f build.hcl --format json >plan.json 2>plan.err)
    diags=$(grep -cE '^ *(×|⚠)' "$dir/plan.err" || true)
    summary=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]; print(", ".join("%s %s" % (v, k) for k, v in s.items()))' "$dir/plan.json")
    out_kb=$(( $(stat -c %s "$dir/plan.json") / 1024 ))
    r=$(python3 benches/measure.py "$runs" "$dir" -- "$RBAKE" plan -f build.hcl --format json)
    echo "plan $n targets: wall ms $(field wall_ms <<<"$r")"
    echo "plan $n targets: $summary; $diags diagnostics; JSON $out_kb KB"
    rows+=("$(printf '| %6s | %9s | %7s | %6s | %7s | %s |' \
        "$n" "$(field median_wall_ms <<<"$r")" "$(field min_wall_ms <<<"$r")" \
        "$(field median_cpu_ms <<<"$r")" "$(mb "$(field max_rss_kb <<<"$r")")" "$summary")")
    if [[ -n "${IN_PROCESS:-}" ]]; then
        RBAKE_BENCH_RUNS=$runs cargo bench --locked -j1 -q --bench pipeline -- plan "$dir/build.hcl"
    fi
done
echo
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at end; medians of $runs runs"
echo
echo "| targets | median ms | min ms | CPU ms | RSS MB | plan |"
echo "|-------:|---------:|-------:|-------:|-------:|---|"
printf '%s\n' "${rows[@]}"
