package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]uint64{"4096": 4096, "4k": 4 << 10, "256m": 256 << 20, "1g": 1 << 30} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseBytes("12x"); err == nil {
		t.Error("parseBytes(\"12x\") took it")
	}
}

// run reports the child's exit code, passes it on, and sets the limits on
// the child.
func TestRunReportsAndLimits(t *testing.T) {
	// run sets the limits on this process, which the child inherits.
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
	report := filepath.Join(t.TempDir(), "report")
	if code := run([]string{"-report", report, "-nofile", "17", "sh", "-c", `test "$(ulimit -n)" = 17 || exit 9; exit 3`}); code != 3 {
		t.Fatalf("exit %d, want 3 (9: the descriptor limit was not set)", code)
	}
	if code := run([]string{"-report", report, "sh", "-c", "kill -TERM $$"}); code != 128+15 {
		t.Fatalf("exit %d for a child killed by SIGTERM, want %d", code, 128+15)
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 {
		t.Fatalf("report %q, want two lines", data)
	}
	for i, want := range []int{3, 143} {
		var kb int64
		var code, pid int
		if _, err := fmt.Sscanf(lines[i], "maxrss_kb=%d exit=%d pid=%d", &kb, &code, &pid); err != nil || code != want || kb <= 0 || pid <= 0 {
			t.Errorf("report line %q: %v", lines[i], err)
		}
	}
}
