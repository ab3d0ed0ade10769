package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
)

// Size is a byte count written the way podman's --memory takes it ("512M",
// "4G", "4GiB"). It parses with go-units, the parser podman itself uses, so a
// value means the same here as on a podman command line.
type Size int64

// Size bounds: below 64 MiB a dev container cannot run its own tooling; above
// 16 TiB the value is a typo.
const (
	MinSize Size = 64 << 20
	MaxSize Size = 16 << 40
)

// ParseSize parses s as a Size and checks it is within [MinSize, MaxSize].
func ParseSize(s string) (Size, error) {
	outOfRange := fmt.Errorf("size %q is out of range: want between 64M and 16T", s)
	n, err := units.RAMInBytes(strings.TrimSpace(s))
	if errors.Is(err, strconv.ErrRange) {
		return 0, outOfRange // too large for a float64
	}
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: want a positive number with an optional unit, e.g. 512M, 4G or 4GiB", s)
	}
	// go-units converts its float64 to int64 without a check: a value of
	// 2^63 bytes or more comes back as MinInt64 on amd64 and MaxInt64 on
	// arm64. Neither is in range, and the syntax was fine, so say so.
	if Size(n) < MinSize || Size(n) > MaxSize {
		return 0, outOfRange
	}
	return Size(n), nil
}

// UnmarshalText implements encoding.TextUnmarshaler for TOML decoding.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// String renders the size with binary units, as systemd and podman print them.
func (s Size) String() string { return units.BytesSize(float64(s)) }

// CPUs is a number of CPUs, fractional allowed, as in podman's --cpus.
type CPUs float64

// CPU bounds: a hundredth of a CPU is the finest CPUQuota= granularity that
// reads back exactly, and 1024 CPUs is more than any host this runs on.
const (
	MinCPUs CPUs = 0.01
	MaxCPUs CPUs = 1024
)

// ParseCPUs parses s as a CPU count and checks its range.
func ParseCPUs(s string) (CPUs, error) {
	outOfRange := fmt.Errorf("CPU count %q is out of range: want between 0.01 and 1024", s)
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if errors.Is(err, strconv.ErrRange) {
		return 0, outOfRange // a number, too large for a float64
	}
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("invalid CPU count %q: want a number such as 2 or 0.5", s)
	}
	c := CPUs(f)
	if c < MinCPUs || c > MaxCPUs {
		return 0, outOfRange
	}
	// Round to the hundredths that CPUQuota= can express as a whole percent.
	return CPUs(math.Round(f*100) / 100), nil
}

// UnmarshalText implements encoding.TextUnmarshaler for TOML decoding.
func (c *CPUs) UnmarshalText(b []byte) error {
	v, err := ParseCPUs(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// String prints the shortest exact form, e.g. "2" or "0.5".
func (c CPUs) String() string { return strconv.FormatFloat(float64(c), 'f', -1, 64) }

// Percent is the CPUQuota= value: 100 per CPU.
func (c CPUs) Percent() int { return int(math.Round(float64(c) * 100)) }

// Duration is a span written with d, h, m and s units ("7d", "36h", "1d12h",
// "90s"). Go's time.ParseDuration has no day unit, and idle windows are days.
type Duration time.Duration

// MaxDuration is the longest Duration: ten years. Anything longer is a typo,
// and the bound keeps every sum of a few durations far from overflowing.
const MaxDuration = Duration(3650 * 24 * time.Hour)

// ParseDuration parses s as a sequence of <integer><unit> pairs whose sum is
// more than zero and at most MaxDuration.
//
// Each part is checked against the bound before it is multiplied by its
// unit, so no number of digits can wrap around (616385997d used to parse as
// 524 ms).
func ParseDuration(s string) (Duration, error) {
	bad := fmt.Errorf("invalid duration %q: want integers with units d, h, m or s, e.g. 7d, 36h, 1d12h or 90s", s)
	tooLong := fmt.Errorf("duration %q is out of range: want at most 3650d, in integers with units d, h, m or s", s)
	rest := strings.TrimSpace(s)
	if rest == "" {
		return 0, bad
	}
	var total time.Duration
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) {
			return 0, bad
		}
		var unit time.Duration
		switch rest[i] {
		case 'd':
			unit = 24 * time.Hour
		case 'h':
			unit = time.Hour
		case 'm':
			unit = time.Minute
		case 's':
			unit = time.Second
		default:
			return 0, bad
		}
		// Only digits, so the one error left is ErrRange: too many of them.
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil || n > int64(time.Duration(MaxDuration)/unit) {
			return 0, tooLong
		}
		// Both terms are at most MaxDuration, so the sum cannot overflow.
		total += time.Duration(n) * unit
		if total > time.Duration(MaxDuration) {
			return 0, tooLong
		}
		rest = rest[i+1:]
	}
	if total <= 0 {
		return 0, fmt.Errorf("duration %q is out of range: want more than zero", s)
	}
	return Duration(total), nil
}

// UnmarshalText implements encoding.TextUnmarshaler for TOML decoding.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// String prints the duration in the same d/h/m/s form it is written in.
func (d Duration) String() string {
	t := time.Duration(d)
	var b strings.Builder
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := t / u.unit; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			t -= n * u.unit
		}
	}
	if b.Len() == 0 {
		return "0s"
	}
	return b.String()
}

// Count is a positive integer setting such as a cap.
type Count int

// UnmarshalText implements encoding.TextUnmarshaler for TOML decoding.
func (c *Count) UnmarshalText(b []byte) error {
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 1 || n > 100000 {
		return fmt.Errorf("invalid count %q: want a whole number from 1 to 100000", string(b))
	}
	*c = Count(n)
	return nil
}
