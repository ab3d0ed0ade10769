package agent

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	l := NewLimiter(5, 30*time.Second)
	for i := range 5 {
		if ok, _ := l.Allow(1000, t0); !ok {
			t.Fatalf("call %d of the burst refused", i+1)
		}
	}
	ok, next := l.Allow(1000, t0)
	if ok || !next.Equal(t0.Add(30*time.Second)) {
		t.Errorf("sixth call: ok=%v next=%s, want refused until %s", ok, next, t0.Add(30*time.Second))
	}
	if ok, _ := l.Allow(1001, t0); !ok {
		t.Error("another uid is limited by the first one's calls")
	}
	if ok, next := l.Allow(1000, t0.Add(20*time.Second)); ok || !next.Equal(t0.Add(30*time.Second)) {
		t.Errorf("after 20 s: ok=%v next=%s", ok, next)
	}
	if ok, _ := l.Allow(1000, t0.Add(30*time.Second)); !ok {
		t.Error("after 30 s: refused")
	}
	if ok, _ := l.Allow(1000, t0.Add(31*time.Second)); ok {
		t.Error("a second call 31 s in: admitted; one per 30 s")
	}
	// An hour later the bucket is full again, and no fuller than the burst.
	later := t0.Add(time.Hour)
	for i := range 5 {
		if ok, _ := l.Allow(1000, later); !ok {
			t.Fatalf("an hour later, call %d refused", i+1)
		}
	}
	if ok, _ := l.Allow(1000, later); ok {
		t.Error("an hour later, a sixth call at once was admitted")
	}
}

// TestLimiterForgets: the limiter keeps state only for users who called
// lately, however many uids call.
func TestLimiterForgets(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	l := NewLimiter(2, time.Second)
	for uid := range uint32(10000) {
		l.Allow(uid, t0.Add(time.Duration(uid)*time.Second))
	}
	if n := len(l.buckets); n > 128 {
		t.Errorf("%d buckets kept", n)
	}
}
