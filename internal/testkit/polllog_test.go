package testkit

import (
	"net/http"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

func TestShown(t *testing.T) {
	at := func(ms int64) time.Time { return time.UnixMilli(ms) }
	call := func(replica string, arrived, replied int64, status int) xdrtest.Request {
		return xdrtest.Request{Replica: replica, Endpoint: xdrtest.EndpointIncidents, Status: status, Arrived: at(arrived), Replied: at(replied)}
	}
	// next is the same process's next poll, after every window below.
	next := call("p1", 9000, 9100, http.StatusOK)
	v := xdrtest.Version{IncidentID: "1", ModificationTime: 900, VisibleAt: 1000, SupersededAt: 2000}
	cur := xdrtest.Version{IncidentID: "1", ModificationTime: 1900, VisibleAt: 2000}
	// A new run of the tenant began in p1 at 5000.
	restarted := func(_ string, answered, next time.Time) bool {
		return !(answered.Before(at(5000)) && !next.Before(at(5000)))
	}
	for _, tc := range []struct {
		name    string
		calls   []xdrtest.Request
		sameRun func(string, time.Time, time.Time) bool
		v       xdrtest.Version
		want    bool
	}{
		{"no call", nil, nil, v, false},
		{"answered inside the window, then polled again", []xdrtest.Request{call("p1", 1000, 1999, http.StatusOK), next}, nil, v, true},
		{"arrived before the version was visible", []xdrtest.Request{call("p1", 999, 1500, http.StatusOK), next}, nil, v, false},
		{"answered when it was superseded", []xdrtest.Request{call("p1", 1500, 2000, http.StatusOK), next}, nil, v, false},
		{"superseded between two polls", []xdrtest.Request{call("p1", 500, 600, http.StatusOK), call("p1", 2100, 2200, http.StatusOK), next}, nil, v, false},
		{"refused", []xdrtest.Request{call("p1", 1200, 1300, http.StatusTooManyRequests), next}, nil, v, false},
		{"another endpoint", []xdrtest.Request{{Replica: "p1", Endpoint: xdrtest.EndpointExtraData, Status: http.StatusOK, Arrived: at(1200), Replied: at(1300)}, next}, nil, v, false},
		{"the process's last reply: not taken", []xdrtest.Request{call("p1", 1200, 1300, http.StatusOK)}, nil, v, false},
		{"another process polled next", []xdrtest.Request{call("p1", 1200, 1300, http.StatusOK), call("p2", 3000, 3100, http.StatusOK)}, nil, v, false},
		{"the next poll is the next run's", []xdrtest.Request{call("p1", 1200, 1300, http.StatusOK), next}, restarted, v, false},
		{"the next poll is the same run's", []xdrtest.Request{call("p1", 1200, 1300, http.StatusOK), call("p1", 1400, 1500, http.StatusOK)}, restarted, v, true},
		{"the current version, polled later", []xdrtest.Request{call("p1", 5000, 5100, http.StatusOK), next}, nil, cur, true},
		{"the current version, polled before it was visible", []xdrtest.Request{call("p1", 1500, 1600, http.StatusOK), next}, nil, cur, false},
	} {
		if got := Shown(tc.calls, tc.sameRun)(tc.v); got != tc.want {
			t.Errorf("%s: Shown = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestPolled(t *testing.T) {
	ok := xdrtest.Request{Endpoint: xdrtest.EndpointIncidents, Status: http.StatusOK}
	refused := xdrtest.Request{Endpoint: xdrtest.EndpointIncidents, Status: http.StatusTooManyRequests}
	extra := xdrtest.Request{Endpoint: xdrtest.EndpointExtraData, Status: http.StatusOK}
	if Polled(nil) || Polled([]xdrtest.Request{refused, extra}) {
		t.Error("Polled without an answered get_incidents call")
	}
	if !Polled([]xdrtest.Request{refused, ok}) {
		t.Error("not Polled after an answered get_incidents call")
	}
}
