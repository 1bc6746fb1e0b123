package helm_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// markdownAnchors are the anchors GitHub gives the headings of a Markdown
// file: the heading's text in lower case, spaces turned to hyphens, every
// character but letters, digits, hyphens and underscores dropped, and -1,
// -2, ... added to a repeated one. Lines inside fenced code blocks (a shell
// comment, say) are not headings.
func markdownAnchors(t *testing.T, name string) map[string]bool {
	t.Helper()
	anchors := map[string]bool{}
	seen := map[string]int{}
	fenced := false
	for _, line := range strings.Split(readFile(t, name), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		text, ok := headingText(line)
		if !ok {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(text) {
			switch {
			case unicode.IsLetter(r), unicode.IsDigit(r), r == '-', r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteByte('-')
			}
		}
		slug := b.String()
		if n := seen[slug]; n > 0 {
			anchors[slug+"-"+strconv.Itoa(n)] = true
		} else {
			anchors[slug] = true
		}
		seen[slug]++
	}
	return anchors
}

// headingText is the text of an ATX heading line (# to ######).
func headingText(line string) (string, bool) {
	n := 0
	for n < len(line) && line[n] == '#' {
		n++
	}
	if n == 0 || n > 6 || n == len(line) || line[n] != ' ' {
		return "", false
	}
	return strings.TrimSpace(line[n+1:]), true
}

// TestRunbookURLsAreSectionsOfOperations proves that every runbook_url of
// the alert rules — the chart's source, the plain rules file and the
// promtool tests' expected annotations — points at a heading of
// docs/OPERATIONS.md, as GitHub renders it.
func TestRunbookURLsAreSectionsOfOperations(t *testing.T) {
	anchors := markdownAnchors(t, operationsPath)
	files := []string{chartDir + "/files/prometheus-rules.yaml"}
	plain, err := filepath.Glob("../deploy/prometheus/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, plain...)
	runbook := regexp.MustCompile(`runbook_url:\s*(?:'([^']*)'|"([^"]*)"|(\S+))`)
	for _, name := range files {
		urls := runbook.FindAllStringSubmatch(readFile(t, name), -1)
		if len(urls) == 0 && !strings.HasSuffix(name, "tests.yaml") {
			t.Errorf("%s: no runbook_url", name)
		}
		for _, m := range urls {
			url := m[1] + m[2] + m[3]
			base, anchor, ok := strings.Cut(url, "#")
			if !ok || anchor == "" {
				t.Errorf("%s: runbook_url %q has no anchor", name, url)
				continue
			}
			if !strings.HasSuffix(base, "OPERATIONS.md") && !strings.Contains(base, "{{") {
				t.Errorf("%s: runbook_url %q is not a page of docs/OPERATIONS.md", name, url)
			}
			if !anchors[anchor] {
				t.Errorf("%s: runbook_url %q: docs/OPERATIONS.md has no heading #%s", name, url, anchor)
			}
		}
	}
}

// TestDocLinksResolve proves that every relative link of README.md and
// docs/*.md reaches a file of the repository and, with an anchor, one of
// that file's headings.
func TestDocLinksResolve(t *testing.T) {
	docs, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	docs = append(docs, "../README.md", "../schemas/README.md")
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, doc := range docs {
		text := readFile(t, doc)
		links := 0
		for _, m := range link.FindAllStringSubmatch(stripFences(text), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			links++
			path, anchor, _ := strings.Cut(target, "#")
			file := doc
			if path != "" {
				file = filepath.Join(filepath.Dir(doc), path)
				if _, err := os.Stat(file); err != nil {
					t.Errorf("%s: link %q: %v", doc, target, err)
					continue
				}
			}
			if anchor == "" || !strings.HasSuffix(file, ".md") {
				continue
			}
			if !markdownAnchors(t, file)[anchor] {
				t.Errorf("%s: link %q: %s has no heading #%s", doc, target, file, anchor)
			}
		}
		if links == 0 {
			t.Errorf("%s: no relative link found; is the pattern wrong?", doc)
		}
	}
}

// stripFences blanks the fenced code blocks of a Markdown text.
func stripFences(text string) string {
	var b strings.Builder
	fenced := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func TestMarkdownAnchors(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "x.md")
	text := "# Operating x\n## `connector run`\n```sh\n# not a heading\n```\n### Scale-out and fail-over\n## Files\n## Files\n#nospace\n"
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	got := markdownAnchors(t, name)
	for _, want := range []string{"operating-x", "connector-run", "scale-out-and-fail-over", "files", "files-1"} {
		if !got[want] {
			t.Errorf("no anchor %q in %v", want, got)
		}
	}
	for _, not := range []string{"not-a-heading", "nospace"} {
		if got[not] {
			t.Errorf("anchor %q from a line that is no heading", not)
		}
	}
}
