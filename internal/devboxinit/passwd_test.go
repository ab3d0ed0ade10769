package devboxinit

import (
	"slices"
	"testing"
)

const passwdFixture = `root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
broken:x:notanumber:1::/:/bin/sh
short:x:5
dev:x:1000:1000:Dev,,,:/home/dev:/bin/bash
`

const groupFixture = `root:x:0:
sudo:x:27:dev
users:x:100:alice,dev,bob
dev:x:1000:dev
docker:x:999:
bad:x:zz:dev
`

func TestLookupUser(t *testing.T) {
	for _, tc := range []struct {
		name, user string
		want       User
		wantErr    bool
	}{
		{name: "the dev user", user: "dev", want: User{Name: "dev", UID: 1000, GID: 1000, Home: "/home/dev", Shell: "/bin/bash"}},
		{name: "root", user: "root", want: User{Name: "root", Home: "/root", Shell: "/bin/bash"}},
		{name: "missing", user: "alice", wantErr: true},
		{name: "a line with a bad uid", user: "broken", wantErr: true},
		{name: "a short line does not match", user: "short", wantErr: true},
		{name: "a prefix does not match", user: "de", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LookupUser([]byte(passwdFixture), tc.user)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSupplementaryGroups(t *testing.T) {
	if got, want := SupplementaryGroups([]byte(groupFixture), "dev", 1000), []uint32{27, 100}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := SupplementaryGroups([]byte(groupFixture), "nobody", 65534); got != nil {
		t.Errorf("got %v for a user in no group", got)
	}
}

func FuzzLookupUser(f *testing.F) {
	f.Add([]byte(passwdFixture), "dev")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		u, err := LookupUser(data, name)
		if err == nil && u.Name != name {
			t.Errorf("asked for %q, got %q", name, u.Name)
		}
		SupplementaryGroups(data, name, 0)
	})
}
