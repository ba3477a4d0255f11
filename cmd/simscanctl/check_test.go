package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func demoControl(t *testing.T, conf string) string {
	t.Helper()
	dir := t.TempDir()
	ssattach, err := os.ReadFile("../../testdata/demo/ssattach")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "ssattach"), ssattach, 0o644)
	os.WriteFile(filepath.Join(dir, "simscan.conf"), []byte(conf), 0o644)
	return dir
}

func runCtl(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }, control: dir}
	code := run(e, args)
	return code, stdout.String(), stderr.String()
}

func TestCheckJSON(t *testing.T) {
	dir := demoControl(t, "")
	tests := []struct {
		file    string
		code    int
		verdict string
		state   string
		names   []string // must all be among the parts' names
	}{
		{"01-clean.eml", 0, "pass", "CLEAN", nil},
		{"03-notes-exe-txt.eml", 0, "pass", "CLEAN", []string{"notes.exe.txt"}},
		{"04-invoice-exe.eml", 1, "reject", "ATTACH", []string{"invoice.exe"}},
		{"05-rfc2231-hidden-exe.eml", 1, "reject", "ATTACH", []string{"parcel label.pdf.exe"}},
		{"07-zip-with-exe.eml", 1, "reject", "ATTACH", []string{"statement.zip", "statement.pdf", "setup.exe"}},
		{"09-zip-of-pdfs.eml", 0, "pass", "CLEAN", []string{"reports.zip", "q1.pdf", "q2.pdf"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			code, out, errs := runCtl(t, dir, "check", "--json", "--from", "a@example.org", "--rcpt", "b@example.com", "../../testdata/demo/"+tt.file)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, out, errs)
			}
			var rep struct {
				Verdict, State, Detail string
				Parts                  []struct{ Names []string }
			}
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if rep.Verdict != tt.verdict || rep.State != tt.state {
				t.Errorf("verdict %s state %s", rep.Verdict, rep.State)
			}
			var all []string
			for _, p := range rep.Parts {
				all = append(all, p.Names...)
			}
			for _, n := range tt.names {
				if !slices.Contains(all, n) {
					t.Errorf("name %q not among %q", n, all)
				}
			}
		})
	}
}

func TestCheckText(t *testing.T) {
	dir := demoControl(t, "")
	code, out, _ := runCtl(t, dir, "check", "../../testdata/demo/07-zip-with-exe.eml")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"verdict:  reject", "state:    ATTACH", "reply:    Your email was rejected because it contains a bad attachment: setup.exe", `member "docs/setup.exe" -> setup.exe`, "checks:   attach"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestCheckTempfailAndErrors(t *testing.T) {
	// A clamd that is not there: a temporary failure, exit 2.
	dir := demoControl(t, "clamd=unix:/nonexistent/clamd.sock\n")
	code, out, _ := runCtl(t, dir, "check", "--json", "../../testdata/demo/01-clean.eml")
	if code != 2 || !strings.Contains(out, `"verdict": "tempfail"`) {
		t.Errorf("exit %d\n%s", code, out)
	}
	if code, _, errs := runCtl(t, dir, "check", "/nonexistent.eml"); code != 2 || !strings.Contains(errs, "simscanctl: check:") {
		t.Errorf("missing file: exit %d %q", code, errs)
	}
	bad := demoControl(t, "bogus=1\n")
	if code, _, errs := runCtl(t, bad, "check", "../../testdata/demo/01-clean.eml"); code != 2 || !strings.Contains(errs, "simscan.conf:1") {
		t.Errorf("bad config: exit %d %q", code, errs)
	}
}
