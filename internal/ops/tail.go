package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/pkg/topicread"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// Tail is what `connector tail` reads and prints.
type Tail struct {
	Topic     string
	Follow    bool     // keep reading new records until interrupted
	FromEnd   bool     // start at the end of the topic (implies Follow)
	Max       int      // stop after this many records printed (0: no limit)
	Keys      []string // print only records with one of these keys
	Incidents []string // print only records of one of these incidents (recordIncident)
}

// match reports whether r passes the Keys and Incidents filters.
func (t Tail) match(r *kgo.Record) bool {
	if len(t.Keys) > 0 && !slices.Contains(t.Keys, string(r.Key)) {
		return false
	}
	if len(t.Incidents) > 0 && !slices.Contains(t.Incidents, recordIncident(r)) {
		return false
	}
	return true
}

// recordIncident is the incident a record belongs to: the incident_id of
// its value (every native data record has one; an OCSF record has it as
// metadata.correlation_uid, an ECS one as panw_cortex.xdr.incident_id),
// else of its key (the offsets topic's keys are JSON with the incident's
// id), read by xdr.Text; "" when neither has one.
func recordIncident(r *kgo.Record) string {
	for _, b := range [][]byte{r.Value, r.Key} {
		var v struct {
			IncidentID json.RawMessage `json:"incident_id"`
			Metadata   struct {
				CorrelationUID json.RawMessage `json:"correlation_uid"` // OCSF
			} `json:"metadata"`
			PanwCortex struct {
				XDR struct {
					IncidentID json.RawMessage `json:"incident_id"` // ECS
				} `json:"xdr"`
			} `json:"panw_cortex"`
		}
		if len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &v) != nil {
			continue
		}
		for _, id := range []json.RawMessage{v.IncidentID, v.Metadata.CorrelationUID, v.PanwCortex.XDR.IncidentID} {
			if s := xdr.Text(id); s != "" {
				return s // "893" for "893", 893 and 893.0 alike
			}
		}
	}
	return ""
}

// errTailDone ends a reading that printed Tail.Max records.
var errTailDone = errors.New("printed --max records")

// Run prints t.Topic's records to stdout as `connector tail` describes,
// each with formatRecord; with Follow it says on stderr what it follows. An
// interrupted reading (ctx done) ends without error.
func (t Tail) Run(ctx context.Context, connOpts []kgo.Opt, stdout, stderr io.Writer) error {
	cl, err := kgo.NewClient(connOpts...)
	if err != nil {
		return fmt.Errorf("creating Kafka client: %w", err)
	}
	defer cl.Close()
	follow := t.Follow || t.FromEnd
	o := topicread.Options{End: topicread.LastStable, FromEnd: t.FromEnd, Follow: follow}
	if follow {
		o.OnStart = func(partitions int) {
			where := "its start"
			if t.FromEnd {
				where = "its end"
			}
			fmt.Fprintf(stderr, "following %s (%d partitions) from %s; Ctrl-C stops\n", t.Topic, partitions, where)
		}
	}
	printed := 0
	err = topicread.Read(ctx, cl, t.Topic, connOpts, o, func(r *kgo.Record) error {
		if !t.match(r) {
			return nil
		}
		if _, err := io.WriteString(stdout, formatRecord(r)); err != nil {
			return fmt.Errorf("writing: %w", err)
		}
		printed++
		if t.Max > 0 && printed >= t.Max {
			return errTailDone
		}
		return nil
	})
	switch {
	case errors.Is(err, errTailDone), ctx.Err() != nil:
		return nil // interrupted: a normal way to stop
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		return fmt.Errorf("topic %s does not exist", t.Topic)
	}
	return err
}

// formatRecord renders one record: a line with its position and time, its
// key, its headers, then its value (indented when JSON), and a blank line.
func formatRecord(r *kgo.Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s [%d] @%d  %s\n", r.Topic, r.Partition, r.Offset, r.Timestamp.UTC().Format(time.RFC3339Nano))
	if r.Key == nil {
		b.WriteString("key: (none)\n")
	} else {
		fmt.Fprintf(&b, "key: %s\n", r.Key)
	}
	if len(r.Headers) > 0 {
		hs := make([]string, len(r.Headers))
		for i, h := range r.Headers {
			hs[i] = h.Key + "=" + string(h.Value)
		}
		fmt.Fprintf(&b, "headers: %s\n", strings.Join(hs, ", "))
	}
	var pretty bytes.Buffer
	switch {
	case r.Value == nil:
		b.WriteString("(tombstone: no value)\n")
	case json.Indent(&pretty, r.Value, "", "  ") == nil:
		b.Write(pretty.Bytes())
		b.WriteByte('\n')
	default:
		b.Write(r.Value)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	return b.String()
}
