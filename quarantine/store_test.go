package quarantine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gosimscan/simscan/control"
	"github.com/gosimscan/simscan/scanner"
)

// spoolFile writes data to a file as simscan's work directory holds it and
// returns it open for reading and writing.
func spoolFile(t *testing.T, data []byte) *os.File {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(t.TempDir(), "msg"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	return f
}

func testMessage(tag string, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: sender@example.org\r\nTo: rcpt@example.com\r\nSubject: %s\r\n\r\n", tag)
	for b.Len() < size {
		fmt.Fprintf(&b, "line of %s at %d\r\n", tag, b.Len())
	}
	return b.Bytes()
}

// names lists the names in dir, sorted.
func names(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	sort.Strings(out)
	return out
}

func store(t *testing.T, dir string, data []byte, meta Meta) string {
	t.Helper()
	id, err := Store(dir, spoolFile(t, data), meta)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestStoreEachClass(t *testing.T) {
	old := unix.Umask(0o077) // Store's modes must not depend on the umask
	defer unix.Umask(old)
	dir := filepath.Join(t.TempDir(), "quarantine") // created by Store
	findings := []struct {
		v      scanner.Verdict
		detail string
	}{
		{scanner.Decide(scanner.Finding{Kind: scanner.Virus, Name: "Eicar-Signature"}, scanner.Rules{}), "Eicar-Signature"},
		{scanner.Decide(scanner.Finding{Kind: scanner.Spam, Flagged: true, Score: 12, Required: 5}, scanner.Rules{}), "SPAM REJECT (12.00/5.00/5.00)"},
		{scanner.Decide(scanner.Finding{Kind: scanner.Attachment, Name: "invoice.exe"}, scanner.Rules{}), "invoice.exe"},
		{scanner.Decide(scanner.Finding{Kind: scanner.Regex, Name: "3"}, scanner.Rules{DropMsg: true}), "#3"},
		{scanner.Decide(scanner.Finding{Kind: scanner.Limit, Name: "max_mime_depth"}, scanner.Rules{}), "max_mime_depth"},
	}
	seen := map[string]bool{}
	for i, f := range findings {
		class := f.v.Class
		t.Run(class, func(t *testing.T) {
			cfg := control.Defaults()
			cfg.QuarantineDir = dir
			cfg.QuarantineClasses = control.QuarantineClasses
			if !Wanted(&cfg, nil, f.v) {
				t.Fatalf("verdict %+v not wanted with every class chosen", f.v)
			}
			data := testMessage(class, 3000+i)
			data = append(data, 0, 0xff, '\r', 0x1b) // stored as received, binary or not
			msg := spoolFile(t, data)
			if _, err := msg.Seek(17, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			m := &scanner.Message{From: "sender@example.org", To: []string{"a@example.com", "B@Example.com"}, RemoteIP: "192.0.2.7"}
			when := time.Date(2026, 4, 1, 10, 0, i, 123456789, time.Local)
			id, err := Store(dir, msg, MetaFor(m, f.v, "2.0-test", when))
			if err != nil {
				t.Fatal(err)
			}
			if !ValidID(id) || seen[id] {
				t.Fatalf("id %q invalid or repeated", id)
			}
			seen[id] = true
			if off, _ := msg.Seek(0, io.SeekCurrent); off != 17 {
				t.Errorf("Store moved the message's offset to %d", off)
			}

			p := filepath.Join(dir, id)
			got, err := os.ReadFile(filepath.Join(p, MessageFile))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("stored message differs (%v)", err)
			}
			raw, err := os.ReadFile(filepath.Join(p, MetaFile))
			if err != nil {
				t.Fatal(err)
			}
			var j map[string]any
			if err := json.Unmarshal(raw, &j); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{
				"id": id, "time": when.UTC().Format(time.RFC3339Nano), "class": class, "detail": f.detail,
				"from": "sender@example.org", "to": []any{"a@example.com", "B@Example.com"},
				"remote_ip": "192.0.2.7", "size": float64(len(data)), "version": "2.0-test",
			}
			if fmt.Sprint(j) != fmt.Sprint(want) {
				t.Errorf("meta.json\n got %v\nwant %v", j, want)
			}
			if !strings.HasSuffix(j["time"].(string), "Z") {
				t.Errorf("time %v is not UTC", j["time"])
			}
			meta, err := Get(dir, id)
			if err != nil || meta.ID != id || meta.Class != class || meta.Size != int64(len(data)) {
				t.Errorf("Get: %+v, %v", meta, err)
			}
			for name, perm := range map[string]os.FileMode{p: 0o750 | os.ModeDir, filepath.Join(p, MessageFile): 0o640, filepath.Join(p, MetaFile): 0o640} {
				if fi, err := os.Stat(name); err != nil || fi.Mode() != perm {
					t.Errorf("%s: mode %v (%v), want %v", name, fi.Mode(), err, perm)
				}
			}
		})
	}
	if got := names(t, dir); len(got) != len(findings) {
		t.Errorf("quarantine holds %q, want %d entries and nothing else", got, len(findings))
	}
	all, err := List(dir, Filter{})
	if err != nil || len(all) != len(findings) {
		t.Fatalf("List: %d entries, %v", len(all), err)
	}
	for i := range all {
		if all[i].Class != findings[i].v.Class {
			t.Errorf("List entry %d is %s, want %s (oldest first)", i, all[i].Class, findings[i].v.Class)
		}
	}
}

func TestStoreEmptyMessage(t *testing.T) {
	dir := t.TempDir()
	id := store(t, dir, nil, Meta{Class: "spam", To: []string{"a@b"}})
	m, err := Get(dir, id)
	if err != nil || m.Size != 0 || m.Time.IsZero() {
		t.Fatalf("%+v, %v", m, err)
	}
}

func TestBadIDsNeverReachTheFileSystem(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "q")
	victim := filepath.Join(base, "victim")
	if err := os.MkdirAll(filepath.Join(victim, "inner"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(victim, MetaFile), []byte(`{"class":"virus"}`), 0o640); err != nil {
		t.Fatal(err)
	}
	store(t, dir, []byte("x"), Meta{Class: "spam", To: []string{"a@b"}})
	for _, id := range []string{"../victim", "..", ".", "", "/etc", "a/../../victim", ".tmp-x"} {
		if _, err := Get(dir, id); !errors.Is(err, ErrBadID) {
			t.Errorf("Get(%q): %v, want ErrBadID", id, err)
		}
		if f, err := Open(dir, id); !errors.Is(err, ErrBadID) {
			f.Close()
			t.Errorf("Open(%q): %v, want ErrBadID", id, err)
		}
		if err := Delete(dir, id); !errors.Is(err, ErrBadID) {
			t.Errorf("Delete(%q): %v, want ErrBadID", id, err)
		}
		if _, err := RecordRelease(dir, id, Release{}); !errors.Is(err, ErrBadID) {
			t.Errorf("RecordRelease(%q): %v, want ErrBadID", id, err)
		}
	}
	if _, err := os.Stat(filepath.Join(victim, "inner")); err != nil {
		t.Errorf("directory outside the quarantine was touched: %v", err)
	}
	if len(names(t, dir)) != 1 {
		t.Errorf("quarantine changed: %q", names(t, dir))
	}
}

func TestDelete(t *testing.T) {
	dir := t.TempDir()
	a := store(t, dir, []byte("a"), Meta{Class: "spam", To: []string{"x@y"}})
	b := store(t, dir, []byte("b"), Meta{Class: "spam", To: []string{"x@y"}})
	if err := Delete(dir, a); err != nil {
		t.Fatal(err)
	}
	if got := names(t, dir); len(got) != 1 || got[0] != b {
		t.Errorf("after delete: %q, want only %s", got, b)
	}
	if err := Delete(dir, a); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	if _, err := Get(dir, a); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after delete: %v, want ErrNotFound", err)
	}
	if err := Delete(filepath.Join(dir, "missing"), b); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete in a missing quarantine: %v, want ErrNotFound", err)
	}
}

