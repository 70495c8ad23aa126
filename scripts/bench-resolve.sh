#!/usr/bin/env bash
# Resolve benchmark: `rbake print -f FILE` against `docker buildx bake --print -f FILE` on
# generated bake files, in two shapes (1 matrix in 10 blocks in both):
#   realistic  benches/gen_realistic.py: computed variable defaults, user functions called
#              by every target, depth-3 inherits, args/labels/tags/cache-from/cache-to
#   simple     benches/gen.py resolve: a few variables, inherits chains, args and labels
#   scripts/bench-resolve.sh [SIZES...]      default: 100 1000 5000 target blocks
# Environment:
#   SHAPES="realistic simple"  the shapes to run, in order
#   RBAKE=PATH          binary to time (default: target/release/rbake, built with -j1)
#   RUNS=7              timed runs of rbake per size (plus one untimed warm-up)
#   BUILDX_RUNS=7       timed runs of buildx per size below 5000 blocks
#   BUILDX_RUNS_LARGE=3 timed runs of buildx from 5000 blocks up (~40 s each)
#   NO_BUILDX=1         time rbake only
#   KEEP=1              keep the generated files (the folder is printed)
# Prints a table of medians (wall ms from spawn to exit; CPU ms = user + system), peak RSS
# (wait4's ru_maxrss, as /usr/bin/time -v reports it) and buildx/rbake ratios. Method and
# recorded numbers: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
sizes=("$@")
[[ ${#sizes[@]} -gt 0 ]] || sizes=(100 1000 5000)
shapes=(${SHAPES:-realistic simple})
runs=${RUNS:-7}
buildx_runs=${BUILDX_RUNS:-7}
buildx_runs_large=${BUILDX_RUNS_LARGE:-3}

if [[ -z "${RBAKE:-}" ]]; then
    cargo build --release --locked -j1 -q
    RBAKE=$root/target/release/rbake
fi
[[ "$RBAKE" == /* ]] || RBAKE=$root/$RBAKE
have_buildx=0
if [[ -z "${NO_BUILDX:-}" ]] && docker buildx version >/dev/null 2>&1; then
    have_buildx=1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/rbake-bench-resolve.XXXXXX")
if [[ -n "${KEEP:-}" ]]; then echo "inputs kept in $work"; else trap 'rm -rf "$work"' EXIT; fi

field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

echo "rbake: $RBAKE ($("$RBAKE" --version 2>/dev/null || echo '?'))"
[[ $have_buildx == 1 ]] && echo "buildx: $(docker buildx version 2>/dev/null)"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
echo
rows=()
for shape in "${shapes[@]}"; do
for n in "${sizes[@]}"; do
    dir=$work/$shape-$n
    case $shape in
        realistic) python3 benches/gen.py realistic "$n" "$dir" ;;
        simple) python3 benches/gen.py resolve "$n" "$dir" ;;
        *) echo "unknown shape $shape (realistic, simple)" >&2; exit 2 ;;
    esac
    printed=$((n + 3 * (n / 10)))
    kb=$(( $(stat -c %s "$dir/docker-bake.hcl") / 1024 ))
    # Untimed first run of each tool: warms the page cache and gives the outputs to compare.
    (cd "$dir" && env -i PATH="$PATH" HOME="$HOME" "$RBAKE" print -f docker-bake.hcl >rbake.json)
    r=$(python3 benches/measure.py "$runs" "$dir" -- "$RBAKE" print -f docker-bake.hcl)
    r_wall=$(field median_wall_ms <<<"$r")
    r_cpu=$(field median_cpu_ms <<<"$r")
    r_rss=$(field max_rss_kb <<<"$r")
    echo "rbake  $shape $n blocks: wall ms $(field wall_ms <<<"$r")"
    b_wall=- b_rss=- ratio=- same=-
    if [[ $have_buildx == 1 ]]; then
        (cd "$dir" && env -i PATH="$PATH" HOME="$HOME" docker buildx bake --print -f docker-bake.hcl >buildx.json 2>/dev/null)
        same=$(python3 benches/compare.py "$dir/rbake.json" "$dir/buildx.json" || true)
        k=$buildx_runs
        [[ $n -ge 5000 ]] && k=$buildx_runs_large
        b=$(python3 benches/measure.py "$k" "$dir" -- docker buildx bake --print -f docker-bake.hcl)
        b_wall=$(field median_wall_ms <<<"$b")
        b_rss=$(mb "$(field max_rss_kb <<<"$b")")
        ratio=$(awk -v b="$b_wall" -v r="$r_wall" 'BEGIN { printf "%.0fx", b / r }')
        echo "buildx $shape $n blocks: wall ms $(field wall_ms <<<"$b")"
        echo "output $shape $n blocks: $same"
    fi
    per=$(awk -v w="$r_wall" -v p="$printed" 'BEGIN { printf "%.1f", w * 1000 / p }')
    rows+=("$(printf '| %9s | %6s | %7s | %6s | %9s | %7s | %8s | %7s | %9s | %8s | %7s | %s |' \
        "$shape" "$n" "$printed" "$kb" "$r_wall" "$r_cpu" "$per" "$(mb "$r_rss")" "$b_wall" "$b_rss" "$ratio" "$same")")
done
done
echo
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at end; medians of $runs rbake runs, $buildx_runs buildx runs ($buildx_runs_large from 5000 blocks)"
echo
echo "| shape | blocks | printed | file KB | rbake ms | CPU ms | us/target | RSS MB | buildx ms | RSS MB | buildx/rbake | output |"
echo "|---|-------:|--------:|-------:|---------:|-------:|---------:|-------:|----------:|-------:|-------:|---|"
printf '%s\n' "${rows[@]}"
