package app

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
)

// advertising is a listener that tells its clients (through the cluster's
// metadata) another address than the loopback one it listens on.
type advertising struct {
	net.Listener
	addr net.Addr
}

func (a advertising) Addr() net.Addr { return a.addr }

// TestSASLWithoutTLSAuthenticatesToLoopbackOnly: a loopback seed broker is
// allowed SASL without TLS, but the cluster may advertise brokers on other
// hosts, which the clients then connect to. The credentials go to none of
// them: the authentication to an advertised broker beyond loopback is
// refused before the mechanism sends anything, naming the broker and the
// settings that would allow it. KAFKA_ALLOW_INSECURE_SASL=true allows it.
func TestSASLWithoutTLSAuthenticatesToLoopbackOnly(t *testing.T) {
	const advertised = "192.0.2.7" // TEST-NET-1: not this machine
	var real string
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("PLAIN", "connector", "sasl-password"),
		kfake.SeedTopics(1, "t"),
		kfake.ListenFn(func(network, address string) (net.Listener, error) {
			ln, err := net.Listen(network, "127.0.0.1:0")
			if err != nil {
				return nil, err
			}
			real = ln.Addr().String()
			_, port, _ := net.SplitHostPort(real)
			a, _ := net.ResolveTCPAddr("tcp", net.JoinHostPort(advertised, port))
			return advertising{ln, a}, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)

	// The advertised address is reachable, as a broker's would be: a dial
	// to it reaches the broker.
	dial := func(ctx context.Context, network, host string) (net.Conn, error) {
		if h, port, _ := net.SplitHostPort(host); h == advertised {
			host = net.JoinHostPort("127.0.0.1", port)
		}
		return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, host)
	}
	produce := func(allow string) error {
		cfg, err := config.Load(context.Background(), envconfig.MapLookuper(map[string]string{"KAFKA_BROKERS": real,
			"KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "connector", "KAFKA_SASL_PASSWORD": "sasl-password",
			"KAFKA_ALLOW_INSECURE_SASL": allow}))
		if err != nil {
			t.Fatal(err)
		}
		opts, err := KafkaOptions(cfg)
		if err != nil {
			t.Fatal(err)
		}
		cl, err := kgo.NewClient(append(opts, kgo.Dialer(dial), kgo.RecordRetries(1), kgo.RecordDeliveryTimeout(2*time.Second))...)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		return cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("v")}).FirstErr()
	}

	err = produce("false")
	if err == nil {
		t.Fatalf("a record was produced through %s with SASL PLAIN without TLS", advertised)
	}
	for _, want := range []string{"refusing SASL PLAIN without TLS to broker " + advertised + ":", "KAFKA_TLS_ENABLED=true", "KAFKA_ALLOW_INSECURE_SASL=true"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "sasl-password") {
		t.Errorf("the error holds the password: %v", err)
	}
	if err := produce("true"); err != nil {
		t.Errorf("with KAFKA_ALLOW_INSECURE_SASL=true: %v", err)
	}
}
