package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gosimscan/simscan/spool"
)

func TestCleanup(t *testing.T) {
	work := t.TempDir()
	ctl := t.TempDir()
	os.WriteFile(filepath.Join(ctl, "simscan.conf"), []byte("workdir="+work+"\nstale_age=30m\n"), 0o644)
	now := time.Now()
	old, _ := spool.Create(work, now.Add(-time.Hour), 1)
	fresh, _ := spool.Create(work, now.Add(-10*time.Minute), 2)

	code, out, errs := runCtl(t, ctl, "cleanup")
	if code != 0 || !strings.Contains(out, "removed "+old) || !strings.Contains(out, "1 stale work directories removed") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh work directory removed: %v", err)
	}
	code, out, _ = runCtl(t, ctl, "cleanup", "--older-than", "5m")
	if code != 0 || !strings.Contains(out, "removed "+fresh) {
		t.Errorf("--older-than 5m: exit %d\n%s", code, out)
	}
}
