package progress

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// terminal renders what a terminal shows for the bytes written to it: text,
// \r, \n (as a tty's output processing does, to the start of the next line),
// and the sequences the screen uses: ESC[K, ESC[<n>A, ESC[J.
type terminal struct {
	mu  sync.Mutex
	raw strings.Builder
}

func (t *terminal) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.raw.Write(p)
}

// String returns the bytes written, as written.
func (t *terminal) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.raw.String()
}

func (t *terminal) lines() []string {
	t.mu.Lock()
	s := t.raw.String()
	t.mu.Unlock()
	var rows [][]rune
	row, col := 0, 0
	line := func() []rune {
		for len(rows) <= row {
			rows = append(rows, nil)
		}
		return rows[row]
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\r':
			col = 0
		case c == '\n':
			row, col = row+1, 0
			line()
		case c == 0x1b && i+1 < len(s) && s[i+1] == '[':
			j := i + 2
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			n, _ := strconv.Atoi(s[i+2 : j])
			switch s[j] {
			case 'K':
				if l := line(); col < len(l) {
					rows[row] = l[:col]
				}
			case 'A':
				row = max(0, row-max(n, 1))
			case 'J':
				if l := line(); col < len(l) {
					rows[row] = l[:col]
				}
				rows = rows[:row+1]
			}
			i = j
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			l := line()
			for len(l) <= col {
				l = append(l, ' ')
			}
			l[col] = r
			rows[row], col = l, col+1
			i += size - 1
		}
	}
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, strings.TrimRight(string(r), " "))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// TestLogLinesDoNotGarbleTheProgressLine: a log line written while the
// progress line is shown starts on a clean line, and the progress line is
// drawn again below it; written straight to the terminal it would be glued to
// the progress line ("| lag 17stime=... level=INFO ...").
func TestLogLinesDoNotGarbleTheProgressLine(t *testing.T) {
	noTime := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}
	t.Run("straight to the terminal", func(t *testing.T) {
		term := &terminal{}
		scr := NewScreen(term)
		log := slog.New(slog.NewTextHandler(term, noTime))
		scr.drawLine("versions 1 | lag 17s")
		log.Info("hello")
		if got := term.lines(); got[0] != "versions 1 | lag 17slevel=INFO msg=hello" {
			t.Fatalf("the terminal model shows %q; it should show the garbled line", got)
		}
	})
	t.Run("through the screen", func(t *testing.T) {
		term := &terminal{}
		scr := NewScreen(term)
		log := slog.New(slog.NewTextHandler(scr.LogWriter(term), noTime))
		log.Info("before") // nothing shown yet: written as is
		scr.drawLine("versions 1 | lag 17s")
		log.Info("hello")
		scr.drawLine("versions 2 | lag 18s")
		log.Warn("again", "n", 2)
		scr.drawLine("versions 3 | lag 1s")
		scr.end()
		log.Info("after")
		want := []string{"level=INFO msg=before", "level=INFO msg=hello", "level=WARN msg=again n=2", "versions 3 | lag 1s", "level=INFO msg=after"}
		if got := term.lines(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("the terminal shows\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
	t.Run("a block of lines", func(t *testing.T) {
		term := &terminal{}
		scr := NewScreen(term)
		log := slog.New(slog.NewTextHandler(scr.LogWriter(term), noTime))
		scr.drawBlock([]string{"tenants 2", "  t1 queue 5", "  t2 queue 7"})
		log.Info("hello")
		scr.drawBlock([]string{"tenants 2", "  t1 queue 4"})
		log.Info("again")
		scr.end()
		want := []string{"level=INFO msg=hello", "level=INFO msg=again", "tenants 2", "  t1 queue 4"}
		if got := term.lines(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("the terminal shows\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
	t.Run("concurrently", func(t *testing.T) {
		term := &terminal{}
		scr := NewScreen(term)
		log := slog.New(slog.NewTextHandler(scr.LogWriter(term), noTime))
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for i := range 50 {
					log.Info("line", "g", g, "i", i)
				}
			})
		}
		for i := range 200 {
			scr.drawLine(fmt.Sprintf("versions %d | lag 1s", i))
		}
		wg.Wait()
		scr.end()
		got := term.lines()
		if len(got) != 201 || got[200] != "versions 199 | lag 1s" {
			t.Fatalf("%d lines on the terminal, the last %q; want 200 log lines and the progress line", len(got), got[len(got)-1])
		}
		for _, l := range got[:200] {
			if !strings.HasPrefix(l, "level=INFO msg=line g=") || strings.Contains(l, "versions") {
				t.Fatalf("a garbled line: %q", l)
			}
		}
	})
}

// TestScreenCutsLinesToTheTerminal: a line wider than the terminal would
// wrap, and erasing it would leave its first rows on screen; the screen cuts
// it to the width instead.
func TestScreenCutsLinesToTheTerminal(t *testing.T) {
	term := &terminal{}
	scr := NewScreen(term)
	scr.width = func() int { return 20 }
	scr.drawLine("versions 305 | xdr.alerts 452 | enrich queue 269 (~54s)")
	if got := term.String(); got != "versions 305 | xdr…" {
		t.Fatalf("drew %q, want 19 columns", got)
	}
	scr.drawBlock([]string{"tenants 2 (2 running) | versions 10", "ok"})
	if got := term.lines(); fmt.Sprint(got) != "[tenants 2 (2 runni… ok]" {
		t.Fatalf("the terminal shows %q", got)
	}
	scr.width = func() int { return 0 } // unknown: not cut
	scr.drawLine("versions 305 | xdr.alerts 452")
	if got := term.lines(); got[len(got)-1] != "versions 305 | xdr.alerts 452" {
		t.Fatalf("the terminal shows %q", got)
	}
}
