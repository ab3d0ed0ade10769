package config

import (
	"strings"
	"testing"
	"time"
)

// TestParseOverflow: a number too large for its type is out of range, with
// an error that states the rule, never a wrapped-around value or a claim
// that the syntax is wrong.
func TestParseOverflow(t *testing.T) {
	for _, tc := range []struct {
		name  string
		parse func(string) error
		in    string
		want  []string // substrings of the error
	}{
		{"a day count whose nanoseconds wrap to 524 ms", parseDuration, "616385997d", []string{"out of range", "at most 3650d", "d, h, m or s"}},
		{"a day count whose nanoseconds wrap below zero", parseDuration, "999999999d", []string{"out of range", "at most 3650d", "d, h, m or s"}},
		{"ten digits of seconds", parseDuration, "9999999999s", []string{"out of range", "at most 3650d"}},
		{"more digits than an int64 holds", parseDuration, "99999999999999999999999h", []string{"out of range", "at most 3650d"}},
		{"an overflowing part after a valid one", parseDuration, "1d106752d", []string{"out of range", "at most 3650d"}},
		{"one day over the maximum", parseDuration, "3651d", []string{"out of range", "at most 3650d"}},
		{"a size whose bytes do not fit an int64", parseSize, "99999999999999999999999G", []string{"out of range", "16T"}},
		{"a size of exactly 2^63 bytes", parseSize, "9223372036854775808", []string{"out of range", "16T"}},
		{"a size too large for a float", parseSize, "1e400G", []string{"out of range", "16T"}},
		{"a CPU count too large for a float", parseCPUs, "1e400", []string{"out of range", "1024"}},
		{"a count too large for an int", parseCount, "99999999999999999999", []string{"1 to 100000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.parse(tc.in)
			if err == nil {
				t.Fatalf("%q accepted", tc.in)
			}
			for _, w := range append(tc.want, tc.in) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func parseDuration(s string) error { _, err := ParseDuration(s); return err }
func parseSize(s string) error     { _, err := ParseSize(s); return err }
func parseCPUs(s string) error     { _, err := ParseCPUs(s); return err }
func parseCount(s string) error    { var c Count; return c.UnmarshalText([]byte(s)) }

// TestParseDurationBounds: the largest values that fit are still accepted.
func TestParseDurationBounds(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"3650d":          3650 * 24 * time.Hour,
		"87600h":         3650 * 24 * time.Hour,
		"315360000s":     3650 * 24 * time.Hour,
		"0000000000007d": 7 * 24 * time.Hour,
		"3649d23h59m60s": 3650 * 24 * time.Hour,
	} {
		if got, err := ParseDuration(in); err != nil || time.Duration(got) != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, time.Duration(got), err, want)
		}
	}
}

// TestReaperDurationOverflowRejected: the config that the issue reported as
// accepted (a stopped_destroy that wrapped to half a second) is refused.
func TestReaperDurationOverflowRejected(t *testing.T) {
	_, err := Parse([]byte("[reaper]\nstopped_destroy = \"616385997d\"\n"), "r.toml")
	if err == nil || !strings.Contains(err.Error(), "reaper.stopped_destroy") || !strings.Contains(err.Error(), "out of range") {
		t.Fatalf("Parse = %v; want an out-of-range error naming reaper.stopped_destroy", err)
	}
}
