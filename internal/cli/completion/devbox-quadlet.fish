# fish completion for devbox-quadlet
#
# `devbox-quadlet completion fish` prints this file, and `make install` puts
# it in share/fish/vendor_completions.d. On each TAB it asks the binary
# (`devbox-quadlet __complete WORD...`) what fits, so the verbs and flags are
# always the installed binary's, and your container names come from your
# quadlet directory, never from systemd or podman. Its source is
# internal/cli/completion/ in the devbox-quadlet repository.

function __devbox_quadlet_complete
    set -l tokens (commandline -opc)
    set -l cur (commandline -ct)
    # The binary being completed, if it was named by a path; else PATH's.
    set -l prog $tokens[1]
    if not string match -q -- '*/*' "$prog"; or not test -x "$prog"
        set prog devbox-quadlet
    end
    set -e tokens[1]
    # "$cur" in quotes: an empty word is still a word to complete.
    set -l out (command $prog __complete $tokens "$cur" 2>/dev/null)
    test (count $out) -gt 0; or return
    if test "$out[1]" = files
        set -l flag (string match -r -- '^-[^=]*=' "$cur")
        for path in (__fish_complete_path (string replace -r -- '^-[^=]*=' '' "$cur"))
            printf '%s%s\n' "$flag" "$path"
        end
        return
    end
    set -e out[1]
    test (count $out) -gt 0; and printf '%s\n' $out
end

complete -c devbox-quadlet -f -a '(__devbox_quadlet_complete)'
