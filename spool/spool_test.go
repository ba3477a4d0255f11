package spool

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestCreateUnique(t *testing.T) {
	old := unix.Umask(0o027) // as simscan runs
	defer unix.Umask(old)
	base := t.TempDir()
	now := time.Unix(1795000000, 123456000)
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := Create(base, now, 42) // same time and pid: only the random part differs
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if seen[p] {
				t.Errorf("%s created twice", p)
			}
			seen[p] = true
		}()
	}
	wg.Wait()
	if len(seen) != 200 {
		t.Fatalf("%d directories", len(seen))
	}
	for p := range seen {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != 0o750 {
			t.Fatalf("%s: %v %v", p, st.Mode(), err)
		}
		if got, ok := Started(filepath.Base(p)); !ok || !got.Equal(now) {
			t.Fatalf("Started(%s) = %v %v", p, got, ok)
		}
		break
	}
}

func TestRemoveStale(t *testing.T) {
	base := t.TempDir()
	now := time.Now()
	old, _ := Create(base, now.Add(-2*time.Hour), 1)
	os.WriteFile(filepath.Join(old, "msg"), []byte("x"), 0o640)
	fresh, _ := Create(base, now.Add(-time.Minute), 2)
	other := filepath.Join(base, "not-a-workdir")
	os.Mkdir(other, 0o755)
	looksOld := filepath.Join(base, "1.2.3") // three parts: not ours
	os.Mkdir(looksOld, 0o755)

	removed, err := RemoveStale(base, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != old {
		t.Errorf("removed %v, want only %s", removed, old)
	}
	for _, p := range []string{fresh, other, looksOld} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
}

func TestStarted(t *testing.T) {
	for name, ok := range map[string]bool{
		"1795000000.123456.42.deadbeef": true,
		"1795000000.1234567.42.x":       false,
		"a.1.2.x":                       false,
		"1.2.3":                         false,
		"msg":                           false,
		"1.2.pid.x":                     false,
	} {
		if _, got := Started(name); got != ok {
			t.Errorf("Started(%q) ok=%v, want %v", name, got, ok)
		}
	}
}
