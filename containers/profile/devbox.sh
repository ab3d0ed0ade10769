# /etc/profile.d/devbox.sh: the devbox shell profile (PATH, EDITOR, prompt).
# Sourced by login shells via /etc/profile and by interactive bash from
# /etc/bash.bashrc and ~/.bashrc, so it must stay idempotent and POSIX sh
# safe up to the bash-only prompt part. Plain on purpose: the Nix
# home-manager module reuses this file.

# PATH: the user's own bins first, then /usr/local (tailscale, devbox-init,
# code-server), then the system, sbin included (/etc/profile leaves it out
# for users, but this is the developer's own box and they have sudo).
for _devbox_dir in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
	case ":${PATH:-}:" in
	*":$_devbox_dir:"*) ;;
	*) PATH="${PATH:+$PATH:}$_devbox_dir" ;;
	esac
done
unset _devbox_dir
case ":$PATH:" in
*":$HOME/.local/bin:"*) ;;
*) PATH="$HOME/.local/bin:$PATH" ;;
esac
export PATH

if command -v nvim >/dev/null 2>&1; then
	: "${EDITOR:=nvim}"
else
	: "${EDITOR:=vi}"
fi
: "${VISUAL:=$EDITOR}"
: "${PAGER:=less}"
: "${LESS:=-FRX}"
: "${LANG:=C.UTF-8}"
export EDITOR VISUAL PAGER LESS LANG

# DEVBOX_NAME is the container's name: from the environment devbox-quadlet
# gives the container, else from podman's /run/.containerenv, else the
# hostname.
if [ -z "${DEVBOX_NAME:-}" ]; then
	if [ -n "${DEVBOX_TS_HOSTNAME:-}" ]; then
		DEVBOX_NAME=$DEVBOX_TS_HOSTNAME
	elif [ -r /run/.containerenv ]; then
		DEVBOX_NAME=$(sed -n 's/^name="\(.*\)"$/\1/p' /run/.containerenv 2>/dev/null)
	fi
	[ -n "${DEVBOX_NAME:-}" ] || DEVBOX_NAME=$(hostname 2>/dev/null || echo devbox)
	export DEVBOX_NAME
fi

# The prompt, for interactive bash only: user@container:dir, plus the exit
# status when it was not 0.
if [ -n "${BASH_VERSION:-}" ] && [ -n "${PS1:-}" ]; then
	PS1='$(s=$?; [ $s -eq 0 ] || printf "[%s] " $s)\[\e[1;32m\]\u@${DEVBOX_NAME}\[\e[0m\]:\[\e[1;34m\]\w\[\e[0m\]\$ '
	if [ -r /usr/share/bash-completion/bash_completion ] && ! declare -F _init_completion >/dev/null 2>&1; then
		. /usr/share/bash-completion/bash_completion
	fi
fi
