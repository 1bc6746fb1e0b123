package app

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/telemetry"
)

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
	switch strings.ToUpper(cfg.KafkaSASLMechanism) {
	case "":
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: user, Pass: pass.Reveal()}.AsMechanism()))
	case "SCRAM-SHA-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass.Reveal()}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass.Reveal()}.AsSha512Mechanism()))
	}
	return opts, nil
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
