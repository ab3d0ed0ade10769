# go.sh is sourced by the top-level scripts. It makes a Go toolchain new enough
# for go.mod available on PATH: the one already installed if it will do, else
# the official toolchain module fetched through the Go module proxy (the same
# thing GOTOOLCHAIN=auto downloads), unpacked under /usr/local/lib.

devbox_go_version=1.26.8

_go_ok() {
	command -v go >/dev/null 2>&1 || return 1
	local v
	v=$(go env GOVERSION 2>/dev/null | sed 's/^go//')
	[ -n "$v" ] || return 1
	# Need Go >= 1.24 (go.mod).
	[ "$(printf '%s\n1.24\n' "$v" | sort -V | head -n1)" = "1.24" ]
}

if ! _go_ok && [ -x /usr/local/go/bin/go ]; then
	export PATH="/usr/local/go/bin:$PATH"
fi
if ! _go_ok; then
	dir=/usr/local/lib/devbox-quadlet-go/go$devbox_go_version
	if [ ! -x "$dir/go/bin/go" ]; then
		proxy=$( (go env GOPROXY 2>/dev/null || true) | cut -d, -f1)
		proxy=${proxy:-${GOPROXY:-https://proxy.golang.org}}
		proxy=${proxy%%,*}
		echo "go.sh: fetching Go $devbox_go_version from the module proxy" >&2
		command -v unzip >/dev/null || { apt-get update -qq && apt-get install -y -qq unzip >/dev/null; }
		tmp=$(mktemp -d)
		curl -fsSL -o "$tmp/go.zip" "$proxy/golang.org/toolchain/@v/v0.0.1-go$devbox_go_version.linux-amd64.zip"
		mkdir -p "$dir"
		unzip -q "$tmp/go.zip" -d "$tmp/x"
		mv "$tmp/x/golang.org/toolchain@v0.0.1-go$devbox_go_version.linux-amd64" "$dir/go"
		chmod +x "$dir"/go/bin/* "$dir"/go/pkg/tool/*/* 2>/dev/null || true
		rm -rf "$tmp"
	fi
	export PATH="$dir/go/bin:$PATH"
fi
_go_ok || { echo "go.sh: no usable Go toolchain (need 1.24 or newer)" >&2; exit 1; }
