# bash completion for devbox-quadlet
#
# `devbox-quadlet completion bash` prints this file, and `make install` puts
# it in share/bash-completion/completions. On each TAB it asks the binary
# (`devbox-quadlet __complete WORD...`) what fits, so the verbs and flags are
# always the installed binary's, and your container names come from your
# quadlet directory, never from systemd or podman. Its source is
# internal/cli/completion/ in the devbox-quadlet repository.

_devbox_quadlet() {
	local cur words cword
	if declare -F _get_comp_words_by_ref >/dev/null; then
		# bash-completion keeps --flag=value in one word.
		_get_comp_words_by_ref -n =: cur words cword
	else
		cur=${COMP_WORDS[COMP_CWORD]}
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
	fi
	# The binary being completed, if it was named by a path; else PATH's.
	local prog=${words[0]} mode='' line
	[[ $prog == */* && -x $prog ]] || prog=devbox-quadlet
	COMPREPLY=()
	while IFS= read -r line; do
		if [[ -z $mode ]]; then
			mode=$line
		else
			COMPREPLY+=("${line%%$'\t'*}")
		fi
	done < <("$prog" __complete "${words[@]:1:cword}" 2>/dev/null)
	if [[ $mode == files ]]; then
		[[ $cur == -*=* ]] && cur=${cur#*=}
		compopt -o filenames 2>/dev/null
		while IFS= read -r line; do
			COMPREPLY+=("$line")
		done < <(compgen -f -- "$cur")
	fi
	return 0
}

complete -F _devbox_quadlet devbox-quadlet
