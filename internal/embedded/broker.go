package embedded

import (
	"errors"
	"fmt"
	"io"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
)

// BrokerFor finds the broker of DATA_DIR for tail, status, redrive and
// command: the running connector's, or one opened here on the persisted data.
// A non-empty live says why the command needs a running connector (tail
// --follow: nothing new would ever arrive; command: nobody would apply it),
// and how to do without: with no connector running, it is the error's text. To read (write false), the
// broker opens a copy of the data (readDataDir), and DATA_DIR is never
// written nor held; to write, it opens the data in place and holds DATA_DIR
// until closeBroker. closeBroker is never nil on success.
func BrokerFor(dir, live string, write bool, stderr io.Writer) (addr string, closeBroker func(), err error) {
	if addr := RunningBrokerAddr(dir); addr != "" {
		fmt.Fprintf(stderr, "KAFKA_BROKERS is not set: reading the embedded broker of the connector running on %s, at %s\n", dir, addr)
		return addr, func() {}, nil
	}
	if !hasBrokerData(dir) {
		return "", nil, fmt.Errorf("%w: KAFKA_BROKERS is not set and DATA_DIR (%s) holds no embedded broker data: set KAFKA_BROKERS to the broker address the connector printed (\"embedded Kafka broker listening on 127.0.0.1:PORT\"), or DATA_DIR to the directory it used", config.ErrUsage, dir)
	}
	if live != "" {
		return "", nil, fmt.Errorf("%w: no connector runs on DATA_DIR (%s), so %s", config.ErrUsage, dir, live)
	}
	data, release := dir, func() {}
	if write {
		lock, err := lockDataDir(dir)
		if err != nil {
			return "", nil, fmt.Errorf("opening the data in %s: %w", dir, err)
		}
		release = lock.Release
	} else {
		copyDir, remove, err := readDataDir(dir)
		if errors.Is(err, ErrDataDirBusy) {
			return "", nil, fmt.Errorf("%w: a connector started on %s meanwhile; run the command again to read its broker", err, dir)
		}
		if err != nil {
			return "", nil, err
		}
		data, release = copyDir, remove
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(data), kfake.ListenFn(ListenLoopback))
	if err != nil {
		release()
		return "", nil, fmt.Errorf("opening the embedded broker's data in %s: %w", dir, err)
	}
	fmt.Fprintf(stderr, "KAFKA_BROKERS is not set and no connector runs on %s: reading the data its embedded broker left there\n", dir)
	return c.ListenAddrs()[0], func() { c.Close(); release() }, nil
}
