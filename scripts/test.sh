#!/usr/bin/env bash
# test.sh runs every check of the project: formatting and linters, the unit
# tests and fuzzers, and the end-to-end suite inside the trixie VM. It is what
# .ci/run calls. Run it as root on a Debian/Ubuntu machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
. scripts/go.sh

step() { printf '\n==== %s\n' "$*"; }

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './build/*'))
if [ -n "$unformatted" ]; then echo "not gofmt-clean: $unformatted"; exit 1; fi

step "go vet"
go vet ./...
go vet -tags e2e ./test/e2e

step "staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 -tags e2e ./test/e2e

step "nix: parse gate, nix/lib tests and goldens, users.nix against the Go validator (docs/nix.md)"
bash scripts/nix-check.sh
bash test/nix/flake-outputs.sh

step "unit tests"
mkdir -p build/cover
go test -count=1 -coverpkg=./internal/... -coverprofile=build/cover/unit.out ./...

step "fuzz (a few seconds per target)"
for target in \
	./internal/policy:FuzzValidateName \
	./internal/config:FuzzParse \
	./internal/config:FuzzParseDuration \
	./internal/devboxinit:FuzzParseNetTCP; do
	pkg=${target%%:*} fn=${target##*:}
	go test -run '^$' -fuzz "^$fn\$" -fuzztime "${DEVBOX_FUZZTIME:-5s}" "$pkg"
done

step "make install: the trees README.md describes"
bash test/install/check-tree.sh

step "end-to-end suite in the trixie VM (systemd 257, podman 5.4)"
bash test/vm/e2e.sh test

step "coverage: unit tests plus the edge tests run in the VM (internal/sd against the real user manager)"
go run ./test/cover -profile build/cover/unit.out -profile build/vm-test/share/out/sd-e2e.cover \
	internal/lifecycle internal/agent internal/agentclient internal/agentd internal/sd internal/cli internal/quadlet internal/reaper internal/config
