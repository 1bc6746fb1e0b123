package config

import (
	"reflect"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// TestTenantEqualComparesEveryField: a change to any exported field of a
// Tenant, one added later included, makes it unequal, so a reload never
// misses a changed setting; nil and empty lists are alike.
func TestTenantEqualComparesEveryField(t *testing.T) {
	base := Tenant{ID: "acme", APIKey: xdr.NewSecret("k")}
	if !base.Equal(base) {
		t.Fatal("a tenant is not equal to itself")
	}
	ty := reflect.TypeFor[Tenant]()
	for i := range ty.NumField() {
		f := ty.Field(i)
		if !f.IsExported() {
			continue
		}
		changed := base
		v := reflect.ValueOf(&changed).Elem().Field(i)
		switch {
		case f.Type == reflect.TypeFor[xdr.Secret]():
			v.Set(reflect.ValueOf(xdr.NewSecret("other")))
		case f.Type == reflect.TypeFor[time.Duration]():
			v.SetInt(int64(time.Second))
		case v.Kind() == reflect.String:
			v.SetString("x")
		case v.Kind() == reflect.Int:
			v.SetInt(7)
		case v.Kind() == reflect.Bool:
			v.SetBool(true)
		case v.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.String:
			v.Set(reflect.ValueOf([]string{"x"}))
		default:
			t.Fatalf("field %s of type %s: teach this test to change it", f.Name, f.Type)
		}
		if base.Equal(changed) || changed.Equal(base) {
			t.Errorf("a tenant whose %s changed is equal to the original", f.Name)
		}
	}
	empty := base
	empty.FilterStatuses = []string{}
	if !base.Equal(empty) {
		t.Error("nil and empty FilterStatuses differ")
	}
	warned := base
	warned.keyFileWarning = "readable by others"
	if !base.Equal(warned) {
		t.Error("the key file's warning, which follows from the key file, makes tenants differ")
	}
}
