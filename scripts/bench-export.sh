#!/usr/bin/env bash
# Export benchmark: peak memory of `rbake apply` writing a large image's filesystem with
# `type=local` and with `type=tar` (BuildKit's exporters, streamed through the session),
# against `docker buildx bake` exporting the same image on the same engine.
#   scripts/bench-export.sh [MIB]        default: 1024 MiB in 8 files of random data
# The image is built once (`RUN dd` from /dev/urandom in a busybox stage, copied into a
# `FROM scratch` stage); each measured rbake run finds that build up to date and only
# exports, so the figure is the export's. Prints wall seconds and peak RSS (/usr/bin/time;
# for buildx that is the buildx plugin) per run.
# Environment: RBAKE (binary), DOCKER_HOST (engine; default the 20.10 socket), KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
root=$PWD
mib=${1:-1024}
docker=/usr/bin/docker
[[ -n "${RBAKE:-}" ]] || { cargo build --release --locked -q; RBAKE=$root/target/release/rbake; }
[[ "$RBAKE" == /* ]] || RBAKE=$root/$RBAKE
host=${DOCKER_HOST:-unix:///var/run/docker.sock}

work=$(mktemp -d /tmp/rbake-bench-export.XXXXXX)
# The build's anchor image (rbake keeps it to keep the build cached) is removed at the end.
hash=$(printf '%s' "$work" | sha256sum | cut -c1-8)
anchor=rbake.local/cache-$hash/big:linux-amd64
cleanup() { DOCKER_HOST=$host $docker image rm -f "$anchor" >/dev/null 2>&1 || true; rm -rf "$work"; }
if [[ -n "${KEEP:-}" ]]; then echo "kept in $work"; else trap cleanup EXIT; fi
mkdir -p "$work/app"
each=$((mib / 8))
cat > "$work/app/Dockerfile" <<DF
FROM rbake-test/busybox:amd64 AS data
RUN for i in 1 2 3 4 5 6 7 8; do dd if=/dev/urandom of=/big\$i bs=1M count=$each 2>/dev/null; done
FROM scratch
COPY --from=data /big1 /big2 /big3 /big4 /big5 /big6 /big7 /big8 /data/
DF
cat > "$work/docker-bake.hcl" <<HCL
variable "OUT" {
  default = "out"
}
target "big" {
  context = "app"
  network = "none"
  output  = ["type=local,dest=\${OUT}"]
}
# buildx exports the image rbake built (its docker driver here ignores network = "none", so
# it cannot run the RUN itself).
target "big-bx" {
  context           = "app"
  dockerfile-inline = "FROM $anchor"
}
HCL
printf 'builder "bench" {\n  endpoint  = "%s"\n  platforms = ["linux/amd64"]\n}\n' "$host" > "$work/build.hcl"

echo "building the ${mib} MiB image once"
(cd "$work" && "$RBAKE" apply big --progress plain >"$work/build.log" 2>&1) || { tail -5 "$work/build.log"; exit 1; }
rm -rf "$work/out"

for kind in local tar; do
    dest=out-$kind
    [[ $kind == tar ]] && dest=out.tar
    r=$(measure_rss "$work" env OUT=x "$RBAKE" apply big --progress plain --set "big.output=type=$kind,dest=$dest")
    size=$(du -sm "$work/$dest" | cut -f1)
    echo "rbake  $kind: $r (seconds, peak MiB); ${size} MiB written"
    rm -rf "${work:?}/$dest"
    r=$(DOCKER_HOST=$host measure_rss "$work" $docker buildx bake -f docker-bake.hcl --progress plain --set "big-bx.output=type=$kind,dest=$dest" big-bx)
    echo "buildx $kind: $r (seconds, peak MiB)"
    rm -rf "${work:?}/$dest"
done
