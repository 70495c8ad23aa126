#!/usr/bin/env bash
# Context benchmark: `rbake apply` against `docker buildx bake` on the same engine for one
# target whose context is large: `FROM scratch` + `COPY . /data`, loaded into the engine.
#   scripts/bench-context.sh [MIB] [FILES]     default: 200 MiB in 2000 files
# Phases, each RUNS times (default 3) per tool; each tool runs the three phases in turn:
#   first    the build cache, the image and rbake's cache directory removed first
#   one-file one small file rewritten before the run
#   nothing  nothing changed
# Prints each run's wall seconds and peak RSS (the largest process, as /usr/bin/time -v
# reports it; for buildx that is the buildx plugin), then the medians.
# The context: a source-tree-like layout (nested directories, a few big files, many small
# ones, sizes drawn from a log-normal distribution, random content so nothing compresses),
# with a `.dockerignore` excluding one directory and a pattern.
# Environment: RBAKE (binary), DOCKER_HOST (engine; default the 20.10 socket), KEEP=1,
#   CONTEXT=DIR  copy an existing tree (a real project) as the context instead of generating one.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
root=$PWD
mib=${1:-200}
files=${2:-2000}
runs=${RUNS:-3}
docker=/usr/bin/docker
[[ -n "${RBAKE:-}" ]] || { cargo build --release --locked -q; RBAKE=$root/target/release/rbake; }
[[ "$RBAKE" == /* ]] || RBAKE=$root/$RBAKE

work=$(mktemp -d /tmp/rbake-bench-context.XXXXXX)
if [[ -n "${KEEP:-}" ]]; then echo "kept in $work"; else trap 'rm -rf "$work"' EXIT; fi
if [[ -n "${CONTEXT:-}" ]]; then
    mkdir -p "$work/app"
    cp -a "$CONTEXT"/. "$work/app/"
    printf 'version 0\n' > "$work/app/small.txt"
    printf 'FROM scratch\nCOPY . /data\n' > "$work/app/Dockerfile"
else
python3 - "$work/app" "$mib" "$files" <<'PY'
import os, random, sys
root, mib, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(7)
# Sizes: log-normal (many small files, a long tail), scaled to the total.
raw = [rng.lognormvariate(9, 2.0) for _ in range(n)]
scale = mib * 1024 * 1024 / sum(raw)
sizes = [max(1, int(s * scale)) for s in raw]
dirs = ["src", "src/core", "src/core/io", "src/ui", "src/ui/widgets", "assets/img",
        "assets/fonts", "docs", "docs/api", "vendor/lib/a", "vendor/lib/b", "test/data",
        "build/cache", "logs"]
exts = [".c", ".h", ".py", ".json", ".png", ".md", ".txt", ".bin", ".log"]
for d in dirs:
    os.makedirs(os.path.join(root, d), exist_ok=True)
os.makedirs(os.path.join(root, "empty/dir"), exist_ok=True)
for i, size in enumerate(sizes):
    d = rng.choice(dirs)
    name = f"f{i:05d}{rng.choice(exts)}"
    with open(os.path.join(root, d, name), "wb") as f:
        f.write(os.urandom(size))
    if i % 97 == 0:
        os.chmod(os.path.join(root, d, name), 0o755)
os.symlink("src/core", os.path.join(root, "core-link"))
with open(os.path.join(root, "small.txt"), "w") as f:
    f.write("version 0\n")
with open(os.path.join(root, ".dockerignore"), "w") as f:
    f.write("build/cache\n*.log\n")
with open(os.path.join(root, "Dockerfile"), "w") as f:
    f.write("FROM scratch\nCOPY . /data\n")
PY
fi
cat > "$work/docker-bake.hcl" <<'HCL'
target "default" {
  context = "app"
  tags    = ["bench/context:latest"]
  output  = ["type=docker"]
}
HCL
echo "context: $(du -sh --apparent-size "$work/app" | cut -f1) in $(find "$work/app" -type f | wc -l) files"

reset() {
    $docker builder prune -af >/dev/null 2>&1 || true
    $docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '^(bench/context|rbake.local/)' | xargs -r $docker rmi -f >/dev/null 2>&1 || true
    rm -rf "$work/.cache"
}


# Each tool in turn runs the three phases, so each finds the cache state its own previous
# run left (a reset between two tools' runs would otherwise wipe the other's transfer cache).
declare -A t m
for i in $(seq 1 "$runs"); do
    for tool in rbake buildx; do
        for phase in first one-file nothing; do
            case $phase in
                first) reset ;;
                one-file) echo "version $tool $i $RANDOM" > "$work/app/small.txt" ;;
            esac
            if [[ $tool == rbake ]]; then cmd=(env XDG_CACHE_HOME="$work/.cache" "$RBAKE" apply --progress plain); else cmd=($docker buildx bake --progress plain); fi
            read -r s r <<<"$(measure_rss "$work" "${cmd[@]}")" || true
            echo "$phase $tool run $i: ${s}s ${r:-?} MiB"
            t[$phase-$tool]+="$s "
            m[$phase-$tool]+="${r:-0} "
        done
    done
done
echo
printf '%-9s %10s %12s %10s %12s %8s\n' phase "rbake s" "rbake MiB" "buildx s" "buildx MiB" "ratio"
for phase in first one-file nothing; do
    rs=$(median ${t[$phase-rbake]}); bs=$(median ${t[$phase-buildx]})
    rm_=$(median ${m[$phase-rbake]}); bm=$(median ${m[$phase-buildx]})
    ratio=$(python3 -c "print(f'{float(\"$bs\")/float(\"$rs\"):.2f}x')" 2>/dev/null || echo n/a)
    printf '%-9s %10s %12s %10s %12s %8s\n' "$phase" "$rs" "$rm_" "$bs" "$bm" "$ratio"
done
echo "(ratio: buildx time / rbake time; above 1 means rbake is faster)"