func TestRecordRelease(t *testing.T) {
	dir := t.TempDir()
	when := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	id := store(t, dir, []byte("msg"), Meta{Time: when, Class: "spam", Detail: "d", From: "f@x", To: []string{"a@x", "b@x"}, Version: "v"})
	if os.Geteuid() == 0 {
		// simscan owns the entry; root releases it.
		if err := os.Chown(filepath.Join(dir, id), 4321, 4322); err != nil {
			t.Fatal(err)
		}
	}
	r1 := Release{Time: time.Date(2026, 4, 2, 9, 0, 0, 0, time.FixedZone("X", 7200)), To: []string{"a@x", "b@x"}, By: "admin"}
	if _, err := RecordRelease(dir, id, r1); err != nil {
		t.Fatal(err)
	}
	r2 := Release{Time: when.Add(48 * time.Hour), To: []string{"c@x"}}
	m, err := RecordRelease(dir, id, r2)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Get(dir, id)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(m) {
		t.Errorf("returned %+v, stored %+v", m, got)
	}
	if len(got.Released) != 2 || !got.Released[0].Time.Equal(r1.Time) || got.Released[0].Time.Location() != time.UTC ||
		got.Released[0].By != "admin" || strings.Join(got.Released[1].To, ",") != "c@x" {
		t.Errorf("released %+v", got.Released)
	}
	if got.Class != "spam" || got.Detail != "d" || got.From != "f@x" || !got.Time.Equal(when) || got.Size != 3 {
		t.Errorf("other fields changed: %+v", got)
	}
	if n := names(t, filepath.Join(dir, id)); strings.Join(n, " ") != "message meta.json" {
		t.Errorf("entry holds %q", n)
	}
	fi, err := os.Stat(filepath.Join(dir, id, MetaFile))
	if err != nil || fi.Mode() != 0o640 {
		t.Fatalf("meta.json mode %v, %v", fi.Mode(), err)
	}
	if st := fi.Sys().(*syscall.Stat_t); os.Geteuid() == 0 && (st.Uid != 4321 || st.Gid != 4322) {
		t.Errorf("meta.json owned by %d:%d, want the entry's 4321:4322", st.Uid, st.Gid)
	}
	if _, err := RecordRelease(dir, "1.2.3.missing", r1); !errors.Is(err, ErrNotFound) {
		t.Errorf("release of a missing entry: %v", err)
	}
}

