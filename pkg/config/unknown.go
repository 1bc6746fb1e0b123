package config

import (
	"regexp"
	"strings"
)

// variablePrefixes are the prefixes of the connector's own environment
// variables: a variable with one of them that the connector does not know
// is most likely a misspelt one (POLL_INTERVALL), which would otherwise be
// ignored without a word.
var variablePrefixes = []string{"XDR_", "KAFKA_", "ENRICH_", "POLL_", "HTTP_", "LOG_"}

// foreignVariables are variables with those prefixes that belong to others:
// Go's HTTP proxy settings, and the service links Kubernetes gives every
// container (KAFKA_SERVICE_HOST, KAFKA_PORT_9092_TCP_ADDR, and the chart's
// own Service's, XDR_KAFKA_CONNECTOR_PORT).
var foreignVariables = regexp.MustCompile(`^HTTPS?_PROXY$|_SERVICE_HOST$|_SERVICE_PORT(_[A-Z0-9_]+)?$|_PORT$|_PORT_[0-9]+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?$`)

// UnknownVariable is a variable of environ that looks like the connector's
// and is not, with the known name closest to it ("" when none is close).
type UnknownVariable struct {
	Name, Closest string
}

// UnknownVariables lists the variables of environ ("NAME=value", as
// os.Environ gives them) that start with one of variablePrefixes, are not
// one of the connector's (config.Vars) and not foreignVariables, in
// environ's order.
func UnknownVariables(environ []string) []UnknownVariable {
	known := map[string]bool{}
	var names []string
	for _, v := range Vars() {
		known[v.Name] = true
		names = append(names, v.Name)
	}
	var out []UnknownVariable
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if known[name] || foreignVariables.MatchString(name) || !hasAnyPrefix(name, variablePrefixes) {
			continue
		}
		u := UnknownVariable{Name: name}
		best := max(2, len(name)/4) + 1 // a suggestion within a quarter of the name's length (2 edits at least)
		for _, k := range names {
			if d := editDistance(name, k); d < best {
				best, u.Closest = d, k
			}
		}
		out = append(out, u)
	}
	return out
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// editDistance is the Levenshtein distance of a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
