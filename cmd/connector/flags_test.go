package main

import (
	"slices"
	"testing"
)

// TestListFlag: the one repeatable flag takes a value whole and refuses an
// empty one (tail's --key, which may hold commas), or splits a comma list
// and drops empty items (redrive's --incident).
func TestListFlag(t *testing.T) {
	var keys []string
	whole := &listFlag{values: &keys}
	for _, v := range []string{"acme/891", `{"a":1,"b":2}`} {
		if err := whole.Set(v); err != nil {
			t.Fatal(err)
		}
	}
	if err := whole.Set(""); err == nil {
		t.Error("an empty value was taken")
	}
	if !slices.Equal(keys, []string{"acme/891", `{"a":1,"b":2}`}) {
		t.Errorf("whole values: %q", keys)
	}
	var ids []string
	list := &listFlag{values: &ids, comma: true}
	for _, v := range []string{"1, 2", "", "3,,"} {
		if err := list.Set(v); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(ids, []string{"1", "2", "3"}) || list.String() != "1,2,3" {
		t.Errorf("comma lists: %q", ids)
	}
	if (&listFlag{}).String() != "" {
		t.Error("the zero flag prints a value")
	}
}
