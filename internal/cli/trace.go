package cli

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Timing traces: with DEVBOX_QUADLET_TRACE set, each verb writes to stderr
// how many milliseconds after the process started each of its steps ended.
// The benchmark uses it to say where a verb's time goes (docs/benchmarks.md);
// it is meant for people, so nothing parses it.

// tracef writes one trace line when tracing is on.
func (e *Env) tracef(format string, args ...any) {
	if e.TraceFrom.IsZero() {
		return
	}
	ms := float64(time.Since(e.TraceFrom).Microseconds()) / 1000
	fmt.Fprintf(e.Stderr, "devbox-quadlet: trace %8.1f ms  %s\n", ms, fmt.Sprintf(format, args...))
}

// processStart is when the kernel started this process, from
// /proc/self/stat, so a trace includes the exec and Go's start-up. It falls
// back to now, which leaves those out.
func processStart(now time.Time) time.Time {
	stat, err1 := os.ReadFile("/proc/self/stat")
	uptime, err2 := os.ReadFile("/proc/uptime")
	if err1 != nil || err2 != nil {
		return now
	}
	start, ok := startTicks(string(stat))
	up, err := strconv.ParseFloat(strings.Fields(string(uptime))[0], 64)
	if !ok || err != nil {
		return now
	}
	// USER_HZ is 100 on every Linux architecture Go supports.
	age := time.Duration((up - float64(start)/100) * float64(time.Second))
	if age < 0 || age > time.Minute {
		return now
	}
	return now.Add(-age)
}

// startTicks returns field 22 of a /proc/PID/stat line, the start time in
// clock ticks since boot. The command name (field 2) may hold spaces and
// parentheses, so fields are counted after its closing parenthesis.
func startTicks(stat string) (uint64, bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3
	if len(f) < 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(f[19], 10, 64)
	return n, err == nil
}
