#!/usr/bin/env bash
# rbake's main job on the multi-arch example, on a fresh Debian machine (as root): brings up
# the local engine, registry and qemu, builds linux/amd64, linux/arm64 and linux/arm/v7,
# pushes them as one tag and loads one image per architecture into the engine.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/stack.sh install up base-images
cargo build --release --locked
rbake=$PWD/target/release/rbake

cd examples/multiarch
"$rbake" plan --probe release local
"$rbake" apply --progress plain --metadata-file /tmp/rbake-demo-metadata.json release local

echo
echo "The registry serves one tag for three platforms:"
curl -fsS -H 'Accept: application/vnd.oci.image.index.v1+json' \
    http://127.0.0.1:5000/v2/demo/hello/manifests/1.0.0 |
    python3 -c 'import json, sys; idx = json.load(sys.stdin); [print("  ", m["platform"]["os"] + "/" + m["platform"]["architecture"] + ("/" + m["platform"]["variant"] if "variant" in m["platform"] else ""), m["digest"]) for m in idx["manifests"]]'
echo "The engine holds one image per architecture:"
/usr/bin/docker images demo/hello --format '   {{.Repository}}:{{.Tag}}  {{.ID}}'
