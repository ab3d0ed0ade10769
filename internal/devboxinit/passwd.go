package devboxinit

import (
	"fmt"
	"strconv"
	"strings"
)

// User is an account from /etc/passwd. devbox-init parses the file itself
// because os/user needs cgo for anything but this file anyway, and a
// static binary must not depend on NSS.
type User struct {
	Name  string
	UID   uint32
	GID   uint32
	Home  string
	Shell string
}

// LookupUser finds name in the contents of an /etc/passwd file.
func LookupUser(passwd []byte, name string) (User, error) {
	for _, line := range strings.Split(string(passwd), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 7 || f[0] != name {
			continue
		}
		uid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			return User{}, fmt.Errorf("user %q: uid %q: %w", name, f[2], err)
		}
		gid, err := strconv.ParseUint(f[3], 10, 32)
		if err != nil {
			return User{}, fmt.Errorf("user %q: gid %q: %w", name, f[3], err)
		}
		return User{Name: name, UID: uint32(uid), GID: uint32(gid), Home: f[5], Shell: f[6]}, nil
	}
	return User{}, fmt.Errorf("user %q: not in the passwd file", name)
}

// SupplementaryGroups returns the gids of the /etc/group entries that list
// name as a member, except primary, in file order. Unparsable lines are
// skipped: a broken group line must not keep code-server from starting.
func SupplementaryGroups(group []byte, name string, primary uint32) []uint32 {
	var gids []uint32
	for _, line := range strings.Split(string(group), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 4 {
			continue
		}
		gid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil || uint32(gid) == primary {
			continue
		}
		for _, m := range strings.Split(f[3], ",") {
			if m == name {
				gids = append(gids, uint32(gid))
				break
			}
		}
	}
	return gids
}
