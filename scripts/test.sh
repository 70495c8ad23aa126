#!/usr/bin/env bash
# The project's test command (README): brings up what the tests need on a fresh Debian
# machine (engine, registry, qemu, base images), then runs every test and the lints.
#   scripts/test.sh            everything
#   RBAKE_NO_STACK=1 scripts/test.sh   skip the stack (unit/CLI tests only)
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z "${RBAKE_NO_STACK:-}" ]]; then
    bash scripts/stack.sh install
    bash scripts/stack.sh up
    bash scripts/stack.sh base-images
fi

# Two cores: one job keeps the machine responsive while tests that drive the engine run.
cargo build --release --locked
cargo test --release --locked
cargo clippy --release --locked --all-targets -- -D warnings
cargo fmt --all -- --check
