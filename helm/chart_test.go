// Package helm_test renders the xdr-kafka-connector chart offline with the Helm
// Go SDK and strictly decodes every manifest into the typed Kubernetes API
// structs, so a misspelt or misplaced field fails here rather than in a
// cluster. It also checks the chart against the connector's configuration
// contract (pkg/config) and the Dockerfile.
package helm_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/sethvargo/go-envconfig"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
)

const (
	chartDir    = "xdr-kafka-connector"
	releaseName = "prod"
	namespace   = "soc"
	fullname    = "prod-xdr-kafka-connector"
	// testAPIKey is the API key of the default test values. It must never
	// appear in rendered text; only its base64 form, in the chart's Secret.
	testAPIKey = "test-api-key-0c5e9a17d3b4"
	// tenantsFileEnv is the setting of multi-tenant mode; the chart renders
	// it only when values list tenants.
	tenantsFileEnv = "TENANTS_FILE"
)

// singleTenantEnv are the settings of the one tenant of the environment,
// which multi-tenant mode does not render.
var singleTenantEnv = []string{"XDR_BASE_URL", "XDR_API_KEY_ID", "XDR_API_KEY_FILE", "XDR_API_KEY", "XDR_AUTH_MODE", "XDR_TENANT"}

// requiredValues is the smallest valid install: the chart's defaults plus the
// values the schema requires.
const requiredValues = `
xdr:
  baseUrl: https://api-acme.xdr.us.paloaltonetworks.com
  apiKey: ` + testAPIKey + `
  apiKeyId: "42"
kafka:
  brokers:
    - kafka-0.kafka:9092
    - kafka-1.kafka:9092
`

