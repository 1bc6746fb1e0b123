package app

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/soc-tools/xdr-kafka-connector/pkg/pipeline"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// scrape is r's GET /metrics, line by line.
func scrape(t *testing.T, r *fleetRun) []string {
	t.Helper()
	resp, err := http.Get(r.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return strings.Split(string(b), "\n")
}

// series is the value of the first series of metric name whose labels hold
// every one of labels (each `key="value"`, or a `key=` prefix), as GET
// /metrics serves it; -1 when there is none.
func series(t *testing.T, r *fleetRun, name string, labels ...string) float64 {
	t.Helper()
	for _, line := range scrape(t, r) {
		rest, ok := strings.CutPrefix(line, name+"{")
		if !ok {
			continue
		}
		ls, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		match := true
		for _, l := range labels {
			match = match && strings.Contains(ls, l)
		}
		if match {
			v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return v
		}
	}
	return -1
}

// TestFailureClasses: each failure's class, the reason label of the failed
// gauge, is one of a small fixed set.
func TestFailureClasses(t *testing.T) {
	api := func(status int) error { return fmt.Errorf("polling: %w", &xdr.APIError{Status: status}) }
	for _, tc := range []struct {
		err  error
		want string
	}{
		{api(http.StatusUnauthorized), FailureAPIUnauthorized},
		{api(http.StatusPaymentRequired), FailureAPIUnlicensed},
		{api(http.StatusForbidden), FailureAPIForbidden},
		{api(http.StatusInternalServerError), FailureAPIError},
		{fmt.Errorf("starting: %w", pipeline.ErrTxnNotAuthorized), FailureKafkaUnauthorized},
		{fmt.Errorf("final commit: %w: %w", pipeline.ErrFenced, kerr.ProducerFenced), FailureFenced},
		{fmt.Errorf("%w: %w", errSecondProcess, pipeline.ErrFenced), FailureSecondProcess},
		{&ConfigError{errors.New("XDR_BASE_URL: not a URL")}, FailureConfig},
		{fmt.Errorf("loading offsets: %w", kerr.UnknownTopicOrPartition), FailureKafka},
		{errors.New("the pipeline stopped by itself"), FailureOther},
	} {
		if got := failureClass(tc.err); got != tc.want {
			t.Errorf("failureClass(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

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
		if len(r.logs.Lines("tenant failed", `"tenant":"`+revoked+`"`)) == 0 {
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
	if s.State != StateFailed || !strings.Contains(s.Reason, "rejected the key (401)") || s.LastError == "" || s.Failures < 1 ||
		s.NextRetry.IsZero() || s.NextRetry.After(time.Now()) {
		t.Errorf("while its retry starts, the tenant is reported %+v; want failed with the 401's reason, its error, and the retry's start in next_retry", s)
	}
	if other := r.tenants(t)[ids[0]]; other.State != StateRunning {
		t.Errorf("the healthy tenant: %+v", other)
	}
	// The failed gauge says so too, with the failure's class.
	if v := series(t, r, "xdr_connector_tenant_failed", `reason="api_unauthorized"`, `tenant="`+revoked+`"`); v != 1 {
		t.Errorf("xdr_connector_tenant_failed of the failed tenant with reason api_unauthorized: %v, want 1", v)
	}
	if v := series(t, r, "xdr_connector_tenant_failed", `tenant="`+ids[0]+`"`); v != 0 {
		t.Errorf("xdr_connector_tenant_failed of the healthy tenant: %v, want 0", v)
	}

	e.fleet.Tenant(revoked).SetRevoked(false)
	close(release)
	released = true
	waitFor(t, 60*time.Second, "the tenant to run again once its key works", func() bool {
		s := r.tenants(t)[revoked]
		return s.State == StateRunning && s.Failures == 0 && s.Reason == "" && s.NextRetry.IsZero()
	})
	if v := series(t, r, "xdr_connector_tenant_failed", `tenant="`+revoked+`"`); v != 0 {
		t.Errorf("xdr_connector_tenant_failed of the recovered tenant: %v, want 0", v)
	}
	if v := series(t, r, "xdr_connector_tenant_failed", `reason=`); v != -1 {
		t.Errorf("a reason is still served once no tenant is failed (value %v)", v)
	}
	r.stop(t)
}
