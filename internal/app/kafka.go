package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/sink"
	"github.com/soc-tools/xdr-kafka-connector/pkg/telemetry"
)

// ProducerOptions are the settings of a client that produces the
// connector's records, beside KafkaOptions: sink.ProducerOpts with the
// codec KAFKA_COMPRESSION names.
func ProducerOptions(cfg *config.Config) ([]kgo.Opt, error) {
	codec := cfg.KafkaCompression
	if codec == "" {
		codec = sink.DefaultCodec
	}
	compression, err := sink.Compression(codec)
	if err != nil {
		return nil, fmt.Errorf("KAFKA_COMPRESSION: %w", err)
	}
	return append(sink.ProducerOpts(), compression), nil
}

// KafkaOptions are the connection settings every Kafka client of the
// connector shares: seeds, client id, TLS and SASL.
func KafkaOptions(cfg *config.Config) ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(cfg.KafkaBrokers...), kgo.ClientID("xdr-kafka-connector")}
	if cfg.KafkaTLSEnabled || cfg.KafkaTLSCAFile != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.KafkaTLSSkipVerify} //nolint:gosec // opt-in by the operator
		if cfg.KafkaTLSCAFile != "" {
			pem, _, err := config.ReadRegularFile(cfg.KafkaTLSCAFile, config.MaxCAFileBytes)
			if err != nil {
				return nil, fmt.Errorf("KAFKA_TLS_CA_FILE: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, errors.New("KAFKA_TLS_CA_FILE: no PEM certificate found")
			}
			tc.RootCAs = pool
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	user, pass := cfg.KafkaSASLUsername, cfg.KafkaSASLPassword
	var mech sasl.Mechanism
	switch strings.ToUpper(cfg.KafkaSASLMechanism) {
	case "":
		return opts, nil
	case "PLAIN":
		mech = plain.Auth{User: user, Pass: pass.Reveal()}.AsMechanism()
	case "SCRAM-SHA-256":
		mech = scram.Auth{User: user, Pass: pass.Reveal()}.AsSha256Mechanism()
	case "SCRAM-SHA-512":
		mech = scram.Auth{User: user, Pass: pass.Reveal()}.AsSha512Mechanism()
	}
	if !cfg.KafkaTLS() && !cfg.KafkaAllowInsecureSASL {
		mech = loopbackOnly{mech}
	}
	return append(opts, kgo.SASL(mech)), nil
}

// loopbackOnly authenticates to loopback brokers only. Without TLS, SASL is
// allowed to loopback seed brokers alone (unless KAFKA_ALLOW_INSECURE_SASL),
// but the clients go on to the brokers the cluster advertises in its
// metadata, which may be on other hosts (a seed reached through a tunnel
// or a port forward): to those the credentials would cross the network
// unencrypted, so the connection is refused before the mechanism sends a
// byte.
type loopbackOnly struct{ sasl.Mechanism }

func (m loopbackOnly) Authenticate(ctx context.Context, addr string) (sasl.Session, []byte, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if !config.IsLoopback(host) {
		return nil, nil, fmt.Errorf("refusing SASL %s without TLS to broker %s, which the cluster advertises beyond loopback: the credentials would cross the network unencrypted; set KAFKA_TLS_ENABLED=true, or KAFKA_ALLOW_INSECURE_SASL=true to accept that",
			m.Name(), addr)
	}
	return m.Mechanism.Authenticate(ctx, addr)
}

// kafkaLogger is the franz-go client's logger: franz-go is chatty at info,
// so its lines are kept at warn unless LOG_LEVEL is debug.
func kafkaLogger(cfg *config.Config, log *slog.Logger, w io.Writer) *slog.Logger {
	if strings.EqualFold(cfg.LogLevel, "debug") {
		return log.With("stage", "kafka")
	}
	l, err := telemetry.NewLogger(w, cfg.LogFormat, "warn")
	if err != nil {
		return log.With("stage", "kafka")
	}
	return l.With("stage", "kafka")
}
