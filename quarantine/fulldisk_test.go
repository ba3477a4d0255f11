package quarantine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gosimscan/simscan/control"
	"github.com/gosimscan/simscan/scanner"
)

// mountTmpfs mounts a small tmpfs with the given options and unmounts it at
// cleanup. It needs root, as the tests have in CI.
func mountTmpfs(t *testing.T, opts string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// TestStoreFullDisk stores a message larger than the file system: Store
// must fail with the disk's error and leave nothing behind, and an entry
// stored before must stay whole.
func TestStoreFullDisk(t *testing.T) {
	dir := mountTmpfs(t, "size=1m")
	before := store(t, dir, testMessage("before", 4000), Meta{Class: "spam", From: "before", To: []string{"a@b"}})

	id, err := Store(dir, spoolFile(t, testMessage("big", 2<<20)), Meta{Class: "virus", To: []string{"a@b"}})
	if err == nil {
		t.Fatalf("stored %s on a full disk", id)
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("error %v, want ENOSPC", err)
	}
	if id != "" {
		t.Errorf("id %q returned with an error", id)
	}
	if got := names(t, dir); len(got) != 1 || got[0] != before {
		t.Errorf("quarantine holds %q, want only %s", got, before)
	}
	checkComplete(t, dir)
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if free := st.Bfree * uint64(st.Bsize); free < 1<<19 {
		t.Errorf("only %d bytes free after the failed store: its data was not removed", free)
	}
	// With the space back, storing works again.
	store(t, dir, testMessage("after", 4000), Meta{Class: "spam", From: "after", To: []string{"a@b"}})
	if tags := checkComplete(t, dir); len(tags) != 2 {
		t.Errorf("entries %v, want before and after", tags)
	}
}

// TestStoreFullDiskPartlyFilled fills the disk up to a little less than the
// message needs, so the copy fails part way.
func TestStoreFullDiskPartlyFilled(t *testing.T) {
	dir := mountTmpfs(t, "size=1m")
	if err := os.WriteFile(filepath.Join(dir, "filler"), make([]byte, 1<<20-64<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Store(dir, spoolFile(t, testMessage("m", 100<<10)), Meta{Class: "spam", To: []string{"a@b"}})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("error %v, want ENOSPC", err)
	}
	if got := names(t, dir); len(got) != 1 || got[0] != "filler" {
		t.Errorf("quarantine holds %q, want only the filler", got)
	}
}

// TestStoreNoInodes has room for the message but not for meta.json.
func TestStoreNoInodes(t *testing.T) {
	// Three inodes: the root, the temporary entry and its message.
	dir := mountTmpfs(t, "size=1m,nr_inodes=3")
	_, err := Store(dir, spoolFile(t, testMessage("m", 1000)), Meta{Class: "spam", To: []string{"a@b"}})
	var pe *os.PathError
	if !errors.Is(err, syscall.ENOSPC) || !errors.As(err, &pe) || filepath.Base(pe.Path) != MetaFile {
		t.Fatalf("error %v, want ENOSPC creating meta.json", err)
	}
	if got := names(t, dir); len(got) != 0 {
		t.Errorf("quarantine holds %q, want nothing", got)
	}
}

// TestKeepFullDisk is simscan's quarantine step on a full disk: an error,
// which FailedVerdict turns into a temporary failure, and no entry.
func TestKeepFullDisk(t *testing.T) {
	dir := mountTmpfs(t, "size=1m")
	cfg := control.Defaults()
	cfg.QuarantineDir = dir
	cfg.QuarantineClasses = []string{"virus"}
	m := &scanner.Message{File: spoolFile(t, testMessage("big", 2<<20)), From: "a@example.org", To: []string{"b@example.com"}}
	v := scanner.Decide(scanner.Finding{Kind: scanner.Virus, Name: "Eicar"}, scanner.Rules{})
	id, err := Keep(&cfg, nil, m, v, "v1", time.Now(), t.Logf)
	if err == nil || id != "" {
		t.Fatalf("Keep on a full disk: %q, %v", id, err)
	}
	fv := FailedVerdict(v, err)
	if fv.Action != scanner.TempFail || !strings.Contains(fv.Detail, "no space left on device") {
		t.Errorf("verdict %+v", fv)
	}
	if got := names(t, dir); len(got) != 0 {
		t.Errorf("quarantine holds %q", got)
	}
}
