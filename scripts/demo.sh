#!/usr/bin/env bash
# demo.sh is the main job in one command: it installs what it needs, builds
# devbox-quadlet and the trixie VM (first run only, about 2 minutes), boots the
# VM and, inside it, creates, lists, stops, starts and destroys a real container.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
. scripts/go.sh
bash test/vm/e2e.sh demo
