package rules

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// rulesVersion returns a simcontrol whose every entry carries v, padded with
// enough other entries that writing it takes a while.
func rulesVersion(v int) string {
	var b strings.Builder
	fmt.Fprintf(&b, ":spam_hits=%d\n", v)
	for i := range 3000 {
		fmt.Fprintf(&b, "filler%d.test:clam=yes,spamuser=f%d\n", i, v)
	}
	fmt.Fprintf(&b, "d1.test:spamuser=u%d\n", v)
	fmt.Fprintf(&b, "user@d2.test:qmailqueue=/bin/q%d\n", v)
	return b.String()
}

// TestRebuildWhileReading runs lookups the way simscan processes do, each
// opening the file anew, while the rules are rebuilt 100 times. Every open
// must succeed and every lookup must see one whole version of the rules.
func TestRebuildWhileReading(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "simcontrol")
	dst := filepath.Join(dir, "simcontrol.cdb")
	build := func(v int) {
		if err := os.WriteFile(src, []byte(rulesVersion(v)), 0o644); err != nil {
			t.Fatal(err)
		}
		if problems, err := Build(src, dst); err != nil {
			t.Fatalf("Build %d: %v %v", v, err, problems)
		}
	}
	build(0)

	var stop atomic.Bool
	var lookups atomic.Int64
	var mu sync.Mutex
	seen := map[int]bool{}
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 10 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				s, err := Open(dst)
				if err != nil {
					fail("Open: %v", err)
					continue
				}
				p, err := s.Lookup("someone@d1.test", []string{"user@d2.test"})
				s.Close()
				lookups.Add(1)
				if err != nil {
					fail("Lookup: %v", err)
					continue
				}
				v := int(p.SpamHits.Value)
				want := Policy{
					SpamHits:   hits(float64(v), DefaultSource),
					SpamUser:   str("u"+strconv.Itoa(v), "d1.test"),
					QmailQueue: str("/bin/q"+strconv.Itoa(v), "user@d2.test"),
				}
				if !p.SpamHits.Set || p.SpamUser != want.SpamUser || p.QmailQueue != want.QmailQueue {
					fail("lookup mixes versions: %s", dump(&p))
					continue
				}
				mu.Lock()
				seen[v] = true
				mu.Unlock()
			}
		})
	}
	for v := 1; v <= 100; v++ {
		build(v)
	}
	stop.Store(true)
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	t.Logf("%d lookups saw %d of the 101 versions", lookups.Load(), len(seen))
	if lookups.Load() == 0 {
		t.Errorf("no lookup ran during the rebuilds")
	}
	// Only the final file and its rules remain: no temporaries.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("directory holds %d files, want simcontrol and simcontrol.cdb", len(entries))
	}
}