func TestListFilter(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	metas := []Meta{
		{Time: t0, Class: "virus", From: "evil@bad.example", To: []string{"alice@example.com"}},
		{Time: t0.Add(time.Hour), Class: "spam", From: "", To: []string{"bob@example.com", "Carol@Other.example"}},
		{Time: t0.Add(2 * time.Hour), Class: "spam", From: "news@list.example", To: []string{"alice@example.com"}},
	}
	ids := make([]string, len(metas))
	for i, m := range metas {
		ids[i] = store(t, dir, []byte("m"), m)
	}
	// Hidden and damaged names are not entries.
	os.Mkdir(filepath.Join(dir, ".tmp-1.2.3.4"), 0o750)
	os.Mkdir(filepath.Join(dir, "1.2.3.nometa"), 0o750)
	os.WriteFile(filepath.Join(dir, "stray"), nil, 0o640)
	tests := []struct {
		f    Filter
		want []int
	}{
		{Filter{}, []int{0, 1, 2}},
		{Filter{Class: "spam"}, []int{1, 2}},
		{Filter{Class: "attach"}, nil},
		{Filter{Rcpt: "alice@example.com"}, []int{0, 2}},
		{Filter{Rcpt: "ALICE@EXAMPLE.COM"}, []int{0, 2}},
		{Filter{Rcpt: "carol@other.example"}, []int{1}},
		{Filter{Rcpt: "example.com"}, []int{0, 1, 2}},
		{Filter{Rcpt: "@other.example"}, []int{1}},
		{Filter{Rcpt: "ample.com"}, nil},
		{Filter{From: "<>"}, []int{1}},
		{Filter{From: "bad.example"}, []int{0}},
		{Filter{From: "news@list.example", Rcpt: "alice@example.com"}, []int{2}},
		{Filter{Since: t0.Add(time.Hour)}, []int{1, 2}},
		{Filter{Since: t0.Add(time.Hour), Class: "virus"}, nil},
	}
	for _, tt := range tests {
		got, err := List(dir, tt.f)
		if err != nil {
			t.Fatal(err)
		}
		var gotIDs, wantIDs []string
		for _, m := range got {
			gotIDs = append(gotIDs, m.ID)
		}
		for _, i := range tt.want {
			wantIDs = append(wantIDs, ids[i])
		}
		if strings.Join(gotIDs, " ") != strings.Join(wantIDs, " ") {
			t.Errorf("%+v: got %q, want %q", tt.f, gotIDs, wantIDs)
		}
	}
	if got, err := List(filepath.Join(dir, "missing"), Filter{}); err != nil || got == nil || len(got) != 0 {
		t.Errorf("missing quarantine: %v, %v; want an empty list", got, err)
	}
}

