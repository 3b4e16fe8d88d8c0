// Command testreport reads `go test -json` on stdin and prints what plain
// `go test` prints (each package's result, and the output of failing
// tests), then one line per suite that was skipped, with the reason, so
// that a run without Chromium or PostgreSQL says what did not run.
//
//	go test -race -count=1 -json ./... | go run ./internal/testreport
//
// It exits 1 if a test or a package failed.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// event is one line of `go test -json` (see `go doc test2json`).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

func main() {
	failed, err := report(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}

// report copies the run's results to w and appends the skip summary.
func report(r io.Reader, w io.Writer) (failed bool, err error) {
	type key struct{ pkg, test string }
	outputs := map[key][]string{}
	// reason -> the packages and tests skipped for it
	skipped := map[string][]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var ev event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			// Not JSON (a build error printed before the stream): pass it on.
			fmt.Fprintln(w, sc.Text())
			continue
		}
		k := key{ev.Package, ev.Test}
		switch ev.Action {
		case "output":
			if ev.Test == "" {
				if !strings.HasPrefix(ev.Output, "=== ") && ev.Output != "PASS\n" {
					fmt.Fprint(w, ev.Output)
				}
				continue
			}
			outputs[k] = append(outputs[k], ev.Output)
		case "fail":
			if ev.Test != "" {
				failed = true
				fmt.Fprint(w, strings.Join(outputs[k], ""))
			} else {
				failed = true
			}
			delete(outputs, k)
		case "skip":
			if ev.Test != "" {
				reason := skipReason(outputs[k])
				skipped[reason] = append(skipped[reason], shortPackage(ev.Package)+" "+ev.Test)
			}
			delete(outputs, k)
		case "pass":
			delete(outputs, k)
		}
	}
	if err := sc.Err(); err != nil {
		return failed, err
	}
	reasons := make([]string, 0, len(skipped))
	for r := range skipped {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		tests := skipped[r]
		sort.Strings(tests)
		what := tests[0]
		if len(tests) > 1 {
			what = fmt.Sprintf("%d tests (%s, ...)", len(tests), tests[0])
		}
		fmt.Fprintf(w, "SKIPPED %s: %s\n", what, r)
	}
	return failed, nil
}

// skipReason is the message a test gave to t.Skip: the output lines
// between "=== RUN" and "--- SKIP", without the file:line prefix.
func skipReason(lines []string) string {
	var msg []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- ") {
			continue
		}
		if _, rest, ok := strings.Cut(t, ": "); ok && strings.Contains(t[:len(t)-len(rest)], ".go:") {
			t = rest
		}
		msg = append(msg, t)
	}
	if len(msg) == 0 {
		return "skipped without a reason"
	}
	return strings.Join(msg, " ")
}

func shortPackage(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[i+1:]
	}
	return p
}
