package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
)

// Screen is the terminal area a live display redraws in place — one line
// redrawn after a carriage return (the progress line), or a block of lines
// redrawn after moving the cursor up (the tenants) — shared with the logs,
// which reach the same terminal on standard error. A log line written
// through LogWriter while something is shown first erases it, then is
// written at the start of a clean line, and the display is drawn again below
// it; so a log line never lands in the middle of the progress line. The
// methods are safe for concurrent use.
//
// Lines are cut to the terminal's width, since erasing a line that wrapped
// would erase only its last row.
type Screen struct {
	mu    sync.Mutex
	out   io.Writer  // the display's terminal
	width func() int // its width in columns; 0: unknown, lines are not cut
	lines []string   // shown now; nil: nothing
	block bool       // lines were drawn as a block, each ending with a newline
}

func NewScreen(out io.Writer) *Screen {
	return &Screen{out: out, width: func() int { return termWidth(out) }}
}

// fit cuts lines to the terminal's width, leaving the last column free
// (a line that fills it wraps on some terminals).
func (s *Screen) fit(lines []string) []string {
	w := s.width()
	if w <= 1 {
		return lines
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		if r := []rune(l); len(r) > w-1 {
			l = string(r[:w-2]) + "…"
		}
		out[i] = l
	}
	return out
}

// Terminal control sequences (ECMA-48).
const (
	eraseLine = "\r\033[K" // to the start of the line, then erase it
	eraseDown = "\033[J"   // erase from the cursor to the end of the screen
)

// drawLine shows line in place of what was shown, leaving the cursor at its
// end.
func (s *Screen) drawLine(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.erase()
	s.lines, s.block = s.fit([]string{line}), false
	s.show()
}

// drawBlock shows lines, each ending with a newline, in place of what was
// shown.
func (s *Screen) drawBlock(lines []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.erase()
	s.lines, s.block = s.fit(lines), true
	s.show()
}

// end leaves what is shown on screen, the cursor on a fresh line below it,
// and stops redrawing it.
func (s *Screen) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lines != nil && !s.block {
		fmt.Fprintln(s.out)
	}
	s.lines = nil
}

// erase removes what is shown, leaving the cursor where it began. s.mu must
// be held.
func (s *Screen) erase() {
	switch {
	case s.lines == nil:
	case s.block:
		fmt.Fprintf(s.out, "\033[%dA%s", len(s.lines), eraseDown)
	default:
		fmt.Fprint(s.out, eraseLine)
	}
}

// show writes s.lines. s.mu must be held.
func (s *Screen) show() {
	if s.block {
		fmt.Fprint(s.out, strings.Join(s.lines, "\n")+"\n")
		return
	}
	fmt.Fprint(s.out, s.lines[0])
}

// LogWriter returns a writer for the logs, which go to w (the same terminal
// as the display): each write — a log handler writes one record per write —
// erases the display, goes to w, and redraws the display below it.
func (s *Screen) LogWriter(w io.Writer) io.Writer { return &screenLog{s: s, w: w} }

type screenLog struct {
	s *Screen
	w io.Writer
}

func (l *screenLog) Write(p []byte) (int, error) {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if l.s.lines == nil {
		return l.w.Write(p)
	}
	l.s.erase()
	n, err := l.w.Write(p)
	l.s.show()
	return n, err
}