// serviceMonitor is the part of monitoring.coreos.com/v1 ServiceMonitor the
// chart renders; decoding into it rejects any other field.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		NamespaceSelector struct {
			MatchNames []string `json:"matchNames"`
		} `json:"namespaceSelector"`
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
			Authorization *struct {
				Type        string                   `json:"type"`
				Credentials corev1.SecretKeySelector `json:"credentials"`
			} `json:"authorization,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// tenantsFile is the connector's TENANTS_FILE contract as the chart renders
// it; decoding into it strictly rejects any other key. api_key (a key inline)
// is part of the contract but deliberately absent: the chart must never
// write a key into the file.
type tenantsFile struct {
	Defaults *tenantSettings `json:"defaults,omitempty"`
	Tenants  []tenantEntry   `json:"tenants"`
}

type tenantEntry struct {
	ID         string `json:"id"`
	BaseURL    string `json:"base_url"`
	APIKeyID   string `json:"api_key_id"`
	APIKeyFile string `json:"api_key_file"`
	AuthMode   string `json:"auth_mode"`
	Disabled   *bool  `json:"disabled,omitempty"`
	tenantSettings
}

// tenantSettings are the keys a tenant (or defaults) may set; nil is unset.
type tenantSettings struct {
	PollInterval       *string  `json:"poll_interval,omitempty"`
	Lookback           *string  `json:"lookback,omitempty"`
	StartFrom          *string  `json:"start_from,omitempty"`
	EnrichRateLimit    *int     `json:"enrich_rate_limit,omitempty"`
	EnrichRateWindow   *string  `json:"enrich_rate_window,omitempty"`
	EnrichWorkers      *int     `json:"enrich_workers,omitempty"`
	AlertsLimit        *int     `json:"alerts_limit,omitempty"`
	FilterStatuses     []string `json:"filter_statuses,omitempty"`
	FilterStarred      *bool    `json:"filter_starred,omitempty"`
	FilterAlertSources []string `json:"filter_alert_sources,omitempty"`
	RequestTimeout     *string  `json:"request_timeout,omitempty"`
	Writeback          *string  `json:"writeback,omitempty"`
}

// rendered is one release's manifests, decoded.
type rendered struct {
	files          map[string]string // template path -> rendered text
	notes          string
	deployment     *appsv1.Deployment
	service        *corev1.Service
	serviceAccount *corev1.ServiceAccount
	testPod        *corev1.Pod
	pdb            *policyv1.PodDisruptionBudget
	netpol         *networkingv1.NetworkPolicy
	serviceMonitor *serviceMonitor
	prometheusRule *prometheusRule
	secrets        []*corev1.Secret
	configMaps     []*corev1.ConfigMap
	values         chartutil.Values // the user-supplied values
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.LoadDir(chartDir)
	if err != nil {
		t.Fatalf("loading chart: %v", err)
	}
	return ch
}

func readValues(t *testing.T, text string) chartutil.Values {
	t.Helper()
	v, err := chartutil.ReadValues([]byte(text))
	if err != nil {
		t.Fatalf("parsing values: %v", err)
	}
	return v
}

func readValuesFile(t *testing.T, name string) chartutil.Values {
	t.Helper()
	v, err := chartutil.ReadValuesFile(name)
	if err != nil {
		t.Fatalf("reading %s: %v", name, err)
	}
	return v
}

// renderValues validates vals against values.schema.json (as helm install
// does) and renders every template.
func renderValues(ch *chart.Chart, vals chartutil.Values) (map[string]string, error) {
	opts := chartutil.ReleaseOptions{Name: releaseName, Namespace: namespace, Revision: 1, IsInstall: true}
	top, err := chartutil.ToRenderValues(ch, vals, opts, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, fmt.Errorf("building render values: %w", err)
	}
	out, err := engine.Render(ch, top)
	if err != nil {
		return nil, fmt.Errorf("rendering: %w", err)
	}
	return out, nil
}

// render renders vals and strictly decodes every manifest, failing the test
// on any schema, template or decoding error.
func render(t *testing.T, ch *chart.Chart, vals chartutil.Values) *rendered {
	t.Helper()
	files, err := renderValues(ch, vals)
	if err != nil {
		t.Fatal(err)
	}
	r := &rendered{files: map[string]string{}, values: vals}
	for name, text := range files {
		r.files[name] = text
		switch {
		case strings.HasSuffix(name, "NOTES.txt"):
			r.notes = text
			continue
		case path.Ext(name) != ".yaml":
			continue
		}
		for i, doc := range splitDocs(text) {
			if err := r.decode(doc); err != nil {
				t.Fatalf("%s (document %d): %v\n%s", name, i, err, doc)
			}
		}
	}
	if r.deployment == nil || r.service == nil || r.testPod == nil {
		t.Fatalf("missing Deployment, Service or test Pod in %v", slices.Sorted(maps.Keys(files)))
	}
	return r
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// splitDocs returns the YAML documents of text that hold more than comments.
func splitDocs(text string) []string {
	var docs []string
	for _, d := range docSep.Split(text, -1) {
		for _, line := range strings.Split(d, "\n") {
			if s := strings.TrimSpace(line); s != "" && !strings.HasPrefix(s, "#") {
				docs = append(docs, d)
				break
			}
		}
	}
	return docs
}

// strictDecode converts a YAML document to JSON and decodes it into out,
// rejecting unknown fields and trailing data.
func strictDecode(doc string, out any) error {
	j, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		return fmt.Errorf("converting YAML to JSON: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("decoding %T: %w", out, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("decoding %T: trailing data", out)
	}
	return nil
}

func (r *rendered) decode(doc string) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
		return fmt.Errorf("reading apiVersion and kind: %w", err)
	}
	want := map[string]string{
		"Deployment": "apps/v1", "Service": "v1", "ServiceAccount": "v1", "Pod": "v1",
		"Secret": "v1", "ConfigMap": "v1", "PodDisruptionBudget": "policy/v1",
		"NetworkPolicy": "networking.k8s.io/v1", "ServiceMonitor": "monitoring.coreos.com/v1",
		"PrometheusRule": "monitoring.coreos.com/v1",
	}
	if v, ok := want[tm.Kind]; !ok || v != tm.APIVersion {
		return fmt.Errorf("unexpected %s %s", tm.APIVersion, tm.Kind)
	}
	var (
		obj  any
		meta *metav1.ObjectMeta
	)
	single := func(dst any, name string) error {
		if !reflect.ValueOf(dst).Elem().IsNil() {
			return fmt.Errorf("more than one %s", name)
		}
		return nil
	}
	switch tm.Kind {
	case "Deployment":
		if err := single(&r.deployment, tm.Kind); err != nil {
			return err
		}
		r.deployment = new(appsv1.Deployment)
		obj, meta = r.deployment, &r.deployment.ObjectMeta
	case "Service":
		if err := single(&r.service, tm.Kind); err != nil {
			return err
		}
		r.service = new(corev1.Service)
		obj, meta = r.service, &r.service.ObjectMeta
	case "ServiceAccount":
		if err := single(&r.serviceAccount, tm.Kind); err != nil {
			return err
		}
		r.serviceAccount = new(corev1.ServiceAccount)
		obj, meta = r.serviceAccount, &r.serviceAccount.ObjectMeta
	case "Pod":
		if err := single(&r.testPod, tm.Kind); err != nil {
			return err
		}
		r.testPod = new(corev1.Pod)
		obj, meta = r.testPod, &r.testPod.ObjectMeta
	case "PodDisruptionBudget":
		if err := single(&r.pdb, tm.Kind); err != nil {
			return err
		}
		r.pdb = new(policyv1.PodDisruptionBudget)
		obj, meta = r.pdb, &r.pdb.ObjectMeta
	case "NetworkPolicy":
		if err := single(&r.netpol, tm.Kind); err != nil {
			return err
		}
		r.netpol = new(networkingv1.NetworkPolicy)
		obj, meta = r.netpol, &r.netpol.ObjectMeta
	case "ServiceMonitor":
		if err := single(&r.serviceMonitor, tm.Kind); err != nil {
			return err
		}
		r.serviceMonitor = new(serviceMonitor)
		obj, meta = r.serviceMonitor, &r.serviceMonitor.ObjectMeta
	case "PrometheusRule":
		if err := single(&r.prometheusRule, tm.Kind); err != nil {
			return err
		}
		r.prometheusRule = new(prometheusRule)
		obj, meta = r.prometheusRule, &r.prometheusRule.ObjectMeta
	case "Secret":
		s := new(corev1.Secret)
		r.secrets = append(r.secrets, s)
		obj, meta = s, &s.ObjectMeta
	case "ConfigMap":
		c := new(corev1.ConfigMap)
		r.configMaps = append(r.configMaps, c)
		obj, meta = c, &c.ObjectMeta
	}
	if err := strictDecode(doc, obj); err != nil {
		return err
	}
	if meta.Name == "" || meta.Namespace == "" {
		return fmt.Errorf("%s without name or namespace", tm.Kind)
	}
	if meta.Labels["app.kubernetes.io/instance"] != releaseName {
		return fmt.Errorf("%s %s lacks the instance label", tm.Kind, meta.Name)
	}
	return nil
}

func (r *rendered) container() *corev1.Container {
	return &r.deployment.Spec.Template.Spec.Containers[0]
}

func (r *rendered) secret(name string) *corev1.Secret {
	for _, s := range r.secrets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func envVar(c *corev1.Container, name string) (corev1.EnvVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return corev1.EnvVar{}, false
}

func volume(spec *corev1.PodSpec, name string) *corev1.Volume {
	for i := range spec.Volumes {
		if spec.Volumes[i].Name == name {
			return &spec.Volumes[i]
		}
	}
	return nil
}

// mountedFile finds the volume that provides the file at p inside c and the
// key of the Secret or ConfigMap projected there. It fails unless the mount is
// read-only and the volume projects exactly that one key.
func mountedFile(t *testing.T, spec *corev1.PodSpec, c *corev1.Container, p string) (v *corev1.Volume, key string) {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if path.Dir(p) != m.MountPath {
			continue
		}
		if !m.ReadOnly {
			t.Errorf("mount %s of %s is writable", m.MountPath, m.Name)
		}
		v = volume(spec, m.Name)
		if v == nil {
			t.Fatalf("mount %s names missing volume %s", m.MountPath, m.Name)
		}
		var items []corev1.KeyToPath
		switch {
		case v.Secret != nil:
			items = v.Secret.Items
		case v.ConfigMap != nil:
			items = v.ConfigMap.Items
		default:
			t.Fatalf("volume %s behind %s is neither a Secret nor a ConfigMap", v.Name, p)
		}
		if len(items) != 1 || items[0].Path != path.Base(p) {
			t.Fatalf("volume %s projects %+v, want one key at %s", v.Name, items, path.Base(p))
		}
		return v, items[0].Key
	}
	t.Fatalf("no volume mounted at %s (for %s)", path.Dir(p), p)
	return nil, ""
}

// projectedSecretFile finds the projected volume that provides the file at p
// inside c, and the Secret and key projected there. It fails unless the mount
// is read-only, every source of the volume is a Secret, and exactly one item
// lands at p.
func projectedSecretFile(t *testing.T, spec *corev1.PodSpec, c *corev1.Container, p string) (v *corev1.Volume, secret, key string) {
	t.Helper()
	for _, m := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(p, m.MountPath+"/")
		if !ok {
			continue
		}
		if !m.ReadOnly {
			t.Errorf("mount %s of %s is writable", m.MountPath, m.Name)
		}
		if v = volume(spec, m.Name); v == nil || v.Projected == nil {
			t.Fatalf("mount %s of %s is not a projected volume", m.MountPath, m.Name)
		}
		found := 0
		for _, src := range v.Projected.Sources {
			if src.Secret == nil {
				t.Fatalf("volume %s projects %+v, want Secrets only", v.Name, src)
			}
			for _, it := range src.Secret.Items {
				if it.Path == rel {
					found++
					secret, key = src.Secret.Name, it.Key
				}
			}
		}
		if found != 1 {
			t.Fatalf("volume %s projects %d items at %s, want one", v.Name, found, rel)
		}
		return v, secret, key
	}
	t.Fatalf("no volume mounted above %s", p)
	return nil, "", ""
}

// tenantsFileOf finds the ConfigMap behind TENANTS_FILE and strictly decodes
// the file.
func tenantsFileOf(t *testing.T, r *rendered) (*tenantsFile, *corev1.ConfigMap) {
	t.Helper()
	e, ok := envVar(r.container(), tenantsFileEnv)
	if !ok {
		t.Fatalf("no %s", tenantsFileEnv)
	}
	v, key := mountedFile(t, &r.deployment.Spec.Template.Spec, r.container(), e.Value)
	if v.ConfigMap == nil {
		t.Fatalf("%s comes from volume %s, which is not a ConfigMap", tenantsFileEnv, v.Name)
	}
	for _, cm := range r.configMaps {
		if cm.Name != v.ConfigMap.Name {
			continue
		}
		var f tenantsFile
		if err := yaml.UnmarshalStrict([]byte(cm.Data[key]), &f); err != nil {
			t.Fatalf("ConfigMap %s key %s is not a tenants file: %v\n%s", cm.Name, key, err, cm.Data[key])
		}
		return &f, cm
	}
	t.Fatalf("the chart renders no ConfigMap %s", v.ConfigMap.Name)
	return nil, nil
}

// configTags returns the env tags of config.Config: name -> default ("" if none).
func configTags(t *testing.T) map[string]string {
	t.Helper()
	tags := map[string]string{}
	typ := reflect.TypeFor[config.Config]()
	for i := range typ.NumField() {
		tag, ok := typ.Field(i).Tag.Lookup("env")
		if !ok {
			continue
		}
		parts := strings.Split(tag, ",")
		name := strings.TrimSpace(parts[0])
		tags[name] = ""
		for _, opt := range parts[1:] {
			if d, ok := strings.CutPrefix(strings.TrimSpace(opt), "default="); ok {
				tags[name] = d
			}
		}
	}
	if len(tags) < 30 {
		t.Fatalf("found only %d env tags in config.Config", len(tags))
	}
	return tags
}

// checkEnvNames fails for any env variable of c that is neither a config tag,
// nor an OTEL_* variable read by the OpenTelemetry SDK, nor listed in extraEnv.
// TENANTS_FILE is accepted before pkg/config has its tag (see
// TestEveryRunSettingIsSettable).
func checkEnvNames(t *testing.T, tags map[string]string, r *rendered, c *corev1.Container) {
	t.Helper()
	extra := map[string]bool{}
	if list, ok := r.values["extraEnv"].([]any); ok {
		for _, e := range list {
			if m, ok := e.(map[string]any); ok {
				extra[fmt.Sprint(m["name"])] = true
			}
		}
	}
	seen := map[string]bool{}
	for _, e := range c.Env {
		if seen[e.Name] {
			t.Errorf("%s: env %s set twice", c.Name, e.Name)
		}
		seen[e.Name] = true
		_, isTag := tags[e.Name]
		isTag = isTag || e.Name == tenantsFileEnv
		// GOMEMLIMIT is the Go runtime's soft memory limit, not a connector setting.
		if !isTag && !strings.HasPrefix(e.Name, "OTEL_") && !extra[e.Name] && e.Name != "GOMEMLIMIT" {
			t.Errorf("%s: env %s is not an env tag of config.Config", c.Name, e.Name)
		}
	}
}

// checkPod asserts what every install must hold, whatever the values.
func checkPod(t *testing.T, tags map[string]string, r *rendered) {
	t.Helper()
	d := r.deployment
	spec := &d.Spec.Template.Spec
	// Without scale-out, two pods never share an API key's budget, not even
	// during an upgrade; with it, the group hands each tenant over.
	want := appsv1.RecreateDeploymentStrategyType
	if e, _ := envVar(&spec.Containers[0], "KAFKA_GROUP_ENABLED"); e.Value == "true" {
		want = appsv1.RollingUpdateDeploymentStrategyType
	}
	if d.Spec.Strategy.Type != want {
		t.Errorf("strategy = %q, want %s", d.Spec.Strategy.Type, want)
	}
	for k, v := range d.Spec.Selector.MatchLabels {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the pod template", k, v)
		}
		if r.service.Spec.Selector[k] != v {
			t.Errorf("Service selector lacks %s=%s", k, v)
		}
	}
	if len(r.service.Spec.Selector) != len(d.Spec.Selector.MatchLabels) {
		t.Errorf("Service selector %v differs from the Deployment's %v", r.service.Spec.Selector, d.Spec.Selector.MatchLabels)
	}
	if labels.SelectorFromSet(d.Spec.Selector.MatchLabels).Matches(labels.Set(r.testPod.Labels)) {
		t.Error("the test pod matches the Deployment's and the Service's selector")
	}

	for _, p := range []struct {
		name string
		spec *corev1.PodSpec
	}{{"deployment", spec}, {"test pod", &r.testPod.Spec}} {
		ps := p.spec
		if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
			t.Errorf("%s: automountServiceAccountToken is not false", p.name)
		}
		psc := ps.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot ||
			psc.RunAsUser == nil || *psc.RunAsUser != 65532 ||
			psc.RunAsGroup == nil || *psc.RunAsGroup != 65532 ||
			psc.FSGroup == nil || *psc.FSGroup != 65532 ||
			psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: pod securityContext = %+v", p.name, psc)
		}
		if len(ps.Containers) != 1 || len(ps.InitContainers) != 0 {
			t.Fatalf("%s: want exactly one container", p.name)
		}
		c := &ps.Containers[0]
		sc := c.SecurityContext
		if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot ||
			sc.RunAsUser == nil || *sc.RunAsUser != 65532 ||
			sc.RunAsGroup == nil || *sc.RunAsGroup != 65532 ||
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
			len(sc.Capabilities.Add) != 0 ||
			sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: container securityContext = %+v", p.name, sc)
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if c.Resources.Requests.Name(res, "").IsZero() || c.Resources.Limits.Name(res, "").IsZero() {
				t.Errorf("%s: no %s request or limit", p.name, res)
			}
		}
		// The only writable place is the /tmp emptyDir.
		for _, v := range ps.Volumes {
			if v.EmptyDir != nil && v.Name != "tmp" {
				t.Errorf("%s: unexpected emptyDir %s", p.name, v.Name)
			}
			if v.HostPath != nil {
				t.Errorf("%s: hostPath volume %s", p.name, v.Name)
			}
		}
		for _, m := range c.VolumeMounts {
			v := volume(ps, m.Name)
			if v == nil {
				t.Fatalf("%s: mount of missing volume %s", p.name, m.Name)
			}
			if v.EmptyDir != nil {
				if m.MountPath != "/tmp" || v.EmptyDir.SizeLimit == nil {
					t.Errorf("%s: emptyDir %s at %s (size limit %v), want /tmp with a limit", p.name, m.Name, m.MountPath, v.EmptyDir.SizeLimit)
				}
			} else if !m.ReadOnly {
				t.Errorf("%s: %s mounted writable", p.name, m.Name)
			}
		}
		if e, ok := envVar(c, "DATA_DIR"); !ok || !strings.HasPrefix(e.Value, "/tmp/") {
			t.Errorf("%s: DATA_DIR = %q, want a path under the /tmp emptyDir", p.name, e.Value)
		}
		// Secrets only ever as files.
		for _, name := range []string{"XDR_API_KEY", "KAFKA_SASL_PASSWORD"} {
			if _, ok := envVar(c, name); ok {
				t.Errorf("%s: secret passed as env %s", p.name, name)
			}
		}
		checkEnvNames(t, tags, r, c)
	}

	c := r.container()
	if !slices.Equal(c.Args, []string{"run"}) || len(c.Command) != 0 {
		t.Errorf("connector command %v args %v, want the image entrypoint with args [run]", c.Command, c.Args)
	}
	tc := &r.testPod.Spec.Containers[0]
	if !slices.Equal(tc.Args, []string{"check"}) || len(tc.Command) != 0 {
		t.Errorf("test pod command %v args %v, want args [check]", tc.Command, tc.Args)
	}
	if tc.Image != c.Image {
		t.Errorf("test pod image %s, connector image %s", tc.Image, c.Image)
	}
	if !reflect.DeepEqual(tc.Env, c.Env) || !reflect.DeepEqual(tc.VolumeMounts, c.VolumeMounts) ||
		!reflect.DeepEqual(r.testPod.Spec.Volumes, spec.Volumes) {
		t.Errorf("the test pod's env, mounts or volumes differ from the connector's")
	}
	if r.testPod.Annotations["helm.sh/hook"] != "test" || r.testPod.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("test pod: hook %q, restartPolicy %q", r.testPod.Annotations["helm.sh/hook"], r.testPod.Spec.RestartPolicy)
	}

	// Probes and the metrics port.
	if len(c.Ports) != 1 || c.Ports[0].Name != "metrics" {
		t.Fatalf("ports = %+v, want one named metrics", c.Ports)
	}
	port := c.Ports[0].ContainerPort
	if e, _ := envVar(c, "HTTP_ADDR"); e.Value != fmt.Sprintf(":%d", port) {
		t.Errorf("HTTP_ADDR = %q, container port %d", e.Value, port)
	}
	for _, p := range []struct {
		probe *corev1.Probe
		path  string
	}{{c.LivenessProbe, "/healthz"}, {c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no HTTP probe for %s", p.path)
			continue
		}
		g := p.probe.HTTPGet
		if g.Path != p.path || g.Port.String() != "metrics" {
			t.Errorf("probe %s:%s, want %s on port metrics", g.Path, g.Port.String(), p.path)
		}
	}
	if sp := r.service.Spec.Ports; len(sp) != 1 || sp[0].Name != "metrics" || sp[0].TargetPort.String() != "metrics" {
		t.Errorf("Service ports = %+v", sp)
	}

	if _, multi := envVar(c, tenantsFileEnv); multi {
		// Multi-tenant mode: no tenant in the environment; each tenant's key
		// from a Secret, by file, readable only by the pod.
		for _, name := range singleTenantEnv {
			if _, ok := envVar(c, name); ok {
				t.Errorf("%s is rendered beside %s", name, tenantsFileEnv)
			}
		}
		f, _ := tenantsFileOf(t, r)
		if len(f.Tenants) == 0 {
			t.Fatal("the tenants file lists no tenant")
		}
		for _, tn := range f.Tenants {
			v, _, _ := projectedSecretFile(t, spec, c, tn.APIKeyFile)
			if m := v.Projected.DefaultMode; m == nil || *m != 0o440 {
				t.Errorf("tenant key volume defaultMode = %s, want 0440", fmtMode(m))
			}
		}
		// A subPath mount would never see the ConfigMap's updates.
		for _, m := range c.VolumeMounts {
			if m.SubPath != "" || m.SubPathExpr != "" {
				t.Errorf("mount %s uses a subPath", m.Name)
			}
		}
	} else {
		// The API key: from a Secret volume, by file, readable only by the pod.
		keyFile, ok := envVar(c, "XDR_API_KEY_FILE")
		if !ok {
			t.Fatal("no XDR_API_KEY_FILE")
		}
		v, _ := mountedFile(t, spec, c, keyFile.Value)
		if v.Secret == nil {
			t.Fatalf("the API key comes from volume %s, which is not a Secret", v.Name)
		}
		if m := v.Secret.DefaultMode; m == nil || *m != 0o440 {
			t.Errorf("API key volume defaultMode = %s, want 0440", fmtMode(m))
		}
		id, ok := envVar(c, "XDR_API_KEY_ID")
		if !ok || id.Value != "" || id.ValueFrom == nil || id.ValueFrom.SecretKeyRef == nil ||
			id.ValueFrom.SecretKeyRef.Name != v.Secret.SecretName {
			t.Errorf("XDR_API_KEY_ID = %+v, want a secretKeyRef into %s", id, v.Secret.SecretName)
		}
	}
	for _, cm := range r.configMaps {
		want := "ca.crt"
		switch cm.Name {
		case fullname + "-tenants":
			want = "tenants.yaml"
		case fullname + "-dashboard":
			want = "xdr-connector.json"
		}
		if _, ok := cm.Data[want]; !ok || len(cm.Data) != 1 {
			t.Errorf("ConfigMap %s holds %v; the chart's ConfigMaps are the CA bundle, the tenants file and the dashboard", cm.Name, slices.Sorted(maps.Keys(cm.Data)))
		}
	}
}

// notSettable lists the config tags that are deliberately not chart values,
// with the reason.
func notSettable() map[string]string {
	return map[string]string{
		"XDR_API_KEY":         "a secret: the chart passes it only as a file (XDR_API_KEY_FILE)",
		"KAFKA_SASL_PASSWORD": "a secret: the chart passes it only as a file (KAFKA_SASL_PASSWORD_FILE)",
		"DATA_DIR": "the embedded broker's directory; the chart requires kafka.brokers so it never runs, " +
			"and pins DATA_DIR under the writable /tmp emptyDir",
		"XDR_ALLOW_INSECURE_HTTP":   "the chart offers no way to send the API key in clear text; extraEnv can, deliberately",
		"KAFKA_ALLOW_INSECURE_SASL": "the chart offers no way to send SASL credentials without TLS; extraEnv can, deliberately",
		"KAFKA_TOPIC_PREFIX":        "the chart names every topic in topics.*, which set each KAFKA_TOPIC_* and so override a prefix",
	}
}

func fmtMode(m *int32) string {
	if m == nil {
		return "unset"
	}
	return fmt.Sprintf("%#o", *m)
}

// TestRenderRequiredValues renders the chart's defaults plus the required
// values and checks the objects, the pod hardening and the API key handling.
func TestRenderRequiredValues(t *testing.T) {
	ch := loadChart(t)
	tags := configTags(t)
	r := render(t, ch, readValues(t, requiredValues))
	checkPod(t, tags, r)

	d := r.deployment
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas = %v, want 1", d.Spec.Replicas)
	}
	// The Go runtime's soft limit sits below the container's memory limit.
	if e, ok := envVar(r.container(), "GOMEMLIMIT"); !ok || e.Value != "200MiB" {
		t.Errorf("GOMEMLIMIT = %+v (set %v), want 200MiB by default", e, ok)
	}
	if r.pdb != nil || r.serviceMonitor != nil || len(r.configMaps) != 0 {
		t.Errorf("optional objects rendered by default: pdb=%v sm=%v configmaps=%d",
			r.pdb != nil, r.serviceMonitor != nil, len(r.configMaps))
	}
	checkDefaultNetworkPolicy(t, r)
	// GET /tenants is off unless asked for, and no token is set.
	if e, _ := envVar(r.container(), "HTTP_TENANTS_ENABLED"); e.Value != "false" {
		t.Errorf("HTTP_TENANTS_ENABLED = %q by default, want false", e.Value)
	}
	if _, ok := envVar(r.container(), "HTTP_TOKEN_FILE"); ok {
		t.Error("HTTP_TOKEN_FILE rendered without metrics.tokenSecret")
	}
	if r.serviceAccount == nil || r.serviceAccount.AutomountServiceAccountToken == nil || *r.serviceAccount.AutomountServiceAccountToken {
		t.Error("want a ServiceAccount with automountServiceAccountToken: false")
	} else if d.Spec.Template.Spec.ServiceAccountName != r.serviceAccount.Name {
		t.Errorf("pod uses ServiceAccount %q, chart creates %q", d.Spec.Template.Spec.ServiceAccountName, r.serviceAccount.Name)
	}
	if want := "ghcr.io/soc-tools/xdr-kafka-connector:" + ch.Metadata.AppVersion; r.container().Image != want {
		t.Errorf("image = %s, want %s (tag defaults to appVersion)", r.container().Image, want)
	}

	// The chart-managed Secret holds the key; the pod reads it by file.
	s := r.secret(fullname)
	if s == nil {
		t.Fatalf("no Secret %s", fullname)
	}
	if string(s.Data["xdr-api-key"]) != testAPIKey || string(s.Data["xdr-api-key-id"]) != "42" {
		t.Errorf("Secret data keys %v do not hold the key and id", slices.Sorted(maps.Keys(s.Data)))
	}
	keyFile, _ := envVar(r.container(), "XDR_API_KEY_FILE")
	v, key := mountedFile(t, &d.Spec.Template.Spec, r.container(), keyFile.Value)
	if v.Secret.SecretName != fullname || key != "xdr-api-key" {
		t.Errorf("API key file from Secret %s key %s, want %s key xdr-api-key", v.Secret.SecretName, key, fullname)
	}
	if d.Spec.Template.Annotations["checksum/secret"] == "" {
		t.Error("no checksum/secret annotation: changing the key would not restart the pod")
	}

	// The key in clear text appears nowhere; its base64 form only in the Secret.
	b64 := base64.StdEncoding.EncodeToString([]byte(testAPIKey))
	for name, text := range r.files {
		if strings.Contains(text, testAPIKey) {
			t.Errorf("%s contains the API key in clear text", name)
		}
		if strings.Contains(text, b64) && !strings.HasSuffix(name, "/secret.yaml") {
			t.Errorf("%s contains the API key (base64)", name)
		}
	}
	for _, c := range []*corev1.Container{r.container(), &r.testPod.Spec.Containers[0]} {
		for _, e := range c.Env {
			if strings.Contains(e.Value, testAPIKey) || strings.Contains(e.Value, b64) {
				t.Errorf("env %s holds the API key", e.Name)
			}
		}
	}

	// NOTES: the next steps, with this release's names.
	for _, want := range []string{
		"kubectl -n soc logs deployment/" + fullname + " -f",
		"kubectl -n soc rollout status deployment/" + fullname,
		"/readyz",
		"helm test " + releaseName + " -n soc",
		"-t xdr.incidents",
		"--bootstrap-server kafka-0.kafka:9092",
		"NETWORK POLICY " + fullname + ": the pod accepts connections on port 8080 only",
		"the Kafka brokers' ports on\n10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16.",
		"SCALE-OUT", // the default, as the connector's with KAFKA_BROKERS
	} {
		if !strings.Contains(r.notes, want) {
			t.Errorf("NOTES.txt lacks %q", want)
		}
	}
	// Without the group, one replica: the notes say why.
	off := render(t, loadChart(t), readValues(t, requiredValues+"scaleOut:\n  enabled: false\n"))
	for _, want := range []string{"ONE REPLICA", "429"} {
		if !strings.Contains(off.notes, want) {
			t.Errorf("NOTES.txt without scaleOut lacks %q", want)
		}
	}
	if strings.Contains(r.notes, "WARNING") {
		t.Error("NOTES.txt warns about replicas with replicaCount 1")
	}
}

// checkDefaultNetworkPolicy: the NetworkPolicy is on by default. It admits
// only the metrics port, and lets the pod reach DNS, the XDR API's port on
// public addresses only, and the brokers' ports on the private ranges.
func checkDefaultNetworkPolicy(t *testing.T, r *rendered) {
	t.Helper()
	np := r.netpol
	if np == nil {
		t.Fatal("no NetworkPolicy by default")
	}
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
		t.Errorf("policyTypes = %v", np.Spec.PolicyTypes)
	}
	if len(np.Spec.Ingress) != 1 || portsOf(np.Spec.Ingress[0].Ports) != "TCP/8080" {
		t.Errorf("ingress = %+v, want only TCP/8080", np.Spec.Ingress)
	}
	var egress []string
	for _, e := range np.Spec.Egress {
		egress = append(egress, portsOf(e.Ports))
	}
	if want := []string{"UDP/53,TCP/53", "TCP/443", "TCP/9092"}; !slices.Equal(egress, want) {
		t.Fatalf("egress ports = %v, want %v", egress, want)
	}
	private := []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}
	if xdr := np.Spec.Egress[1].To; len(xdr) != 1 || xdr[0].IPBlock == nil || xdr[0].IPBlock.CIDR != "0.0.0.0/0" ||
		!slices.Equal(xdr[0].IPBlock.Except, append(slices.Clone(private), "169.254.0.0/16")) {
		t.Errorf("XDR API egress = %+v, want 0.0.0.0/0 except the private and link-local ranges", xdr)
	}
	var kafka []string
	for _, p := range np.Spec.Egress[2].To {
		if p.IPBlock == nil {
			t.Fatalf("Kafka egress peer %+v is not a CIDR", p)
		}
		kafka = append(kafka, p.IPBlock.CIDR)
	}
	if !slices.Equal(kafka, private) {
		t.Errorf("Kafka egress CIDRs = %v, want %v", kafka, private)
	}
}

// TestDefaultsMatchConfig checks that every value the chart renders by default
// equals the default in the config tag, so the chart does not silently change
// the connector's behaviour.
func TestDefaultsMatchConfig(t *testing.T) {
	ch := loadChart(t)
	tags := configTags(t)
	r := render(t, ch, readValues(t, requiredValues))
	fixed := notSettable()
	checked := 0
	for _, e := range r.container().Env {
		def := tags[e.Name]
		if _, ok := fixed[e.Name]; ok || def == "" {
			continue
		}
		checked++
		if e.Value == def || e.Name == "KAFKA_GROUP_ENABLED" && def == "auto" && e.Value == "true" {
			continue // the chart always names brokers, with which auto is on
		}
		got, err1 := time.ParseDuration(e.Value)
		want, err2 := time.ParseDuration(def)
		if err1 != nil || err2 != nil || got != want {
			t.Errorf("%s defaults to %q in the chart, %q in pkg/config", e.Name, e.Value, def)
		}
	}
	if checked < 20 {
		t.Errorf("compared only %d defaults", checked)
	}
}

// allSettings sets every `connector run` setting to a value unlike its
// default (DELIVERY has one legal value only).
const allSettings = `
xdr:
  baseUrl: https://api-tenant-b.xdr.eu.paloaltonetworks.com
  apiKey: all-settings-key
  apiKeyId: 31337
  authMode: advanced
  requestTimeout: 45s
  maxRetryAfter: 2m
  requestsPerSecond: 7
  replyBudgetBytes: 67108864
  tenant: tenant-b
