package app

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAFailedTenantStaysFailedWhileItsRetryStarts holds a failed tenant's
// retry in its start-up (the load of its offsets, which takes seconds on a
// loaded broker) and reads GET /tenants meanwhile: the tenant is reported
// failed, with its reason, its last error and the time the retry began — not
// "starting", which would hide the failure for most of each retry cycle and
// show it only during the backoff. Once the key works again the tenant is
// running, its failures counted from zero.
func TestAFailedTenantStaysFailedWhileItsRetryStarts(t *testing.T) {
	e := newFleetEnv(t, 2, 5)
	ids := e.fleet.IDs()
	revoked := ids[1]
	r := e.start(nil)
	waitFor(t, 30*time.Second, "every tenant to run", func() bool { return len(running(t, r)) == len(ids) })

	// Once the tenant has failed, the next load of offsets is its retry's
	// (the other tenant runs on and loads none): hold it until released.
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	e.cluster.ControlKey(int16(kmsg.ListOffsets), func(kmsg.Request) (kmsg.Response, error, bool) {
		e.cluster.KeepControl()
		if len(r.logs.lines("tenant failed", `"tenant":"`+revoked+`"`)) == 0 {
			return nil, nil, false
		}
		once.Do(func() { close(held) })
		e.cluster.SleepControl(func() { <-release })
		return nil, nil, false
	})
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	e.fleet.Tenant(revoked).SetRevoked(true)
	select {
	case <-held:
	case <-time.After(60 * time.Second):
		t.Fatal("the failed tenant's retry never loaded its offsets")
	}
	s := r.tenants(t)[revoked]
	if s.State != StateFailed || !strings.Contains(s.Reason, "401") || s.LastError == "" || s.Failures < 1 ||
		s.NextRetry.IsZero() || s.NextRetry.After(time.Now()) {
		t.Errorf("while its retry starts, the tenant is reported %+v; want failed with the 401's reason, its error, and the retry's start in next_retry", s)
	}
	if other := r.tenants(t)[ids[0]]; other.State != StateRunning {
		t.Errorf("the healthy tenant: %+v", other)
	}

	e.fleet.Tenant(revoked).SetRevoked(false)
	close(release)
	released = true
	waitFor(t, 60*time.Second, "the tenant to run again once its key works", func() bool {
		s := r.tenants(t)[revoked]
		return s.State == StateRunning && s.Failures == 0 && s.Reason == "" && s.NextRetry.IsZero()
	})
	r.stop(t)
}
