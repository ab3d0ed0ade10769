package lifecycle

import (
	"os"
	"path/filepath"
	"syscall"
)

// wallUser writes msg to every terminal in dir that uid owns, like
// write(1). Failures are ignored: nobody may be logged in.
func wallUser(dir string, uid int, msg string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		var st syscall.Stat_t
		if syscall.Stat(p, &st) != nil || int(st.Uid) != uid || st.Mode&syscall.S_IFMT != syscall.S_IFCHR {
			continue
		}
		f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NOCTTY|syscall.O_NONBLOCK, 0)
		if err != nil {
			continue
		}
		_, _ = f.WriteString("\r\n" + msg + "\r\n")
		f.Close()
	}
}
