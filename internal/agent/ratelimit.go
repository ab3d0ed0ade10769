package agent

import (
	"sync"
	"time"
)

// Limiter is a token bucket per uid: each uid may make Burst calls at once,
// and earns one more every Interval up to Burst. It guards what costs a
// shared credential (the 1Password service account, the Tailscale OAuth
// client): their own rate limits are per credential, so one user's loop
// would otherwise fail every other user's create. Time comes from the
// caller, so tests drive it with a fake clock.
type Limiter struct {
	Burst    int
	Interval time.Duration

	mu      sync.Mutex
	buckets map[uint32]bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewLimiter returns a limiter of burst calls, then one per interval.
func NewLimiter(burst int, interval time.Duration) *Limiter {
	return &Limiter{Burst: burst, Interval: interval}
}

// Allow takes one call of uid's at now. When none is left it returns false
// and when the next one is earned.
func (l *Limiter) Allow(uid uint32, now time.Time) (bool, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[uint32]bucket{}
	}
	burst := float64(max(l.Burst, 1))
	b, ok := l.buckets[uid]
	if !ok {
		b = bucket{tokens: burst, at: now}
	}
	if now.After(b.at) && l.Interval > 0 {
		b.tokens = min(burst, b.tokens+float64(now.Sub(b.at))/float64(l.Interval))
		b.at = now
	}
	if b.tokens < 1 {
		l.buckets[uid] = b
		wait := time.Duration((1 - b.tokens) * float64(l.Interval))
		return false, now.Add(wait)
	}
	b.tokens--
	l.buckets[uid] = b
	l.forget(now, burst)
	return true, time.Time{}
}

// forget drops the buckets that have filled up again, which are the same
// as none: the map holds only the users who called lately.
func (l *Limiter) forget(now time.Time, burst float64) {
	if len(l.buckets) < 64 {
		return
	}
	for uid, b := range l.buckets {
		if b.tokens+float64(now.Sub(b.at))/float64(l.Interval) >= burst {
			delete(l.buckets, uid)
		}
	}
}
