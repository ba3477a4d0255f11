package scanner

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosimscan/simscan/control"
	"github.com/gosimscan/simscan/mime"
)

var update = flag.Bool("update", false, "rewrite golden files")

// corpusBans is the attachment list the corpus verdicts are judged with.
var corpusBans = []string{".exe", ".scr", ".com", ".bat", ".pif", ".vbs", ".js", ".cmd"}

// TestCorpusVerdicts runs the attachment check and the policy over every
// message of testdata/mime, with attach_encrypted=reject, and compares the
// verdicts with testdata/mime/verdicts.golden (go test -update rewrites it).
func TestCorpusVerdicts(t *testing.T) {
	files, err := filepath.Glob("../testdata/mime/*.eml")
	if err != nil || len(files) < 40 {
		t.Fatalf("corpus of %d messages: %v", len(files), err)
	}
	cfg := control.Defaults()
	var got strings.Builder
	for _, f := range files {
		m := openMessage(t, f)
		c := &AttachCheck{Exts: corpusBans, Options: mime.Options{Archives: true, Limits: Limits(&cfg)}, Encrypted: true}
		p := Pipeline{Checks: []Check{c}, Rules: Rules{OnLimit: control.LimitReject}}
		out := p.Run(context.Background(), m)
		fmt.Fprintf(&got, "%s: %s %s %s\n", filepath.Base(f), out.Verdict.Action, out.Verdict.State, out.Verdict.Detail)
	}
	golden := "../testdata/mime/verdicts.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		t.Errorf("verdicts differ from %s (go test -update to rewrite after checking):\n%s", golden, diffLines(string(want), got.String()))
	}
}

func openMessage(t *testing.T, path string) *Message {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return &Message{Dir: t.TempDir(), Path: path, File: f, Size: st.Size()}
}

func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			fmt.Fprintf(&b, "- %s\n+ %s\n", a, c)
		}
	}
	return b.String()
}

func TestAttachCheckEncryptedAndLimits(t *testing.T) {
	cfg := control.Defaults()
	enc := openMessage(t, "../testdata/mime/31-zip-encrypted.eml")
	for _, reject := range []bool{false, true} {
		// The encrypted member is secret.exe: ban something else, so only
		// attach_encrypted can refuse it.
		c := &AttachCheck{Exts: []string{".scr"}, Options: mime.Options{Archives: true, Limits: Limits(&cfg)}, Encrypted: reject}
		f, err := c.Check(context.Background(), enc)
		if err != nil {
			t.Fatal(err)
		}
		if (f.Kind == Encrypted) != reject {
			t.Errorf("attach_encrypted reject=%v: finding %+v", reject, f)
		}
	}
	bomb := openMessage(t, "../testdata/mime/32-zip-bomb.eml")
	c := &AttachCheck{Exts: []string{".exe"}, Options: mime.Options{Archives: true, Limits: Limits(&cfg)}}
	f, err := c.Check(context.Background(), bomb)
	if err != nil || f.Kind != Limit || !strings.Contains(f.Name, "ratio") {
		t.Errorf("zip bomb: %+v %v", f, err)
	}
	for _, action := range []control.LimitAction{control.LimitReject, control.LimitTempFail, control.LimitPass} {
		v := Decide(f, Rules{OnLimit: action})
		want := map[control.LimitAction]Action{control.LimitReject: Reject, control.LimitTempFail: TempFail, control.LimitPass: Pass}[action]
		if v.Action != want {
			t.Errorf("on_limit=%s: %v", action, v.Action)
		}
	}
}

func TestRegexCheck(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "msg")
	long := strings.Repeat("y", 200<<10)
	os.WriteFile(p, []byte("Subject: Hello\r\nX-Mailer: BulkBlaster 9\r\n\r\n"+long+"NEEDLE\r\nbody\n"), 0o644)
	m := openMessage(t, p)
	var logged []string
	logf := func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }
	tests := []struct {
		pats []string
		kind Kind
		name string
	}{
		{[]string{"^x-mailer: bulkblaster"}, Regex, "1"},
		{[]string{"nomatch", "hello$"}, Regex, "2"},
		{[]string{"needle"}, Regex, "1"}, // past a line longer than the line buffer
		{[]string{"(unclosed", "^body$"}, Regex, "2"},
		{[]string{"^subject: bye"}, Clean, ""},
	}
	for _, tt := range tests {
		f, err := (&RegexCheck{Patterns: tt.pats, Logf: logf}).Check(context.Background(), m)
		if err != nil || f.Kind != tt.kind || f.Name != tt.name {
			t.Errorf("%q: %+v %v", tt.pats, f, err)
		}
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "regex #1 \"(unclosed\" skipped") {
		t.Errorf("logged %q", logged)
	}
}
