#!/usr/bin/env bash
# bench.sh boots the test VM and times devbox-quadlet's verbs against the bare
# systemd and podman operations side by side (SPEC §5). It prints medians and
# ratios; it asserts nothing. DEVBOX_BENCH_N sets the repetitions (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
. scripts/go.sh
bash test/vm/e2e.sh bench
