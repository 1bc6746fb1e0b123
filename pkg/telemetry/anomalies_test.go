package telemetry

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestAnomalyKindsAreDocumented: the kinds of xdr_connector_anomalies_total
// (the Anomaly constants) are exactly the rows of the Anomalies table of
// docs/OPERATIONS.md, and exactly the kinds the metric's row of
// docs/OBSERVABILITY.md lists, so a new kind cannot ship without its log
// line and what to do, and a removed one leaves no row behind.
func TestAnomalyKindsAreDocumented(t *testing.T) {
	kinds := anomalyKinds(t)
	if len(kinds) < 10 {
		t.Fatalf("found only %d anomaly kinds in metrics.go: %v", len(kinds), kinds)
	}

	ops := readDoc(t, "OPERATIONS.md")
	_, section, ok := strings.Cut(ops, "\n## Anomalies\n")
	if !ok {
		t.Fatal("docs/OPERATIONS.md has no Anomalies section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var rows []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|").FindAllStringSubmatch(section, -1) {
		rows = append(rows, m[1])
	}
	compareKinds(t, "docs/OPERATIONS.md's Anomalies table", kinds, rows)

	obs := readDoc(t, "OBSERVABILITY.md")
	var row string
	for _, line := range strings.Split(obs, "\n") {
		if strings.HasPrefix(line, "| `"+anomaliesMetric+"` |") {
			row = line
		}
	}
	if row == "" {
		t.Fatalf("docs/OBSERVABILITY.md has no row for %s", anomaliesMetric)
	}
	var listed []string
	for _, m := range regexp.MustCompile("`([a-z]+(?:_[a-z]+)+)`").FindAllStringSubmatch(row, -1) {
		if m[1] != anomaliesMetric {
			listed = append(listed, m[1])
		}
	}
	compareKinds(t, "docs/OBSERVABILITY.md's "+anomaliesMetric+" row", kinds, listed)
}

// anomaliesMetric is MetricAnomalies as Prometheus exposes it.
const anomaliesMetric = "xdr_connector_anomalies_total"

// anomalyKinds returns the values of the Anomaly constants of metrics.go.
func anomalyKinds(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "metrics.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if !strings.HasPrefix(name.Name, "Anomaly") || i >= len(vs.Values) {
				continue
			}
			lit, ok := vs.Values[i].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Fatalf("%s is not a string literal", name.Name)
			}
			v, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			kinds = append(kinds, v)
		}
		return false
	})
	return kinds
}

func readDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// compareKinds fails the test unless got lists each kind of want once and
// nothing else.
func compareKinds(t *testing.T, where string, want, got []string) {
	t.Helper()
	for _, k := range want {
		if n := strings.Count(" "+strings.Join(got, " ")+" ", " "+k+" "); n != 1 {
			t.Errorf("%s lists anomaly kind %s %d times, want once", where, k, n)
		}
	}
	for _, k := range got {
		if !slices.Contains(want, k) {
			t.Errorf("%s lists %s, which is no anomaly kind of metrics.go", where, k)
		}
	}
}