kafka:
  brokers: [k1.example:9093, k2.example:9094]
  replicationFactor: 3
  partitions: 12
  maxRecordBytes: 2097152
  compression: lz4
  sasl:
    mechanism: SCRAM-SHA-256
    username: svc-xdr
    password: all-settings-sasl-password
  tls:
    enabled: true
    insecureSkipVerify: true
    ca:
      pem: |
        -----BEGIN CERTIFICATE-----
        MIIBfake
        -----END CERTIFICATE-----
topics:
  incidents: t.incidents
  alerts: t.alerts
  artifacts: t.artifacts
  dlq: t.dlq
  offsets: t.offsets
  slots: t.slots
  ocsfIncidents: t.ocsf.incidents
  ocsfAlerts: t.ocsf.alerts
  ecsIncidents: t.ecs.incidents
  ecsAlerts: t.ecs.alerts
  commands: t.commands
  commandResults: t.command-results
writeback:
  enabled: true
  actions: [assign, update_alerts]
scaleOut:
  enabled: true
  sessionTimeout: 30s
  rebalanceTimeout: 50s
  heartbeatInterval: 2s
  slotsPartitions: 32
terminationGracePeriodSeconds: 40
pipeline:
  connectorName: conn-b
  pollInterval: 45s
  lookback: 5m
  startFrom: "2026-01-02T03:04:05Z"
  filterStatuses: [new, under_investigation]
  filterStarred: "true"
  filterAlertSources: [XDR Agent, Firewall]
  enrichRateLimit: 8
  enrichRateWindow: 61s
  enrichWorkers: 3
  enrichMaxAttempts: 9
  alertsLimit: 1000000
  enrichBulk: "on"
  enrichBulkSize: 50
  enrichBulkRateLimit: 7
  enrichBulkRateWindow: 62s
  commitInterval: 2500ms
  shutdownTimeout: 25s
  delivery: at-least-once
  outputProfiles: [native, ocsf, ecs]
