package embedded

import (
	"slices"
	"testing"
)

func TestSimulateFleetHelpers(t *testing.T) {
	if got := fleetIDs(3); !slices.Equal(got, []string{"t1", "t2", "t3"}) {
		t.Errorf("fleetIDs(3) = %v", got)
	}
	if got := fleetIDs(100); got[0] != "t001" || got[99] != "t100" {
		t.Errorf("fleetIDs(100) = %v..%v", got[0], got[99])
	}
	if got := shellQuote("/tmp/it's here"); got != `'/tmp/it'\''s here'` {
		t.Errorf("shellQuote = %s", got)
	}
	if got := shellQuote("/tmp/t.yaml"); got != "/tmp/t.yaml" {
		t.Errorf("shellQuote = %s", got)
	}
}
