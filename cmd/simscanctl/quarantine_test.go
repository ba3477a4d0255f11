package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gosimscan/simscan/internal/testenv"
	"github.com/gosimscan/simscan/quarantine"
)

// quarantineEnv is a control directory whose simscan.conf names a
// quarantine and the recording fake qmail-queue.
type quarantineEnv struct {
	control string
	dir     string // quarantine_dir
	rec     string // RECORDER_DIR
}

func newQuarantineEnv(t *testing.T) *quarantineEnv {
	t.Helper()
	base := t.TempDir()
	q := &quarantineEnv{control: filepath.Join(base, "control"), dir: filepath.Join(base, "quarantine"), rec: filepath.Join(base, "recorded")}
	for _, d := range []string{q.control, q.rec} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := fmt.Sprintf("quarantine_dir=%s\nqmailqueue=%s\n", q.dir, testenv.BuildRecorder(t))
	if err := os.WriteFile(filepath.Join(q.control, "simscan.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RECORDER_DIR", q.rec)
	t.Setenv("RECORDER_EXIT", "")
	return q
}

// run runs simscanctl and returns the exit code, stdout and stderr.
func (q *quarantineEnv) run(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	e := &env{
		stdin:  strings.NewReader(""),
		stdout: &out,
		stderr: &errOut,
		getenv: func(k string) string {
			if k == "USER" {
				return "postmaster"
			}
			return ""
		},
		control: q.control,
	}
	code := run(e, args)
	return code, out.String(), errOut.String()
}

// store quarantines msg as simscan would.
func (q *quarantineEnv) store(t *testing.T, msg []byte, meta quarantine.Meta) string {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "msg"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(msg); err != nil {
		t.Fatal(err)
	}
	if meta.Version == "" {
		meta.Version = "test"
	}
	id, err := quarantine.Store(q.dir, f, meta)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// binaryMessage is a message whose bytes a careless copy would change:
// CRLF and bare LF and CR, NUL, bytes over 127, no final newline.
func binaryMessage() []byte {
	var b bytes.Buffer
	b.WriteString("From: a@example.org\r\nTo: b@example.com\r\nSubject: release me\r\n\r\n")
	for i := 0; i < 20000; i++ {
		fmt.Fprintf(&b, "line %d\r\n\x00\xff\xfe\r\x1b[0m\n", i)
	}
	b.WriteString("end without newline")
	return b.Bytes()
}

func TestQuarantineReleaseReachesQmailQueue(t *testing.T) {
	q := newQuarantineEnv(t)
	msg := binaryMessage()
	id := q.store(t, msg, quarantine.Meta{Class: "spam", Detail: "SPAM REJECT (9.00/5.00/5.00)", From: "a@example.org", To: []string{"b@example.com", "C@example.net"}})

	code, out, errOut := q.run("quarantine", "release", id)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if out != "released "+id+" to b@example.com, C@example.net\n" {
		t.Errorf("stdout %q", out)
	}
	recs := testenv.ReadRecorded(t, q.rec)
	if len(recs) != 1 {
		t.Fatalf("%d runs of qmail-queue, want 1", len(recs))
	}
	if !bytes.Equal(recs[0].Msg, msg) {
		t.Errorf("qmail-queue got %d bytes that differ from the %d stored", len(recs[0].Msg), len(msg))
	}
	if want := "Fa@example.org\x00Tb@example.com\x00TC@example.net\x00\x00"; string(recs[0].Env) != want {
		t.Errorf("envelope %q, want %q", recs[0].Env, want)
	}
	meta, err := quarantine.Get(q.dir, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(meta.Released) != 1 || strings.Join(meta.Released[0].To, " ") != "b@example.com C@example.net" ||
		meta.Released[0].By != "postmaster" || time.Since(meta.Released[0].Time) > time.Minute {
		t.Errorf("release record %+v", meta.Released)
	}
	// The entry stays, for the record; show lists the release.
	code, out, _ = q.run("quarantine", "show", id)
	if code != 0 || !strings.Contains(out, "to:        b@example.com\n           C@example.net\n") ||
		!strings.Contains(out, "released:  ") || !strings.Contains(out, "to b@example.com, C@example.net by postmaster") {
		t.Errorf("show after release (exit %d):\n%s", code, out)
	}
}

func TestQuarantineReleaseTo(t *testing.T) {
	q := newQuarantineEnv(t)
	msg := []byte("Subject: x\r\n\r\nbody\r\n")
	id := q.store(t, msg, quarantine.Meta{Class: "attach", Detail: "a.exe", From: "", To: []string{"b@example.com", "c@example.com"}})
	// Flags after the id as well as before it.
	code, _, errOut := q.run("quarantine", "release", "--to", "admin@example.com", id, "--to", "audit@example.com")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	recs := testenv.ReadRecorded(t, q.rec)
	if len(recs) != 1 || !bytes.Equal(recs[0].Msg, msg) {
		t.Fatalf("records %+v", recs)
	}
	if want := "F\x00Tadmin@example.com\x00Taudit@example.com\x00\x00"; string(recs[0].Env) != want {
		t.Errorf("envelope %q, want %q", recs[0].Env, want)
	}
	meta, _ := quarantine.Get(q.dir, id)
	if len(meta.Released) != 1 || strings.Join(meta.Released[0].To, " ") != "admin@example.com audit@example.com" {
		t.Errorf("release record %+v", meta.Released)
	}
	if strings.Join(meta.To, " ") != "b@example.com c@example.com" {
		t.Errorf("original envelope changed: %q", meta.To)
	}
}

func TestQuarantineReleaseVirusNeedsForce(t *testing.T) {
	q := newQuarantineEnv(t)
	msg := []byte("Subject: eicar\r\n\r\nX5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR\r\n")
	id := q.store(t, msg, quarantine.Meta{Class: "virus", Detail: "Eicar-Signature", From: "a@example.org", To: []string{"b@example.com"}})
	code, _, errOut := q.run("quarantine", "release", id)
	if code != 1 || !strings.Contains(errOut, "holds a virus (Eicar-Signature)") || !strings.Contains(errOut, "--force") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	if recs := testenv.ReadRecorded(t, q.rec); len(recs) != 0 {
		t.Fatalf("virus released without --force")
	}
	if meta, _ := quarantine.Get(q.dir, id); len(meta.Released) != 0 {
		t.Errorf("release recorded: %+v", meta.Released)
	}
	code, _, errOut = q.run("quarantine", "release", "--force", id)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if recs := testenv.ReadRecorded(t, q.rec); len(recs) != 1 || !bytes.Equal(recs[0].Msg, msg) {
		t.Errorf("forced release not delivered: %+v", recs)
	}
}

func TestQuarantineReleaseRefused(t *testing.T) {
	q := newQuarantineEnv(t)
	id := q.store(t, []byte("Subject: x\r\n\r\nbody\r\n"), quarantine.Meta{Class: "spam", From: "a@example.org", To: []string{"b@example.com"}})
	t.Setenv("RECORDER_EXIT", "53")
	code, out, errOut := q.run("quarantine", "release", id)
	if code != 1 || out != "" || !strings.Contains(errOut, "refused message "+id+": exit 53 (write error or disk full)") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if meta, _ := quarantine.Get(q.dir, id); len(meta.Released) != 0 {
		t.Errorf("failed release recorded: %+v", meta.Released)
	}
}

func TestQuarantineReleaseProblems(t *testing.T) {
	q := newQuarantineEnv(t)
	id := q.store(t, []byte("Subject: x\r\n\r\nbody\r\n"), quarantine.Meta{Class: "spam", From: "a@example.org", To: []string{"b@example.com"}})

	code, _, errOut := q.run("quarantine", "release", id, "--to", "")
	if code != 1 || !strings.Contains(errOut, "empty recipient") {
		t.Errorf("empty --to: exit %d, %q", code, errOut)
	}
	code, _, errOut = q.run("quarantine", "release", "--to", strings.Repeat("x", 1001), id)
	if code != 1 || !strings.Contains(errOut, "envelope") {
		t.Errorf("long --to: exit %d, %q", code, errOut)
	}
	code, _, errOut = q.run("quarantine", "release")
	if code != 2 || !strings.Contains(errOut, "want one ID") {
		t.Errorf("no id: exit %d, %q", code, errOut)
	}
	// A message that no longer matches its metadata is not released.
	if err := os.WriteFile(filepath.Join(q.dir, id, quarantine.MessageFile), []byte("tampered"), 0o640); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = q.run("quarantine", "release", id)
	if code != 1 || !strings.Contains(errOut, "metadata says 20") {
		t.Errorf("size mismatch: exit %d, %q", code, errOut)
	}
	if recs := testenv.ReadRecorded(t, q.rec); len(recs) != 0 {
		t.Fatalf("qmail-queue ran %d times", len(recs))
	}
	// A qmail-queue that cannot be run.
	conf := fmt.Sprintf("quarantine_dir=%s\nqmailqueue=%s\n", q.dir, filepath.Join(q.control, "missing"))
	if err := os.WriteFile(filepath.Join(q.control, "simscan.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = q.run("quarantine", "release", "--force", id)
	if code != 1 || !strings.Contains(errOut, "cannot run") {
		t.Errorf("missing qmail-queue: exit %d, %q", code, errOut)
	}
}

func TestQuarantineBadIDs(t *testing.T) {
	q := newQuarantineEnv(t)
	q.store(t, []byte("x"), quarantine.Meta{Class: "spam", To: []string{"b@example.com"}})
	outside := filepath.Join(filepath.Dir(q.dir), "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"../outside", "..", "a/b", "/etc/passwd", ".tmp-x", "\x1b[2Jx"} {
		for _, cmd := range [][]string{{"show", id}, {"show", "--raw", id}, {"release", "--force", id}, {"delete", id}} {
			args := append([]string{"quarantine"}, cmd...)
			code, out, errOut := q.run(args...)
			if code != 1 || out != "" || !strings.Contains(errOut, "is not a quarantine id") || strings.ContainsRune(errOut, 0x1b) {
				t.Errorf("%q: exit %d, stdout %q, stderr %q", cmd, code, out, errOut)
			}
		}
	}
	if _, err := os.Stat(outside); err != nil {
		t.Errorf("directory outside the quarantine touched: %v", err)
	}
	code, _, errOut := q.run("quarantine", "show", "1.2.3.missing")
	if code != 1 || !strings.Contains(errOut, "no quarantined message 1.2.3.missing") {
		t.Errorf("missing id: exit %d, %q", code, errOut)
	}
}

func TestQuarantineList(t *testing.T) {
	q := newQuarantineEnv(t)
	now := time.Now().UTC().Truncate(time.Second)
	a := q.store(t, []byte("aaaa"), quarantine.Meta{Time: now.Add(-3 * time.Hour), Class: "virus", Detail: "Eicar-Signature", From: "x@bad.example", To: []string{"b@example.com"}})
	b := q.store(t, []byte("bbbbbbbb"), quarantine.Meta{Time: now.Add(-time.Hour), Class: "spam", Detail: "SPAM REJECT (9.00/5.00/5.00)", From: "", To: []string{"c@example.com", "d@example.net", "e@example.net"}})
	c := q.store(t, []byte("c"), quarantine.Meta{Time: now.Add(-time.Minute), Class: "attach", Detail: "\x1b]0;x\x07.exe", From: "y@\x1b[31m.example", To: []string{"d@example.net"}})

	code, out, errOut := q.run("quarantine", "list")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("list:\n%s", out)
	}
	for i, want := range [][]string{
		{"ID", "TIME", "CLASS", "SIZE", "FROM", "TO", "DETAIL"},
		{a, now.Add(-3 * time.Hour).Format(time.RFC3339), "virus", "4", "x@bad.example", "b@example.com", "Eicar-Signature"},
		{b, now.Add(-time.Hour).Format(time.RFC3339), "spam", "8", "<>", "c@example.com", "(+2)", "SPAM", "REJECT", "(9.00/5.00/5.00)"},
		{c, now.Add(-time.Minute).Format(time.RFC3339), "attach", "1", `y@\x1b[31m.example`, "d@example.net", `\x1b]0;x\x07.exe`},
	} {
		if got := strings.Fields(lines[i]); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("line %d: %q, want %q", i, got, want)
		}
	}
	if strings.ContainsAny(out, "\x1b\x07") {
		t.Errorf("list printed raw control characters:\n%q", out)
	}

	ids := func(args ...string) string {
		t.Helper()
		code, out, errOut := q.run(append([]string{"quarantine", "list", "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("list %q: exit %d: %s", args, code, errOut)
		}
		var metas []quarantine.Meta
		if err := json.Unmarshal([]byte(out), &metas); err != nil {
			t.Fatalf("list %q: %v\n%s", args, err, out)
		}
		var got []string
		for _, m := range metas {
			got = append(got, m.ID)
		}
		return strings.Join(got, " ")
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, a + " " + b + " " + c},
		{[]string{"--class", "spam"}, b},
		{[]string{"--rcpt", "d@example.net"}, b + " " + c},
		{[]string{"--rcpt", "example.com"}, a + " " + b},
		{[]string{"--from", "<>"}, b},
		{[]string{"--from", "bad.example", "--class", "virus"}, a},
		{[]string{"--since", "2h"}, b + " " + c},
		{[]string{"--since", now.Add(-30 * time.Minute).Format(time.RFC3339)}, c},
		{[]string{"--since", "1d", "--rcpt", "nobody@example.com"}, ""},
	} {
		if got := ids(tt.args...); got != tt.want {
			t.Errorf("list %q: %q, want %q", tt.args, got, tt.want)
		}
	}
	// JSON keeps every field, escaped for the terminal but the same data.
	code, out, _ = q.run("quarantine", "list", "--json", "--class", "attach")
	if code != 0 || strings.ContainsAny(out, "\x1b\x07") || !strings.Contains(out, `"detail": "\u001b]0;x\u0007.exe"`) {
		t.Errorf("json list (exit %d):\n%s", code, out)
	}

	for _, bad := range [][]string{{"--class", "ham"}, {"--since", "yesterday"}, {"--bogus"}, {"extra"}} {
		if code, _, _ := q.run(append([]string{"quarantine", "list"}, bad...)...); code != 2 {
			t.Errorf("list %q: exit %d, want 2", bad, code)
		}
	}
}

func TestQuarantineListEmpty(t *testing.T) {
	q := newQuarantineEnv(t) // quarantine_dir does not exist yet
	code, out, errOut := q.run("quarantine", "list")
	if code != 0 || strings.TrimSpace(out) != "ID  TIME  CLASS  SIZE  FROM  TO  DETAIL" {
		t.Errorf("exit %d, %q, %q", code, out, errOut)
	}
	code, out, _ = q.run("quarantine", "list", "--json")
	if code != 0 || out != "[]\n" {
		t.Errorf("json: exit %d, %q", code, out)
	}
}

// terminalSafe reports the first thing in out a terminal could act on.
func terminalSafe(out string) (string, bool) {
	for i, r := range out {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(out[i:]); n <= 1 {
				return out[i : i+1], false
			}
		}
		if r != '\n' && r != '\t' && !unicode.IsGraphic(r) {
			return string(r), false
		}
	}
	return "", true
}

func TestQuarantineShowEscapes(t *testing.T) {
	q := newQuarantineEnv(t)
	msg := []byte("From: \x1b]0;owned\x07x@example.org\r\n" +
		"Subject: \x1b[2J\x1b[H\x9b6n fake prompt\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"\r\n" +
		"\x1b[8mhidden\x1b[0m \x1bP$q\x1b\\ \u009b31m \u202etxt.exe \x7f\x00\r\n" +
		"\x1b]52;c;cm0gLXJmIH4=\x07 clipboard\r\n")
	id := q.store(t, msg, quarantine.Meta{Class: "regex", Detail: "#1 \x1b[5m", From: "\x1b[31mred@example.org", To: []string{"b@example.com\u009b"}, RemoteIP: "192.0.2.1\x1b"})
	code, out, errOut := q.run("quarantine", "show", id)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if bad, ok := terminalSafe(out); !ok {
		t.Fatalf("show printed %q raw:\n%s", bad, out)
	}
	for _, want := range []string{
		"id:        " + id + "\n",
		"class:     regex\n",
		`detail:    #1 \x1b[5m` + "\n",
		`from:      \x1b[31mred@example.org` + "\n",
		`to:        b@example.com\u009b` + "\n",
		`remote ip: 192.0.2.1\x1b` + "\n",
		"size:      " + fmt.Sprint(len(msg)) + "\n",
		`From: \x1b]0;owned\x07x@example.org` + "\n",
		`Subject: \x1b[2J\x1b[H\x9b6n fake prompt` + "\n",
		`\x1b[8mhidden\x1b[0m \x1bP$q\x1b\ \u009b31m \u202etxt.exe \x7f\x00` + "\n",
		`\x1b]52;c;cm0gLXJmIH4=\x07 clipboard` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = q.run("quarantine", "show", "--raw", id)
	if code != 0 || out != string(msg) {
		t.Errorf("--raw: exit %d, %d bytes differ from the %d stored", code, len(out), len(msg))
	}

	code, out, _ = q.run("quarantine", "show", "--json", id)
	if bad, ok := terminalSafe(out); code != 0 || !ok {
		t.Fatalf("--json: exit %d, printed %q raw", code, bad)
	}
	var m quarantine.Meta
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	if m.ID != id || m.From != "\x1b[31mred@example.org" || m.To[0] != "b@example.com\u009b" || m.Detail != "#1 \x1b[5m" {
		t.Errorf("--json decodes to %+v", m)
	}
}

func TestQuarantineShowDecodes(t *testing.T) {
	q := newQuarantineEnv(t)
	msg := []byte("Subject: mixed\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n" +
		"--zz\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=C3=A9 =1B[1mbold\r\n" +
		"--zz\r\nContent-Type: application/pdf; name=invoice.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n" +
		"--zz--\r\n")
	id := q.store(t, msg, quarantine.Meta{Class: "attach", Detail: "invoice.pdf", To: []string{"b@example.com"}})
	code, out, _ := q.run("quarantine", "show", id)
	for _, want := range []string{"part 1: text/plain; charset=utf-8", `Café \x1b[1mbold`, `[application/pdf part "invoice.pdf", 9 bytes]`} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("show lacks %q (exit %d):\n%s", want, code, out)
		}
	}
}

func TestQuarantineDelete(t *testing.T) {
	q := newQuarantineEnv(t)
	a := q.store(t, []byte("a"), quarantine.Meta{Class: "spam", To: []string{"b@example.com"}})
	b := q.store(t, []byte("b"), quarantine.Meta{Class: "spam", To: []string{"b@example.com"}})
	c := q.store(t, []byte("c"), quarantine.Meta{Class: "spam", To: []string{"b@example.com"}})
	code, out, errOut := q.run("quarantine", "delete", a, "1.2.3.missing", c)
	if code != 1 || out != "deleted "+a+"\ndeleted "+c+"\n" || !strings.Contains(errOut, "no quarantined message 1.2.3.missing") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	metas, err := quarantine.List(q.dir, quarantine.Filter{})
	if err != nil || len(metas) != 1 || metas[0].ID != b {
		t.Errorf("left %+v, %v; want only %s", metas, err, b)
	}
	if code, _, _ := q.run("quarantine", "delete"); code != 2 {
		t.Errorf("delete without ids: exit %d, want 2", code)
	}
}

func TestQuarantinePurge(t *testing.T) {
	q := newQuarantineEnv(t)
	now := time.Now()
	old1 := q.store(t, []byte("a"), quarantine.Meta{Time: now.Add(-50 * time.Hour), Class: "spam", To: []string{"b@example.com"}})
	old2 := q.store(t, []byte("b"), quarantine.Meta{Time: now.Add(-25 * time.Hour), Class: "spam", To: []string{"b@example.com"}})
	young := q.store(t, []byte("c"), quarantine.Meta{Time: now.Add(-23 * time.Hour), Class: "spam", To: []string{"b@example.com"}})
	code, out, errOut := q.run("quarantine", "purge", "--older-than", "1d")
	if code != 0 || out != "deleted "+old1+"\ndeleted "+old2+"\npurged 2 messages older than 1d\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	metas, _ := quarantine.List(q.dir, quarantine.Filter{})
	if len(metas) != 1 || metas[0].ID != young {
		t.Errorf("left %+v, want only %s", metas, young)
	}
	for _, bad := range [][]string{nil, {"--older-than", "0s"}, {"--older-than", "soon"}, {"--older-than", "-1d"}} {
		if code, _, _ := q.run(append([]string{"quarantine", "purge"}, bad...)...); code != 2 {
			t.Errorf("purge %q: exit %d, want 2", bad, code)
		}
	}
}

func TestQuarantineNeedsDir(t *testing.T) {
	q := newQuarantineEnv(t)
	if err := os.WriteFile(filepath.Join(q.control, "simscan.conf"), []byte("qmailqueue=/bin/true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := q.run("quarantine", "list")
	if code != 1 || !strings.Contains(errOut, "simscanctl: quarantine_dir is not set in ") {
		t.Errorf("exit %d, %q", code, errOut)
	}
	code, _, errOut = q.run("quarantine", "frobnicate")
	if code != 2 || !strings.Contains(errOut, `unknown subcommand "frobnicate"`) {
		t.Errorf("unknown subcommand: exit %d, %q", code, errOut)
	}
	code, _, errOut = q.run("quarantine")
	if code != 2 || !strings.Contains(errOut, "usage: simscanctl quarantine list") {
		t.Errorf("no subcommand: exit %d, %q", code, errOut)
	}
}

func TestParseQuarantineAge(t *testing.T) {
	for in, want := range map[string]time.Duration{"90m": 90 * time.Minute, "36h": 36 * time.Hour, "30d": 30 * 24 * time.Hour, "2w": 14 * 24 * time.Hour} {
		if got, err := parseQuarantineAge(in); err != nil || got != want {
			t.Errorf("%q: %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "0d", "-3h", "d", "1.5d", "3x", "99999999999999d"} {
		if got, err := parseQuarantineAge(in); err == nil {
			t.Errorf("%q: %v, want an error", in, got)
		}
	}
	now := time.Date(2026, 4, 10, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2d":                   now.Add(-48 * time.Hour),
		"2026-04-01T08:00:00Z": time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC),
		"2026-04-01":           time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC),
	} {
		if got, err := parseListSince(in, now); err != nil || !got.Equal(want) {
			t.Errorf("since %q: %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestEscapeJSONControls(t *testing.T) {
	in := "\"a\u007fb\u009bc\u202ed\U000e0001é\""
	got := string(escapeJSONControls([]byte(in)))
	if got != `"a\u007fb\u009bc\u202ed\udb40\udc01é"` {
		t.Errorf("got %s", got)
	}
	var back, orig string
	json.Unmarshal([]byte(got), &back)
	json.Unmarshal([]byte(in), &orig)
	if back != orig {
		t.Errorf("escaped JSON means %q, not %q", back, orig)
	}
}
