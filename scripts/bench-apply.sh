#!/usr/bin/env bash
# Apply benchmark: `rbake apply` against `docker buildx bake` on the same engine (Docker
# 20.10, docker driver) for the same per-platform targets: 8 targets x 2 platforms
# (linux/amd64 native, linux/arm64 under qemu) = 16 single-platform targets loaded into the
# engine, since buildx's docker driver refuses multi-platform builds.
#   scripts/bench-apply.sh            RUNS=3 cold and 5 cached runs of each tool
# Cold: the build cache and the built images are removed before every run. Cached: the
# same build again with everything cached. Prints medians and the buildx/rbake ratio.
# Needs the stack (scripts/stack.sh up base-images) and buildx (stack.sh install).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
root=$PWD
cold_runs=${RUNS:-3}
cached_runs=${CACHED_RUNS:-5}
docker=/usr/bin/docker
[[ -n "${RBAKE:-}" ]] || { cargo build --release --locked -q; RBAKE=$root/target/release/rbake; }

work=$(mktemp -d /tmp/rbake-bench-apply.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/app"
# No RUN step: the engines here run with `--bridge none`, and buildx 0.13 bake has no
# `network` attribute, so a RUN would fail under buildx. Without RUN both tools do the same
# engine work (context transfer, FROM, COPY, export), so the difference is client overhead.
for f in $(seq 1 20); do head -c 4096 /dev/urandom | base64 > "$work/app/file$f.txt"; done
cat > "$work/app/Dockerfile" <<'DOCKERFILE'
FROM rbake-test/busybox:${TARGETARCH}
ARG N
ENV N=$N
COPY . /src
LABEL bench.n=$N
DOCKERFILE
{
    echo 'group "default" {'
    printf '  targets = ['
    for i in $(seq 0 7); do for a in amd64 arm64; do printf '"t%s-%s", ' "$i" "$a"; done; done
    echo ']'
    echo '}'
    for i in $(seq 0 7); do
        for a in amd64 arm64; do
            cat <<TARGET
target "t$i-$a" {
  context   = "app"
  platforms = ["linux/$a"]
  args      = { N = "$i" }
  tags      = ["bench/t$i:$a"]
  output    = ["type=docker"]
  network   = "none"
}
TARGET
        done
    done
} > "$work/docker-bake.hcl"

reset() {
    $docker builder prune -af >/dev/null 2>&1 || true
    $docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '^(bench/|rbake.local/t)' | xargs -r $docker rmi -f >/dev/null 2>&1 || true
}

# time_run LABEL CMD...: prints the wall seconds of one run, or FAIL.
time_run() {
    local start end
    shift
    start=$(date +%s.%N)
    if (cd "$work" && "$@") >"$work/last.log" 2>&1; then
        end=$(date +%s.%N)
        python3 -c "print(f'{$end - $start:.2f}')"
    else
        echo FAIL
        tail -n 3 "$work/last.log" >&2
    fi
}


declare -A results
for tool in rbake buildx; do
    if [[ $tool == rbake ]]; then cmd=("$RBAKE" apply --progress plain); else cmd=($docker buildx bake --progress plain); fi
    cold=()
    for _ in $(seq 1 "$cold_runs"); do reset; cold+=("$(time_run "$tool" "${cmd[@]}")"); done
    cached=()
    for _ in $(seq 1 "$cached_runs"); do cached+=("$(time_run "$tool" "${cmd[@]}")"); done
    results[$tool-cold]=$(median "${cold[@]}")
    results[$tool-cached]=$(median "${cached[@]}")
    echo "$tool cold runs: ${cold[*]}   cached runs: ${cached[*]}"
done
echo
printf '%-8s %12s %12s\n' "" "cold (s)" "cached (s)"
for tool in rbake buildx; do printf '%-8s %12s %12s\n' "$tool" "${results[$tool-cold]}" "${results[$tool-cached]}"; done
python3 - "${results[buildx-cold]}" "${results[rbake-cold]}" "${results[buildx-cached]}" "${results[rbake-cached]}" <<'PY'
import sys
def ratio(a, b):
    try:
        return f"{float(a) / float(b):.2f}x"
    except (ValueError, ZeroDivisionError):
        return "n/a"
print(f"{'buildx/rbake':<8} {ratio(sys.argv[1], sys.argv[2]):>12} {ratio(sys.argv[3], sys.argv[4]):>12}")
PY
