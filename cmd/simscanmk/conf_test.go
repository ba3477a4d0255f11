package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosimscan/simscan/control/rules"
)

func TestCheckReportsConfigProblems(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "simscan.conf"), []byte("clamd=unix:/run/clamd.ctl\nspam_hits=lots\nbogus=1\nworkdir=/nonexistent/work\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "simcontrol"), []byte(":clam=yes,spam=yes\nexample.com:spam=no\n"), 0o644)
	var stdout, stderr bytes.Buffer
	code := run([]string{"-c"}, &stdout, &stderr, &tool{controlDir: dir, getenv: func(string) string { return "" }, checks: []func(string) []rules.Problem{checkConfig}})
	out := stdout.String() + stderr.String()
	if code != 1 {
		t.Errorf("exit %d, want 1\n%s", code, out)
	}
	for _, want := range []string{
		"simscan.conf:2: spam_hits",
		"simscan.conf:3: unknown key \"bogus\"",
		"simcontrol:1: spam=yes but simscan.conf sets no spamd= address",
		"workdir /nonexistent/work is not a directory",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "clam=yes but") {
		t.Errorf("clam reported although clamd= is set:\n%s", out)
	}
}