// entrySize is what an entry counts toward the size cap.
func entrySize(t *testing.T, dir, id string) int64 {
	t.Helper()
	var n int64
	for _, f := range []string{MessageFile, MetaFile} {
		fi, err := os.Stat(filepath.Join(dir, id, f))
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

func TestTrimRemovesOldestOnly(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	// Stored out of time order: age comes from the entry time, not from
	// the order of writing or the id.
	order := []int{3, 0, 4, 1, 2}
	ids := make([]string, 5)
	for _, i := range order {
		ids[i] = store(t, dir, testMessage(strconv.Itoa(i), 2000+100*i), Meta{Time: t0.Add(time.Duration(i) * time.Minute), Class: "spam", To: []string{"a@b"}})
	}
	// Neither an entry being written nor a damaged one counts or goes.
	tmp := filepath.Join(dir, ".tmp-9.9.9.9")
	if err := os.Mkdir(tmp, 0o750); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(tmp, MessageFile), make([]byte, 50000), 0o640)
	os.Mkdir(filepath.Join(dir, "8.8.8.8"), 0o750)
	os.WriteFile(filepath.Join(dir, "8.8.8.8", MessageFile), make([]byte, 50000), 0o640)

	var total int64
	for _, id := range ids {
		total += entrySize(t, dir, id)
	}
	// Room for all but the two oldest, with one byte to spare: removing
	// the oldest alone is not enough, removing a third is too many.
	limit := total - entrySize(t, dir, ids[0]) - entrySize(t, dir, ids[1]) + 1
	removed, err := Trim(dir, limit, ids[4])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(removed, " ") != ids[0]+" "+ids[1] {
		t.Errorf("removed %q, want the two oldest %q", removed, ids[:2])
	}
	want := []string{".tmp-9.9.9.9", "8.8.8.8", ids[2], ids[3], ids[4]}
	sort.Strings(want)
	if got := names(t, dir); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("left %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(tmp, MessageFile)); err != nil {
		t.Errorf("entry being written was touched: %v", err)
	}

	// Under the cap nothing goes.
	if removed, err := Trim(dir, total, ids[4]); err != nil || len(removed) != 0 {
		t.Errorf("under the cap removed %q, %v", removed, err)
	}
	// No cap, nothing goes.
	if removed, err := Trim(dir, 0, ""); err != nil || len(removed) != 0 {
		t.Errorf("no cap removed %q, %v", removed, err)
	}
}

func TestTrimKeepsTheNewEntry(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	a := store(t, dir, testMessage("a", 1000), Meta{Time: t0.Add(time.Minute), Class: "spam", To: []string{"a@b"}})
	b := store(t, dir, testMessage("b", 1000), Meta{Time: t0.Add(2 * time.Minute), Class: "spam", To: []string{"a@b"}})
	// The new entry carries the oldest time (a clock set back) and is
	// larger than the whole cap: the others go, it stays.
	c := store(t, dir, testMessage("c", 5000), Meta{Time: t0, Class: "spam", To: []string{"a@b"}})
	removed, err := Trim(dir, 3000, c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(removed, " ") != a+" "+b {
		t.Errorf("removed %q, want %q", removed, []string{a, b})
	}
	if got := names(t, dir); len(got) != 1 || got[0] != c {
		t.Errorf("left %q, want only the new entry %s", got, c)
	}
}

func TestPurge(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	var ids []string
	for _, age := range []time.Duration{3 * time.Hour, 2 * time.Hour, time.Hour} {
		ids = append(ids, store(t, dir, []byte("m"), Meta{Time: now.Add(-age), Class: "spam", To: []string{"a@b"}}))
	}
	stale, fresh := filepath.Join(dir, ".tmp-stale"), filepath.Join(dir, ".tmp-fresh")
	staleDel := filepath.Join(dir, ".del-stale")
	for _, d := range []string{stale, fresh, staleDel} {
		if err := os.Mkdir(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{stale, staleDel} {
		if err := os.Chtimes(d, now.Add(-5*time.Hour), now.Add(-5*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := Purge(dir, now.Add(-90*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(removed, " ") != ids[0]+" "+ids[1] {
		t.Errorf("purged %q, want %q", removed, ids[:2])
	}
	want := []string{".tmp-fresh", ids[2]}
	if got := names(t, dir); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("left %q, want %q", got, want)
	}
	if removed, err := Purge(filepath.Join(dir, "missing"), now); err != nil || len(removed) != 0 {
		t.Errorf("purge of a missing quarantine: %q, %v", removed, err)
	}
}

// checkComplete verifies that every entry of dir is complete and matches
// its tag, and returns the tags found.
func checkComplete(t *testing.T, dir string) map[string]bool {
	t.Helper()
	tags := map[string]bool{}
	for _, name := range names(t, dir) {
		if !ValidID(name) {
			t.Errorf("left-over name %q", name)
			continue
		}
		m, err := Get(dir, name)
		if err != nil {
			t.Errorf("entry %s: %v", name, err)
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, name, MessageFile))
		if err != nil {
			t.Errorf("entry %s: %v", name, err)
			continue
		}
		tag := m.From
		if !bytes.Equal(data, testMessage(tag, 4000)) || m.Size != int64(len(data)) {
			t.Errorf("entry %s: message does not match its metadata (%s)", name, tag)
		}
		if tags[tag] {
			t.Errorf("message %s stored twice", tag)
		}
		tags[tag] = true
	}
	return tags
}

func TestStoreParallel(t *testing.T) {
	dir := t.TempDir()
	// The same time for all: only the random part tells the ids apart.
	when := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			tag := fmt.Sprintf("g%d@example.org", i)
			f := spoolFile(t, testMessage(tag, 4000))
			if _, err := Store(dir, f, Meta{Time: when, Class: "spam", From: tag, To: []string{"a@b"}}); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if tags := checkComplete(t, dir); len(tags) != 100 {
		t.Errorf("%d distinct entries, want 100", len(tags))
	}
}

// TestStoreParallelProcesses stores 100 messages from 4 processes at once,
// 25 concurrent stores each.
func TestStoreParallelProcesses(t *testing.T) {
	if dir := os.Getenv("QUARANTINE_TEST_STORE_DIR"); dir != "" {
		storeHelper(t, dir, os.Getenv("QUARANTINE_TEST_STORE_PREFIX"))
		return
	}
	dir := t.TempDir()
	var cmds []*exec.Cmd
	for p := 0; p < 4; p++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestStoreParallelProcesses$", "-test.count=1")
		cmd.Env = append(os.Environ(), "QUARANTINE_TEST_STORE_DIR="+dir, fmt.Sprintf("QUARANTINE_TEST_STORE_PREFIX=p%d", p))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Log(out.String())
			}
		})
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper process: %v", err)
		}
	}
	if tags := checkComplete(t, dir); len(tags) != 100 {
		t.Errorf("%d distinct entries, want 100", len(tags))
	}
}

func storeHelper(t *testing.T, dir, prefix string) {
	when := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for i := 0; i < 25; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			tag := fmt.Sprintf("%s-%d@example.org", prefix, i)
			if _, err := Store(dir, spoolFile(t, testMessage(tag, 4000)), Meta{Time: when, Class: "virus", From: tag, To: []string{"a@b"}}); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
}
