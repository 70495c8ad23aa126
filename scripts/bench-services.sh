#!/usr/bin/env bash
# Services benchmark: `rbake apply` of a monorepo with many services, each built for two
# platforms (linux/amd64 native, linux/arm64 under qemu) with a RUN step, loaded into the
# engine (one image per platform on Docker 20.10).
#   scripts/bench-services.sh [SERVICES]      default: 32 services (64 builds)
# Phases, RUNS times each (default 3):
#   cold      build cache, images and rbake's cache directory removed first
#   nothing   nothing changed
#   one-file  one file of one service rewritten first
# Prints each run's wall seconds and peak RSS, then the medians.
# Each service: a handful of source files of mixed sizes, a Dockerfile with ARG, COPY and a
# RUN that lists and checksums what was copied, and per-service args and labels.
# Environment: RBAKE (binary), KEEP=1 (keep the workspace).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
root=$PWD
services=${1:-32}
runs=${RUNS:-3}
docker=/usr/bin/docker
[[ -n "${RBAKE:-}" ]] || { cargo build --release --locked -q; RBAKE=$root/target/release/rbake; }
[[ "$RBAKE" == /* ]] || RBAKE=$root/$RBAKE

work=$(mktemp -d /tmp/rbake-bench-services.XXXXXX)
if [[ -n "${KEEP:-}" ]]; then echo "kept in $work"; else trap 'rm -rf "$work"' EXIT; fi
cache=$work/.cache
python3 - "$work" "$services" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(11)
names = [f"svc{i:02d}" for i in range(n)]
for name in names:
    d = os.path.join(root, "services", name)
    os.makedirs(os.path.join(d, "src", "lib"), exist_ok=True)
    for j in range(rng.randint(3, 12)):
        sub = rng.choice(["src", "src/lib", "."])
        with open(os.path.join(d, sub, f"m{j}.txt"), "wb") as f:
            f.write(os.urandom(int(rng.lognormvariate(7, 1.5))))
    with open(os.path.join(d, "Dockerfile"), "w") as f:
        f.write("FROM rbake-test/busybox:${TARGETARCH}\nARG SERVICE\nARG VERSION\n"
                "COPY . /app\nRUN find /app -type f | sort > /manifest && md5sum /manifest > /sum\n"
                "LABEL service=$SERVICE\n")
with open(os.path.join(root, "docker-bake.hcl"), "w") as f:
    f.write('variable "VERSION" {\n  default = "1.0.0"\n}\n\n')
    f.write('group "default" {\n  targets = [%s]\n}\n\n' % ", ".join(f'"{s}"' for s in names))
    f.write('target "_base" {\n  platforms = ["linux/amd64", "linux/arm64"]\n  network = "none"\n'
            '  output = ["type=docker"]\n}\n\n')
    for s in names:
        f.write(f'target "{s}" {{\n  inherits = ["_base"]\n  context = "services/{s}"\n'
                f'  args = {{\n    SERVICE = "{s}"\n    VERSION = VERSION\n  }}\n'
                f'  labels = {{\n    "org.opencontainers.image.title" = "{s}"\n  }}\n'
                f'  tags = ["bench/{s}:${{VERSION}}"]\n}}\n\n')
PY
echo "$services services x 2 platforms"

reset() {
    $docker builder prune -af >/dev/null 2>&1 || true
    $docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '^(bench/svc|rbake.local/)' | xargs -r $docker rmi -f >/dev/null 2>&1 || true
    rm -rf "$cache"
}


declare -A t m
for i in $(seq 1 "$runs"); do
    for phase in cold nothing one-file; do
        case $phase in
            cold) reset ;;
            one-file) echo "change $i $RANDOM" > "$work/services/svc00/src/m0.txt" ;;
        esac
        read -r s r <<<"$(measure_rss "$work" env XDG_CACHE_HOME="$cache" "$RBAKE" apply --progress plain)" || true
        ran=$(grep -c '\] done in' "$work/last.log" || true)
        echo "$phase run $i: ${s}s ${r:-?} MiB ($ran nodes ran)"
        t[$phase]+="$s "
        m[$phase]+="${r:-0} "
    done
done
echo
printf '%-9s %10s %10s\n' phase "seconds" "MiB"
for phase in cold nothing one-file; do
    printf '%-9s %10s %10s\n' "$phase" "$(median ${t[$phase]})" "$(median ${m[$phase]})"
done
