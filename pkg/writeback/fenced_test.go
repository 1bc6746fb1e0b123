package writeback

import (
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/soc-tools/xdr-kafka-connector/pkg/pipeline"
)

// The applier's writes take a fence as the pipeline's do: besides
// PRODUCER_FENCED and INVALID_PRODUCER_EPOCH, INVALID_TXN_STATE, which is how
// a coordinator answers the commit of a transaction a newer producer's start
// aborted. Any other failure is a failure, retried by the caller.
func TestFencedIsThePipelinesRule(t *testing.T) {
	for _, err := range []error{kerr.ProducerFenced, kerr.InvalidProducerEpoch, kerr.InvalidTxnState} {
		if got := fenced(fmt.Errorf("committing: %w", err)); !errors.Is(got, pipeline.ErrFenced) {
			t.Errorf("%v: %v, want it fenced", err, got)
		}
	}
	if got := fenced(kerr.RequestTimedOut); errors.Is(got, pipeline.ErrFenced) {
		t.Errorf("a timeout taken for a fence: %v", got)
	}
}
