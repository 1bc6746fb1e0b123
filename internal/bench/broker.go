package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// brokerLinePrefix starts the line on which ServeBroker announces its address.
const brokerLinePrefix = "broker listening on "

// ServeBroker runs an in-memory, one-broker kfake cluster on a loopback port
// (three partitions per topic by default; group session timeouts from 100ms
// up, so the scale phase can run short ones), writes "broker listening on
// <host:port>" on out, and serves until stdin reaches EOF or ctx is done. It
// is the child process behind `connector bench --serve-broker`: a parent
// holds the child's stdin open, so the broker dies with its parent.
func ServeBroker(ctx context.Context, stdin io.Reader, out io.Writer) error {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(3), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		return fmt.Errorf("starting the broker: %w", err)
	}
	defer c.Close()
	if _, err := fmt.Fprintln(out, brokerLinePrefix+c.ListenAddrs()[0]); err != nil {
		return fmt.Errorf("announcing the broker: %w", err)
	}
	eof := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		close(eof)
	}()
	select {
	case <-ctx.Done():
	case <-eof:
	}
	return nil
}

// broker is a ServeBroker child process.
type broker struct {
	addr  string
	cmd   *exec.Cmd
	stdin io.Closer
	done  chan struct{}
}

// startBroker starts `<connector> bench --serve-broker` and waits for its
// address.
func startBroker(ctx context.Context, connector string) (*broker, error) {
	cmd := exec.Command(connector, "bench", "--serve-broker")
	dieWithParent(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("starting the broker: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("starting the broker: %w", err)
	}
	var stderr strings.Builder
	cmd.Stderr = &limitedWriter{w: &stderr, n: 4096}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the broker %s: %w", connector, err)
	}
	b := &broker{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), brokerLinePrefix); ok {
				addr <- a
			}
		}
		_ = cmd.Wait()
		close(b.done)
	}()
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case b.addr = <-addr:
		return b, nil
	case <-b.done:
		return nil, fmt.Errorf("starting the broker: the child exited: %s", strings.TrimSpace(stderr.String()))
	case <-timer.C:
		err = errors.New("starting the broker: no address within 30s")
	case <-ctx.Done():
		err = fmt.Errorf("starting the broker: %w", ctx.Err())
	}
	b.stop()
	return nil, err
}

// stop closes the child's stdin, which ends it, and kills it if it is still
// running five seconds later.
func (b *broker) stop() {
	_ = b.stdin.Close()
	select {
	case <-b.done:
		return
	case <-time.After(5 * time.Second):
	}
	_ = b.cmd.Process.Kill()
	<-b.done
}

// limitedWriter keeps the first n bytes written to it and drops the rest.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		_, _ = l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
