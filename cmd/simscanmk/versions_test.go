package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gosimscan/simscan/control/rules"
	"github.com/gosimscan/simscan/internal/testenv"
)

func TestClamVersion(t *testing.T) {
	for in, want := range map[string]string{
		"ClamAV 1.0.7/27000/Sat Nov 21 09:00:00 2026\n": "1.0.7/27000",
		"ClamAV 1.4.3":           "1.4.3",
		"ClamAV 0.80/556":        "0.80/556",
		"something else/1/2/3/4": "something else/1",
	} {
		if got := ClamVersion(in); got != want {
			t.Errorf("ClamVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestVersionsFromRealDaemons runs simscanmk -g against the real clamd and
// spamd.
func TestVersionsFromRealDaemons(t *testing.T) {
	c := testenv.StartClamd(t)
	sd := testenv.StartSpamd(t)
	dir := t.TempDir()
	conf := "clamd=unix:" + c.Unix + "\nspamd=" + sd.TCP + "\n"
	if err := os.WriteFile(filepath.Join(dir, "simscan.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"-g"}, &stdout, &stderr, &tool{controlDir: dir, getenv: func(string) string { return "" }, versions: askScanners})
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	v, err := rules.ReadVersions(filepath.Join(dir, "simversions.cdb"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\d+\.\d+(\.\d+)?(/\d+)?$`).MatchString(v["clamav"]) {
		t.Errorf("clamav version %q", v["clamav"])
	}
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(v["spam"]) {
		t.Errorf("spam version %q", v["spam"])
	}
	if v["attach"] != version || v["regex"] != version {
		t.Errorf("own versions %q %q", v["attach"], v["regex"])
	}

	// A configured daemon that is down: an error, and the file stays.
	os.WriteFile(filepath.Join(dir, "simscan.conf"), []byte("clamd=unix:/nonexistent/clamd.sock\n"), 0o644)
	stdout.Reset()
	stderr.Reset()
	code = run([]string{"-g"}, &stdout, &stderr, &tool{controlDir: dir, getenv: func(string) string { return "" }, versions: askScanners})
	if code == 0 || !strings.Contains(stderr.String(), "clamd") {
		t.Errorf("exit %d with clamd down\n%s", code, stderr.String())
	}
	if v2, _ := rules.ReadVersions(filepath.Join(dir, "simversions.cdb")); v2["spam"] != v["spam"] {
		t.Error("simversions.cdb changed although -g failed")
	}
}