log:
  level: debug
  format: json
metrics:
  port: 9191
  tenantsEndpoint: true
  tokenSecret:
    name: metrics-token
    key: bearer
service:
  port: 9191
extraEnv:
  - name: HTTPS_PROXY
    value: http://proxy.internal:3128
image:
  repository: registry.example/xdr-kafka-connector
  digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
imagePullSecrets:
  - name: regcred
nodeSelector:
  kubernetes.io/os: linux
tolerations:
  - key: dedicated
    operator: Equal
    value: soc
    effect: NoSchedule
affinity:
  nodeAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      nodeSelectorTerms:
        - matchExpressions:
            - key: kubernetes.io/arch
              operator: In
              values: [amd64, arm64]
`

// TestEveryRunSettingIsSettable maps every env tag of config.Config to the
// value that sets it and proves the mapping by rendering allSettings.
func TestEveryRunSettingIsSettable(t *testing.T) {
	ch := loadChart(t)
	tags := configTags(t)
	r := render(t, ch, readValues(t, allSettings))
	checkPod(t, tags, r)
	spec := &r.deployment.Spec.Template.Spec
	c := r.container()

	value := func(want string) func(*testing.T, corev1.EnvVar) {
		return func(t *testing.T, e corev1.EnvVar) {
			if e.Value != want || e.ValueFrom != nil {
				t.Errorf("%s = %q (from %v), want %q", e.Name, e.Value, e.ValueFrom, want)
			}
		}
	}
	// fileFrom checks a *_FILE variable: the file is key of the named Secret
	// or ConfigMap, mounted read-only, and holds want.
	fileFrom := func(kind, name, key, want string) func(*testing.T, corev1.EnvVar) {
		return func(t *testing.T, e corev1.EnvVar) {
			v, k := mountedFile(t, spec, c, e.Value)
			var src string
			switch {
			case v.Secret != nil:
				src = "Secret " + v.Secret.SecretName
				if s := r.secret(v.Secret.SecretName); s != nil && string(s.Data[k]) != want {
					t.Errorf("%s: %s key %s holds %q, want %q", e.Name, src, k, s.Data[k], want)
				}
			case v.ConfigMap != nil:
				src = "ConfigMap " + v.ConfigMap.Name
				for _, cm := range r.configMaps {
					if cm.Name == v.ConfigMap.Name && !strings.Contains(cm.Data[k], want) {
						t.Errorf("%s: %s key %s lacks %q", e.Name, src, k, want)
					}
				}
			}
			if src != kind+" "+name || k != key {
				t.Errorf("%s is %s key %s, want %s %s key %s", e.Name, src, k, kind, name, key)
			}
		}
	}

	settable := map[string]func(*testing.T, corev1.EnvVar){
		"XDR_BASE_URL":        value("https://api-tenant-b.xdr.eu.paloaltonetworks.com"),
		"XDR_AUTH_MODE":       value("advanced"),
		"XDR_REQUEST_TIMEOUT": value("45s"),
		"XDR_TENANT":          value("tenant-b"),
		"XDR_API_KEY_ID": func(t *testing.T, e corev1.EnvVar) {
			ref := e.ValueFrom.SecretKeyRef
			if ref == nil || ref.Name != fullname || ref.Key != "xdr-api-key-id" {
				t.Fatalf("XDR_API_KEY_ID from %+v", e.ValueFrom)
			}
			if got := string(r.secret(fullname).Data[ref.Key]); got != "31337" {
				t.Errorf("key id in the Secret = %q, want 31337", got)
			}
		},
		"XDR_API_KEY_FILE":               fileFrom("Secret", fullname, "xdr-api-key", "all-settings-key"),
		"KAFKA_BROKERS":                  value("k1.example:9093,k2.example:9094"),
		"KAFKA_SASL_MECHANISM":           value("SCRAM-SHA-256"),
		"KAFKA_SASL_USERNAME":            value("svc-xdr"),
		"KAFKA_SASL_PASSWORD_FILE":       fileFrom("Secret", fullname, "kafka-sasl-password", "all-settings-sasl-password"),
		"KAFKA_TLS_ENABLED":              value("true"),
		"KAFKA_TLS_CA_FILE":              fileFrom("ConfigMap", fullname+"-kafka-ca", "ca.crt", "MIIBfake"),
		"KAFKA_TLS_INSECURE_SKIP_VERIFY": value("true"),
		"KAFKA_REPLICATION_FACTOR":       value("3"),
		"KAFKA_PARTITIONS":               value("12"),
		"KAFKA_MAX_RECORD_BYTES":         value("2097152"),
		"KAFKA_COMPRESSION":              value("lz4"),
		"XDR_MAX_RETRY_AFTER":            value("2m"),
		"XDR_REQUESTS_PER_SECOND":        value("7"),
		"XDR_REPLY_BUDGET_BYTES":         value("67108864"),
		"KAFKA_TOPIC_INCIDENTS":          value("t.incidents"),
		"KAFKA_TOPIC_ALERTS":             value("t.alerts"),
		"KAFKA_TOPIC_ARTIFACTS":          value("t.artifacts"),
		"KAFKA_TOPIC_DLQ":                value("t.dlq"),
		"KAFKA_TOPIC_OFFSETS":            value("t.offsets"),
		"CONNECTOR_NAME":                 value("conn-b"),
		"POLL_INTERVAL":                  value("45s"),
		"LOOKBACK":                       value("5m"),
		"START_FROM":                     value("2026-01-02T03:04:05Z"),
		"FILTER_STATUSES":                value("new,under_investigation"),
		"FILTER_STARRED":                 value("true"),
		"FILTER_ALERT_SOURCES":           value("XDR Agent,Firewall"),
		"ENRICH_RATE_LIMIT":              value("8"),
		"ENRICH_RATE_WINDOW":             value("61s"),
		"ENRICH_WORKERS":                 value("3"),
		"ENRICH_MAX_ATTEMPTS":            value("9"),
		"ALERTS_LIMIT":                   value("1000000"), // not 1e+06
		"ENRICH_BULK":                    value("on"),
		"ENRICH_BULK_SIZE":               value("50"),
		"ENRICH_BULK_RATE_LIMIT":         value("7"),
		"ENRICH_BULK_RATE_WINDOW":        value("62s"),
		"COMMIT_INTERVAL":                value("2500ms"),
		"SHUTDOWN_TIMEOUT":               value("25s"),
		"DELIVERY":                       value("at-least-once"),
		"OUTPUT_PROFILES":                value("native,ocsf,ecs"),
		"KAFKA_TOPIC_OCSF_INCIDENTS":     value("t.ocsf.incidents"),
		"KAFKA_TOPIC_OCSF_ALERTS":        value("t.ocsf.alerts"),
		"KAFKA_TOPIC_ECS_INCIDENTS":      value("t.ecs.incidents"),
		"KAFKA_TOPIC_ECS_ALERTS":         value("t.ecs.alerts"),
		"LOG_LEVEL":                      value("debug"),
		"LOG_FORMAT":                     value("json"),
		"HTTP_ADDR":                      value(":9191"),
		"HTTP_TENANTS_ENABLED":           value("true"),
		"HTTP_TOKEN_FILE":                fileFrom("Secret", "metrics-token", "bearer", ""),
		"KAFKA_GROUP_ENABLED":            value("true"),
		"KAFKA_GROUP_SESSION_TIMEOUT":    value("30s"),
		"KAFKA_GROUP_REBALANCE_TIMEOUT":  value("50s"),
		"KAFKA_GROUP_HEARTBEAT_INTERVAL": value("2s"),
		"KAFKA_TOPIC_SLOTS":              value("t.slots"),
		"KAFKA_SLOTS_PARTITIONS":         value("32"),
		"WRITEBACK":                      value("on"),
		"WRITEBACK_ACTIONS":              value("assign,update_alerts"),
		"KAFKA_TOPIC_COMMANDS":           value("t.commands"),
		"KAFKA_TOPIC_COMMAND_RESULTS":    value("t.command-results"),
		"KAFKA_GROUP_INSTANCE_ID": func(t *testing.T, e corev1.EnvVar) {
			if e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
				t.Errorf("KAFKA_GROUP_INSTANCE_ID from %+v, want the pod's name", e.ValueFrom)
			}
		},
	}
	// The settings of multi-tenant mode, which allSettings (one tenant)
	// cannot render: proven by rendering ci/tenants.yaml.
	rt := render(t, ch, readValuesFile(t, filepath.Join("ci", "tenants.yaml")))
	checkPod(t, tags, rt)
	settableByTenants := map[string]func(*testing.T, corev1.EnvVar){
		tenantsFileEnv: func(t *testing.T, e corev1.EnvVar) {
			v, k := mountedFile(t, &rt.deployment.Spec.Template.Spec, rt.container(), e.Value)
			if v.ConfigMap == nil || v.ConfigMap.Name != fullname+"-tenants" || k != "tenants.yaml" {
				t.Errorf("%s is %+v key %s, want ConfigMap %s-tenants key tenants.yaml", e.Name, v.VolumeSource, k, fullname)
			}
		},
	}
	notSettable := notSettable()

	for name := range tags {
		_, s := settable[name]
		_, st := settableByTenants[name]
		_, n := notSettable[name]
		if (s || st) == n || s && st {
			t.Errorf("config tag %s: settable=%v, settable with tenants=%v, listed as exception=%v; want exactly one",
				name, s, st, n)
		}
	}
	for name := range settable {
		if _, ok := tags[name]; !ok {
			t.Errorf("settable %s is not a config tag (stale entry?)", name)
		}
	}
	for name, check := range settableByTenants {
		// TENANTS_FILE may be rendered before pkg/config has its tag.
		if _, ok := tags[name]; !ok && name != tenantsFileEnv {
			t.Errorf("settable %s is not a config tag (stale entry?)", name)
		}
		e, ok := envVar(rt.container(), name)
		if !ok {
			t.Errorf("%s is not rendered with tenants", name)
			continue
		}
		check(t, e)
		if _, ok := envVar(c, name); ok {
			t.Errorf("%s is rendered without tenants", name)
		}
	}
	for name := range notSettable {
		if _, ok := tags[name]; !ok {
			t.Errorf("exception %s is not a config tag (stale entry?)", name)
		}
	}
	for name, check := range settable {
		e, ok := envVar(c, name)
		if !ok {
			t.Errorf("%s is not rendered", name)
			continue
		}
		check(t, e)
	}
	for _, ps := range []*corev1.PodSpec{spec, &r.testPod.Spec} {
		if ps.Containers[0].Image != "registry.example/xdr-kafka-connector@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" {
			t.Errorf("image = %s, want the digest reference", ps.Containers[0].Image)
		}
		if len(ps.ImagePullSecrets) != 1 || ps.ImagePullSecrets[0].Name != "regcred" ||
			ps.NodeSelector["kubernetes.io/os"] != "linux" ||
			len(ps.Tolerations) != 1 || ps.Tolerations[0].Effect != corev1.TaintEffectNoSchedule ||
			ps.Affinity == nil || ps.Affinity.NodeAffinity == nil {
			t.Errorf("scheduling settings not rendered: pullSecrets %v nodeSelector %v tolerations %v affinity %v",
				ps.ImagePullSecrets, ps.NodeSelector, ps.Tolerations, ps.Affinity)
		}
	}
	if r.deployment.Spec.Template.Annotations["checksum/kafka-ca"] == "" {
		t.Error("no checksum/kafka-ca annotation: changing kafka.tls.ca.pem would not restart the pod")
	}
	if !strings.Contains(r.notes, "Add your client's TLS and SASL SCRAM-SHA-256 settings") {
		t.Error("NOTES.txt does not mention the TLS and SASL client settings")
	}
	if e, ok := envVar(c, "HTTPS_PROXY"); !ok || e.Value != "http://proxy.internal:3128" {
		t.Errorf("extraEnv not rendered: %+v", e)
	}
	for _, secret := range []string{"all-settings-key", "all-settings-sasl-password"} {
		for name, text := range r.files {
			if strings.Contains(text, secret) {
				t.Errorf("%s holds a secret in clear text", name)
			}
		}
	}
}

// TestCIValues renders each example in helm/ci and checks what it is for.
func TestCIValues(t *testing.T) {
	ch := loadChart(t)
	tags := configTags(t)
	secretFile := func(t *testing.T, r *rendered, env, secret, key string) {
		t.Helper()
		e, ok := envVar(r.container(), env)
		if !ok {
			t.Fatalf("no %s", env)
		}
		v, k := mountedFile(t, &r.deployment.Spec.Template.Spec, r.container(), e.Value)
		if v.Secret == nil || v.Secret.SecretName != secret || k != key {
			t.Errorf("%s from %+v key %s, want Secret %s key %s", env, v.VolumeSource, k, secret, key)
		}
	}
	envIs := func(t *testing.T, r *rendered, want map[string]string) {
		t.Helper()
		for name, v := range want {
			if e, _ := envVar(r.container(), name); e.Value != v {
				t.Errorf("%s = %q, want %q", name, e.Value, v)
			}
		}
	}
	checks := map[string]func(*testing.T, *rendered){
		"existing-secret.yaml": func(t *testing.T, r *rendered) {
			secretFile(t, r, "XDR_API_KEY_FILE", "xdr-api", "key")
			id, _ := envVar(r.container(), "XDR_API_KEY_ID")
			if ref := id.ValueFrom.SecretKeyRef; ref == nil || ref.Name != "xdr-api" || ref.Key != "id" {
				t.Errorf("XDR_API_KEY_ID from %+v", id.ValueFrom)
			}
			if len(r.secrets) != 0 {
				t.Errorf("the chart created %d Secrets; all come from existing ones", len(r.secrets))
			}
			if !strings.Contains(r.notes, "rollout restart") {
				t.Error("NOTES.txt does not say to restart after rotating the existing Secret")
			}
		},
		"sasl-tls.yaml": func(t *testing.T, r *rendered) {
			secretFile(t, r, "XDR_API_KEY_FILE", fullname, "xdr-api-key")
			secretFile(t, r, "KAFKA_SASL_PASSWORD_FILE", "kafka-user-xdr-connector", "password")
			secretFile(t, r, "KAFKA_TLS_CA_FILE", "kafka-cluster-ca", "ca.crt")
			envIs(t, r, map[string]string{"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "xdr-connector",
				"KAFKA_TLS_ENABLED": "true", "KAFKA_TOPIC_OFFSETS": "soc.xdr.connector.offsets"})
			if s := r.secret(fullname); s == nil || len(s.Data) != 2 {
				t.Errorf("chart Secret = %+v, want only the API key and id (SASL password is external)", s)
			}
		},
		"otel.yaml": func(t *testing.T, r *rendered) {
			envIs(t, r, map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.observability.svc:4317",
				"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
				"OTEL_EXPORTER_OTLP_INSECURE": "true",
				"OTEL_SERVICE_NAME":           "xdr-kafka-connector",
				"OTEL_RESOURCE_ATTRIBUTES":    "deployment.environment=production,service.namespace=soc",
				"OTEL_TRACES_EXPORTER":        "otlp",
				"OTEL_TRACES_SAMPLER":         "parentbased_traceidratio",
				"OTEL_TRACES_SAMPLER_ARG":     "0.25",
			})
			h, _ := envVar(r.container(), "OTEL_EXPORTER_OTLP_HEADERS")
			if h.ValueFrom == nil || h.ValueFrom.SecretKeyRef == nil || h.ValueFrom.SecretKeyRef.Name != "otel-headers" {
				t.Errorf("OTEL_EXPORTER_OTLP_HEADERS = %+v, want a secretKeyRef", h)
			}
		},
		"networkpolicy.yaml": func(t *testing.T, r *rendered) {
			np := r.netpol
			if np == nil || r.pdb == nil {
				t.Fatalf("NetworkPolicy %v, PodDisruptionBudget %v", np != nil, r.pdb != nil)
			}
			sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
			if err != nil {
				t.Fatal(err)
			}
			if !sel.Matches(labels.Set(r.deployment.Spec.Template.Labels)) || !sel.Matches(labels.Set(r.testPod.Labels)) {
				t.Error("the NetworkPolicy does not select both the connector and the test pod")
			}
			if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
				t.Errorf("policyTypes = %v", np.Spec.PolicyTypes)
			}
			if len(np.Spec.Ingress) != 1 || portsOf(np.Spec.Ingress[0].Ports) != "TCP/8080" || len(np.Spec.Ingress[0].From) != 1 {
				t.Errorf("ingress = %+v, want only TCP/8080 from the monitoring namespace", np.Spec.Ingress)
			}
			var egress []string
			for _, e := range np.Spec.Egress {
				egress = append(egress, portsOf(e.Ports))
			}
			if want := []string{"UDP/53,TCP/53", "TCP/443", "TCP/9093", "TCP/4318"}; !slices.Equal(egress, want) {
				t.Errorf("egress ports = %v, want %v", egress, want)
			}
			if kafka := np.Spec.Egress[2]; len(kafka.To) != 2 || kafka.To[0].IPBlock == nil || kafka.To[0].IPBlock.CIDR != "10.20.0.0/16" ||
				kafka.To[1].NamespaceSelector == nil {
				t.Errorf("Kafka egress peers = %+v", kafka.To)
			}
			if xdr := np.Spec.Egress[1]; len(xdr.To) != 1 || xdr.To[0].IPBlock == nil {
				t.Errorf("XDR API egress peers = %+v", xdr.To)
			}
			pdbSel, err := metav1.LabelSelectorAsSelector(r.pdb.Spec.Selector)
			if err != nil {
				t.Fatal(err)
			}
			if !pdbSel.Matches(labels.Set(r.deployment.Spec.Template.Labels)) || pdbSel.Matches(labels.Set(r.testPod.Labels)) {
				t.Error("the PDB must select the connector pod and not the test pod")
			}
			if r.pdb.Spec.MaxUnavailable == nil || r.pdb.Spec.MaxUnavailable.IntValue() != 1 || r.pdb.Spec.MinAvailable != nil {
				t.Errorf("PDB = %+v", r.pdb.Spec)
			}
			e, _ := envVar(r.container(), "KAFKA_TLS_CA_FILE")
			if v, k := mountedFile(t, &r.deployment.Spec.Template.Spec, r.container(), e.Value); v.ConfigMap == nil ||
				v.ConfigMap.Name != "kafka-ca-bundle" || k != "ca.pem" {
				t.Errorf("CA from %+v key %s", v.VolumeSource, k)
			}
		},
		"tenants.yaml": func(t *testing.T, r *rendered) {
			c := r.container()
			spec := &r.deployment.Spec.Template.Spec
			if e, _ := envVar(c, tenantsFileEnv); e.Value != "/etc/xdr-connector/tenants/tenants.yaml" {
				t.Errorf("%s = %q", tenantsFileEnv, e.Value)
			}
			if _, ok := envVar(c, "XDR_BASE_URL"); ok {
				t.Error("XDR_BASE_URL is rendered with tenants")
			}
			envIs(t, r, map[string]string{"KAFKA_TOPIC_INCIDENTS": "xdr.{tenant}.incidents", "POLL_INTERVAL": "45s"})

			// The file: the contract's keys, each tenant's key by path only.
			f, cm := tenantsFileOf(t, r)
			if cm.Name != fullname+"-tenants" {
				t.Errorf("tenants ConfigMap %s", cm.Name)
			}
			want := tenantsFile{Tenants: []tenantEntry{
				{ID: "acme", BaseURL: "https://api-acme.xdr.us.paloaltonetworks.com", APIKeyID: "42",
					APIKeyFile: "/run/secrets/tenants/acme/api-key", AuthMode: "advanced"},
				{ID: "globex", BaseURL: "https://api-globex.xdr.eu.paloaltonetworks.com", APIKeyID: "17",
					APIKeyFile: "/run/secrets/tenants/globex/api-key", AuthMode: "standard"},
				{ID: "initech.eu", BaseURL: "https://api-initech.xdr.eu.paloaltonetworks.com", APIKeyID: "1001",
					APIKeyFile: "/run/secrets/tenants/initech.eu/api-key", AuthMode: "standard", Disabled: new(false),
					tenantSettings: tenantSettings{
						PollInterval: new("1m"), Lookback: new("5m"), StartFrom: new("now"),
						EnrichRateLimit: new(5), EnrichRateWindow: new("120s"), EnrichWorkers: new(1), AlertsLimit: new(500),
						FilterStatuses: []string{"new", "under_investigation"}, FilterStarred: new(true),
						FilterAlertSources: []string{"XDR Agent", "Firewall"}, RequestTimeout: new("45s"), Writeback: new("off"),
					}},
			}}
			if !reflect.DeepEqual(*f, want) {
				got, _ := json.Marshal(f)
				exp, _ := json.Marshal(want)
				t.Errorf("tenants.yaml decodes to\n%s\nwant\n%s\n%s", got, exp, cm.Data["tenants.yaml"])
			}

			// Each key file: a Secret key, the tenant's own Secret or the shared one.
			keys := map[string]string{}
			for _, tn := range f.Tenants {
				_, secret, key := projectedSecretFile(t, spec, c, tn.APIKeyFile)
				keys[tn.ID] = secret + "/" + key
			}
			if want := map[string]string{"acme": "xdr-acme/api-key", "globex": "xdr-tenants/globex",
				"initech.eu": "xdr-tenants/initech.eu"}; !maps.Equal(keys, want) {
				t.Errorf("key files from %v, want %v", keys, want)
			}
			if len(r.secrets) != 0 {
				t.Errorf("the chart created %d Secrets; every key comes from an existing one", len(r.secrets))
			}
			if volume(spec, "xdr-api-key") != nil {
				t.Error("the single-tenant key volume is rendered with tenants")
			}
			if _, ok := r.deployment.Spec.Template.Annotations["checksum/tenants"]; ok {
				t.Error("a checksum/tenants annotation restarts every tenant when one changes; the connector reloads the mounted file itself")
			}
			for _, want := range []string{"It polls 3 XDR tenants (acme, globex, initech.eu)", "-t xdr.acme.incidents", "reloads it"} {
				if !strings.Contains(r.notes, want) {
					t.Errorf("NOTES.txt lacks %q:\n%s", want, r.notes)
				}
			}
		},
		"servicemonitor.yaml": func(t *testing.T, r *rendered) {
			sm := r.serviceMonitor
			if sm == nil {
				t.Fatal("no ServiceMonitor")
			}
			sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
			if err != nil {
				t.Fatal(err)
			}
			if !sel.Matches(labels.Set(r.service.Labels)) {
				t.Errorf("ServiceMonitor selector %v does not match the Service labels %v", sm.Spec.Selector, r.service.Labels)
			}
			if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != r.service.Spec.Ports[0].Name ||
				sm.Spec.Endpoints[0].Path != "/metrics" || sm.Spec.Endpoints[0].Interval != "15s" {
				t.Errorf("endpoints = %+v", sm.Spec.Endpoints)
			}
			// /metrics needs the token: Prometheus sends it, from the Secret
			// the pod reads it from.
			if a := sm.Spec.Endpoints[0].Authorization; a == nil || a.Type != "Bearer" || a.Credentials.Name != "xdr-metrics-token" || a.Credentials.Key != "token" {
				t.Errorf("endpoint authorization = %+v, want the bearer token of Secret xdr-metrics-token key token", a)
			}
			if e, _ := envVar(r.container(), "HTTP_TOKEN_FILE"); e.Value == "" {
				t.Error("HTTP_TOKEN_FILE not rendered with metrics.tokenSecret")
			} else if v, k := mountedFile(t, &r.deployment.Spec.Template.Spec, r.container(), e.Value); v.Secret == nil ||
				v.Secret.SecretName != "xdr-metrics-token" || k != "token" || fmtMode(v.Secret.DefaultMode) != "0440" {
				t.Errorf("HTTP_TOKEN_FILE is %+v key %s, want Secret xdr-metrics-token key token, mode 0440", v.VolumeSource, k)
			}
			if sm.Labels["release"] != "kube-prometheus-stack" || !slices.Equal(sm.Spec.NamespaceSelector.MatchNames, []string{namespace}) {
				t.Errorf("labels %v, namespaces %v", sm.Labels, sm.Spec.NamespaceSelector.MatchNames)
			}
			if r.deployment.Spec.Template.Annotations["example.com/team"] != "soc" {
				t.Error("podAnnotations not rendered")
			}
		},
	}

	files, err := filepath.Glob("ci/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	if want := slices.Sorted(maps.Keys(checks)); !slices.Equal(names, want) {
		t.Fatalf("ci/*.yaml = %v, checks for %v", names, want)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			r := render(t, ch, readValuesFile(t, filepath.Join("ci", name)))
			checkPod(t, tags, r)
			if r.deployment.Spec.Replicas == nil || *r.deployment.Spec.Replicas != 1 {
				t.Errorf("replicas = %v", r.deployment.Spec.Replicas)
			}
			checks[name](t, r)
		})
	}
}

func portsOf(ports []networkingv1.NetworkPolicyPort) string {
	var s []string
	for _, p := range ports {
		proto := corev1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		s = append(s, fmt.Sprintf("%s/%s", proto, p.Port.String()))
	}
	return strings.Join(s, ",")
}

// TestBadValuesRejected checks that values.schema.json refuses each file in
// helm/ci/bad, for the reason the file is about.
func TestBadValuesRejected(t *testing.T) {
	ch := loadChart(t)
	cases := map[string][]string{
		"missing-base-url.yaml":                  {"at '/xdr/baseUrl'", "does not match pattern"},
		"base-url-with-credentials.yaml":         {"at '/xdr/baseUrl'", "does not match pattern"},
		"missing-brokers.yaml":                   {"at '/kafka/brokers'", "minItems"},
		"no-secret-source.yaml":                  {"at '/xdr/apiKey'", "minLength"},
		"bad-auth-mode.yaml":                     {"at '/xdr/authMode'", "'standard', 'advanced'"},
		"bad-log-level.yaml":                     {"at '/log/level'", "'debug', 'info', 'warn', 'error'"},
		"bad-log-format.yaml":                    {"at '/log/format'", "'text', 'json'"},
		"bad-sasl-mechanism.yaml":                {"at '/kafka/sasl/mechanism'", "'SCRAM-SHA-512'"},
		"bad-compression.yaml":                   {"at '/kafka/compression'", "'zstd', 'lz4', 'snappy', 'gzip', 'none'"},
		"sasl-without-password.yaml":             {"at '/kafka/sasl", "password"},
		"bad-delivery.yaml":                      {"at '/pipeline/delivery'", "'exactly-once'"},
		"bad-output-profile.yaml":                {"at '/pipeline/outputProfiles/1'", "'native', 'ocsf', 'ecs'"},
		"replicas-without-ack.yaml":              {"at '/allowMultipleReplicas'", "true"},
		"wrong-type-integer.yaml":                {"at '/pipeline/enrichWorkers'", "want integer"},
		"wrong-type-brokers.yaml":                {"at '/kafka/brokers'", "want array"},
		"bad-duration.yaml":                      {"at '/pipeline/pollInterval'", "does not match pattern"},
		"unknown-key.yaml":                       {"at '/xdr'", "additional properties 'apikey'"},
		"networkpolicy-without-kafka-peers.yaml": {"at '/networkPolicy/kafka", "minItems"},
		"tenant-bad-id.yaml":                     {"at '/tenants/0/id'", "does not match pattern"},
		"tenant-without-base-url.yaml":           {"at '/tenants/0'", "missing property 'baseUrl'"},
		"tenant-unknown-override.yaml":           {"at '/tenants/0/overrides'", "additional properties 'pollInterval'"},
		"tenant-no-key-source.yaml":              {"at '/tenants/0'", "missing property 'existingSecret'"},
		"tenant-topic-without-tenants.yaml":      {"at '/topics/incidents'", "does not match pattern"},
	}
	// What a schema cannot check (it cannot compare items) a template's fail
	// does.
	failCases := map[string][]string{
		"tenant-duplicate-id.yaml":      {`tenants[2]: duplicate tenant id "acme" (also tenants[0])`},
		"scaleout-short-grace.yaml":     {"terminationGracePeriodSeconds (25) must exceed pipeline.shutdownTimeout (20s) by more than 5 s"},
		"tenants-with-base-url.yaml":    {"xdr.baseUrl set together with tenants", "Unset xdr.baseUrl (move a base URL into its tenant's tenants[].baseUrl)"},
		"both-secret-sources.yaml":      {"xdr.existingSecret (xdr-api) and xdr.apiKey, xdr.apiKeyId are both set", "Unset xdr.apiKey, xdr.apiKeyId, or unset xdr.existingSecret"},
		"scaleout-short-rebalance.yaml": {"scaleOut.rebalanceTimeout (15s) must exceed pipeline.shutdownTimeout (20s) plus scaleOut.heartbeatInterval (3s)"},
	}
	files, err := filepath.Glob("ci/bad/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	want := slices.AppendSeq(slices.Collect(maps.Keys(cases)), maps.Keys(failCases))
	if slices.Sort(want); !slices.Equal(names, want) {
		t.Fatalf("ci/bad/*.yaml = %v, cases for %v", names, want)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			_, err := renderValues(ch, readValuesFile(t, filepath.Join("ci", "bad", name)))
			if err == nil {
				t.Fatal("accepted")
			}
			if wants, ok := failCases[name]; ok {
				if strings.Contains(err.Error(), "values don't meet the specifications of the schema") ||
					!strings.Contains(err.Error(), "execution error") {
					t.Fatalf("want a template's fail, got: %v", err)
				}
				for _, want := range wants {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error lacks %q:\n%v", want, err)
					}
				}
				return
			}
			if n := strings.Count(err.Error(), "\n- at "); n != 1 {
				t.Errorf("want exactly one violation, got %d:\n%v", n, err)
			}
			if !strings.Contains(err.Error(), "values don't meet the specifications of the schema") {
				t.Fatalf("rejected, but not by the schema: %v", err)
			}
			for _, want := range cases[name] {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
		})
	}
}

// TestMultipleReplicasWithAcknowledgement shows the replica rule is not a
// blanket ban, and that NOTES.txt warns.
func TestMultipleReplicasWithAcknowledgement(t *testing.T) {
	ch := loadChart(t)
	vals := readValues(t, requiredValues+"replicaCount: 2\nallowMultipleReplicas: true\nscaleOut:\n  enabled: false\n")
	r := render(t, ch, vals)
	if *r.deployment.Spec.Replicas != 2 {
		t.Errorf("replicas = %d", *r.deployment.Spec.Replicas)
	}
	if !strings.Contains(r.notes, "WARNING: replicaCount is 2") {
		t.Errorf("NOTES.txt does not warn:\n%s", r.notes)
	}
}

// TestScaleOut renders several replicas that share the tenants: no
// acknowledgement needed, a RollingUpdate that adds a pod before removing
// one, a PodDisruptionBudget, the pod's name as static member id, and notes
// without the shared-budget warning. It is the default; with scaleOut.enabled:
// false, KAFKA_GROUP_ENABLED is false and no instance id is rendered.
func TestScaleOut(t *testing.T) {
	ch := loadChart(t)
	tenants, err := os.ReadFile(filepath.Join("ci", "tenants.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, base := range []string{requiredValues, string(tenants) + "\n"} {
		r := render(t, ch, readValues(t, base+"replicaCount: 3\nterminationGracePeriodSeconds: 40\nscaleOut:\n  enabled: true\n"))
		d := r.deployment
		if *d.Spec.Replicas != 3 {
			t.Errorf("replicas = %d", *d.Spec.Replicas)
		}
		if st := d.Spec.Strategy; st.Type != appsv1.RollingUpdateDeploymentStrategyType || st.RollingUpdate == nil ||
			st.RollingUpdate.MaxUnavailable.IntValue() != 0 || st.RollingUpdate.MaxSurge.IntValue() != 1 {
			t.Errorf("strategy = %+v, want RollingUpdate adding one pod before removing one", st)
		}
		if r.pdb == nil || r.pdb.Spec.MaxUnavailable == nil || r.pdb.Spec.MaxUnavailable.IntValue() != 1 {
			t.Errorf("PodDisruptionBudget = %+v, want maxUnavailable 1", r.pdb)
		}
		if e, ok := envVar(r.container(), "KAFKA_GROUP_ENABLED"); !ok || e.Value != "true" {
			t.Errorf("KAFKA_GROUP_ENABLED = %+v", e)
		}
		if e, ok := envVar(r.container(), "KAFKA_GROUP_INSTANCE_ID"); !ok || e.ValueFrom == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
			t.Errorf("KAFKA_GROUP_INSTANCE_ID = %+v", e)
		}
		if *d.Spec.Template.Spec.TerminationGracePeriodSeconds != 40 {
			t.Errorf("terminationGracePeriodSeconds = %d", *d.Spec.Template.Spec.TerminationGracePeriodSeconds)
		}
		if strings.Contains(r.notes, "WARNING") || !strings.Contains(r.notes, "SCALE-OUT: 3 pod(s) share the tenants") {
			t.Errorf("NOTES.txt:\n%s", r.notes)
		}
	}
	// The default is the group, as the connector's own with KAFKA_BROKERS.
	r := render(t, ch, readValues(t, requiredValues))
	if e, _ := envVar(r.container(), "KAFKA_GROUP_ENABLED"); e.Value != "true" {
		t.Errorf("KAFKA_GROUP_ENABLED = %q by default", e.Value)
	}
	if e, ok := envVar(r.container(), "KAFKA_GROUP_INSTANCE_ID"); !ok || e.ValueFrom == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Errorf("KAFKA_GROUP_INSTANCE_ID = %+v by default", e)
	}
	r = render(t, ch, readValues(t, requiredValues+"scaleOut:\n  enabled: false\n"))
	if e, _ := envVar(r.container(), "KAFKA_GROUP_ENABLED"); e.Value != "false" {
		t.Errorf("KAFKA_GROUP_ENABLED = %q with scaleOut.enabled: false", e.Value)
	}
	if _, ok := envVar(r.container(), "KAFKA_GROUP_INSTANCE_ID"); ok {
		t.Error("an instance id is rendered without scaleOut")
	}
	if r.pdb != nil || r.deployment.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("without scaleOut: pdb %v, strategy %v", r.pdb, r.deployment.Spec.Strategy.Type)
	}
}

// TestHelmignore proves that Go files and ci/ inside the chart directory are
// never packaged.
func TestHelmignore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), chartDir)
	if err := os.CopyFS(dir, os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"stray_test.go", "ci/extra.yaml"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x: 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ch, err := loader.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range ch.Raw {
		if strings.HasSuffix(f.Name, ".go") || strings.HasPrefix(f.Name, "ci/") {
			t.Errorf("%s would be packaged", f.Name)
		}
	}
	if len(ch.Templates) < 8 {
		t.Errorf("only %d templates loaded", len(ch.Templates))
	}
}

// TestDockerfile checks the image definition (there is no Docker engine here)
// and that the chart runs it as the image's user.
func TestDockerfile(t *testing.T) {
	f, err := os.Open("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		from          []string
		user, entry   string
		cmd, buildCmd string
		logical       strings.Builder
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		if cont, ok := strings.CutSuffix(line, "\\"); ok {
			logical.WriteString(cont + " ")
			continue
		}
		logical.WriteString(line)
		instr := logical.String()
		logical.Reset()
		kw, rest, _ := strings.Cut(instr, " ")
		switch strings.ToUpper(kw) {
		case "FROM":
			from = append(from, rest)
		case "USER":
			user = rest
		case "ENTRYPOINT":
			entry = rest
		case "CMD":
			cmd = rest
		case "RUN":
			if strings.Contains(rest, "go build") {
				buildCmd = rest
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(from) != 2 || !strings.Contains(from[0], "golang:1.26 AS build") ||
		from[1] != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("stages = %q, want a golang:1.26 builder and distroless static nonroot", from)
	}
	for _, want := range []string{
		"CGO_ENABLED=0 go build", "-trimpath", `-ldflags "-s -w -X main.version=${VERSION}"`,
		"-o /connector ./cmd/connector",
	} {
		if !strings.Contains(buildCmd, want) {
			t.Errorf("build command %q lacks %q", buildCmd, want)
		}
	}
	var entryArgs, cmdArgs []string
	if err := json.Unmarshal([]byte(entry), &entryArgs); err != nil || !slices.Equal(entryArgs, []string{"/connector"}) {
		t.Errorf("ENTRYPOINT %s, want [\"/connector\"] in exec form", entry)
	}
	if err := json.Unmarshal([]byte(cmd), &cmdArgs); err != nil || !slices.Equal(cmdArgs, []string{"run"}) {
		t.Errorf("CMD %s, want [\"run\"] in exec form", cmd)
	}

	r := render(t, loadChart(t), readValues(t, requiredValues))
	pod := r.deployment.Spec.Template.Spec.SecurityContext
	c := r.container().SecurityContext
	for _, got := range []string{
		fmt.Sprintf("%d:%d", *pod.RunAsUser, *pod.RunAsGroup),
		fmt.Sprintf("%d:%d", *c.RunAsUser, *c.RunAsGroup),
	} {
		if got != user {
			t.Errorf("the chart runs as %s, the Dockerfile's USER is %q", got, user)
		}
	}
	if !slices.Equal(r.container().Args, cmdArgs) {
		t.Errorf("the Deployment's args %v differ from the image's CMD %v", r.container().Args, cmdArgs)
	}
}

// TestDockerignore checks the build context keeps the sources and drops the
// chart, VCS data and local credentials.
func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(b), "\n") {
		if s := strings.TrimSpace(line); s != "" && !strings.HasPrefix(s, "#") {
			patterns = append(patterns, s)
		}
	}
	sort.Strings(patterns)
	for _, want := range []string{".git", "helm", ".env"} {
		if !slices.Contains(patterns, want) {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
	for _, keep := range []string{"go.mod", "go.sum", "cmd/connector/main.go", "pkg/config/config.go"} {
		for _, p := range patterns {
			if ok, _ := filepath.Match(p, keep); ok || p == keep || strings.HasPrefix(keep, p+"/") {
				t.Errorf(".dockerignore pattern %q drops %s, which the build needs", p, keep)
			}
		}
	}
}

// TestTenantsFileLoads hands the environment and the tenants file rendered
// from ci/tenants.yaml to the connector's own loaders (pkg/config), with each
// key file where the pod would find it moved to a temporary directory, and
// checks every tenant's resolved settings: its own, else the chart's.
func TestTenantsFileLoads(t *testing.T) {
	r := render(t, loadChart(t), readValuesFile(t, filepath.Join("ci", "tenants.yaml")))
	env := map[string]string{}
	for _, e := range r.container().Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	cfg, err := config.Load(context.Background(), envconfig.MapLookuper(env))
	if err != nil {
		t.Fatalf("the connector refuses the rendered environment: %v", err)
	}
	f, cm := tenantsFileOf(t, r)
	text := cm.Data["tenants.yaml"]
	dir := t.TempDir()
	local := map[string]string{}
	for _, tn := range f.Tenants {
		p := filepath.Join(dir, filepath.FromSlash(tn.APIKeyFile))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("key-of-"+tn.ID+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text, `"`+tn.APIKeyFile+`"`) {
			t.Fatalf("tenants.yaml does not name %s as a quoted string:\n%s", tn.APIKeyFile, text)
		}
		text = strings.ReplaceAll(text, `"`+tn.APIKeyFile+`"`, `"`+filepath.ToSlash(p)+`"`)
		local[tn.ID] = filepath.ToSlash(p)
	}
	got, err := config.ParseTenants([]byte(text), cfg)
	if err != nil {
		t.Fatalf("the connector refuses the rendered tenants file: %v\n%s", err, text)
	}
	// The chart's values for every tenant: pipeline.pollInterval is 45s in
	// ci/tenants.yaml, the rest are the chart's defaults.
	chart := config.Tenant{
		RequestTimeout: 30 * time.Second, PollInterval: 45 * time.Second, Lookback: 2 * time.Minute, StartFrom: "72h",
		EnrichRateLimit: 10, EnrichRateWindow: time.Minute, EnrichWorkers: 2, AlertsLimit: 1000,
		EnrichBulk: "auto", EnrichBulkSize: 100, EnrichBulkRateLimit: 10, EnrichBulkRateWindow: time.Minute,
	}
	tenant := func(id, url, keyID, mode string) config.Tenant {
		tn := chart
		tn.ID, tn.BaseURL, tn.APIKeyID, tn.AuthMode, tn.KeySource = id, url, keyID, mode, local[id]
		return tn
	}
	initech := tenant("initech.eu", "https://api-initech.xdr.eu.paloaltonetworks.com", "1001", "standard")
	initech.PollInterval, initech.Lookback, initech.StartFrom = time.Minute, 5*time.Minute, "now"
	initech.EnrichRateLimit, initech.EnrichRateWindow, initech.EnrichWorkers, initech.AlertsLimit = 5, 2*time.Minute, 1, 500
	initech.FilterStatuses, initech.FilterStarred = []string{"new", "under_investigation"}, "true"
	initech.FilterAlertSources, initech.RequestTimeout = []string{"XDR Agent", "Firewall"}, 45*time.Second
	want := []config.Tenant{
		tenant("acme", "https://api-acme.xdr.us.paloaltonetworks.com", "42", "advanced"),
		tenant("globex", "https://api-globex.xdr.eu.paloaltonetworks.com", "17", "standard"),
		initech,
	}
	if len(got) != len(want) {
		t.Fatalf("%d tenants, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].APIKey.Reveal() != "key-of-"+want[i].ID {
			t.Errorf("tenant %s: the key file does not hold its key", want[i].ID)
		}
		got[i].APIKey = want[i].APIKey // compared above; Equal compares the rest
		if !got[i].Equal(want[i]) {
			t.Errorf("tenant %d resolves to\n%+v\nwant\n%+v", i, got[i], want[i])
		}
	}
}

// TestTenantChecksWithoutSchema: with schema validation skipped (helm
// --skip-schema-validation), the templates still refuse a tenant whose key has
// no source, rather than mount a Secret with no name.
func TestTenantChecksWithoutSchema(t *testing.T) {
	ch := loadChart(t)
	vals := readValuesFile(t, filepath.Join("ci", "bad", "tenant-no-key-source.yaml"))
	opts := chartutil.ReleaseOptions{Name: releaseName, Namespace: namespace, Revision: 1, IsInstall: true}
	top, err := chartutil.ToRenderValuesWithSchemaValidation(ch, vals, opts, chartutil.DefaultCapabilities, true)
	if err != nil {
		t.Fatal(err)
	}
	_, err = engine.Render(ch, top)
	if err == nil || !strings.Contains(err.Error(), "tenants[0] (acme): no source for its API key") {
		t.Fatalf("rendered without a key source for acme: %v", err)
	}
}
