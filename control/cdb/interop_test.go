package cdb

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// These tests check the format against tinycdb's cdb(1) and ucspi-tcp's
// tcprules. Both are Debian packages (tinycdb, ucspi-tcp) that the
// project's test setup installs; a missing tool fails the test.

func tool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is needed for this test (Debian package %s): %v", name,
			map[string]string{"cdb": "tinycdb", "tcprules": "ucspi-tcp"}[name], err)
	}
	return path
}

// dumpFormat renders records in the format cdb -d prints and cdb -c reads:
// "+klen,dlen:key->data\n" per record and an empty line at the end.
func dumpFormat(recs []Record) []byte {
	var b bytes.Buffer
	for _, r := range recs {
		fmt.Fprintf(&b, "+%d,%d:%s->%s\n", len(r.Key), len(r.Value), r.Key, r.Value)
	}
	b.WriteString("\n")
	return b.Bytes()
}

// parseDump reads the output of cdb -d.
func parseDump(t *testing.T, out []byte) []Record {
	t.Helper()
	var recs []Record
	for len(out) > 0 {
		if out[0] == '\n' {
			if len(out) != 1 {
				t.Fatalf("dump has %q after its end", out[1:])
			}
			return recs
		}
		comma := bytes.IndexByte(out, ',')
		colon := bytes.IndexByte(out, ':')
		if out[0] != '+' || comma < 0 || colon < comma {
			t.Fatalf("bad dump line at %q", out)
		}
		klen, err1 := strconv.Atoi(string(out[1:comma]))
		dlen, err2 := strconv.Atoi(string(out[comma+1 : colon]))
		if err1 != nil || err2 != nil {
			t.Fatalf("bad dump lengths at %q", out)
		}
		rest := out[colon+1:]
		if len(rest) < klen+2+dlen+1 || string(rest[klen:klen+2]) != "->" || rest[klen+2+dlen] != '\n' {
			t.Fatalf("bad dump record at %q", out)
		}
		recs = append(recs, Record{Key: rest[:klen], Value: rest[klen+2 : klen+2+dlen]})
		out = rest[klen+2+dlen+1:]
	}
	t.Fatalf("dump has no end marker")
	return nil
}

func run(t *testing.T, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// TestTinycdbReadsOurs checks that cdb -d and cdb -q read what Writer wrote.
func TestTinycdbReadsOurs(t *testing.T) {
	cdb := tool(t, "cdb")
	var recs []Record
	recs = append(recs, testRecords...)
	for i := range 3000 {
		recs = append(recs, Record{Key: fmt.Appendf(nil, "k%d", i%2000), Value: fmt.Appendf(nil, "v%d", i)})
	}
	path := writeFile(t, recs)

	if got, want := run(t, nil, cdb, "-d", path), dumpFormat(recs); !bytes.Equal(got, want) {
		t.Errorf("cdb -d differs from what was written:\n%.500s\nwant\n%.500s", got, want)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		if seen[string(r.Key)] {
			continue
		}
		seen[string(r.Key)] = true
		if bytes.IndexByte(r.Key, 0) >= 0 {
			continue // no way to pass a NUL in an argument
		}
		// cdb -q prints every value for the key, one after another.
		want := bytes.Join(valuesFor(recs, r.Key), nil)
		if got := run(t, nil, cdb, "-q", path, string(r.Key)); !bytes.Equal(got, want) {
			t.Errorf("cdb -q %q = %q, want %q", r.Key, got, want)
		}
		if len(seen) > 300 {
			break
		}
	}
	// A missing key: cdb -q exits 100.
	err := exec.Command(cdb, "-q", path, "missing").Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 100 {
		t.Errorf("cdb -q of a missing key: %v, want exit status 100", err)
	}
}

// TestReadTinycdb checks that Reader reads what cdb -c wrote.
func TestReadTinycdb(t *testing.T) {
	cdb := tool(t, "cdb")
	var recs []Record
	recs = append(recs, testRecords...)
	for i := range 3000 {
		recs = append(recs, Record{Key: fmt.Appendf(nil, "key-%d", i%1700), Value: bytes.Repeat([]byte{byte(i)}, i%7)})
	}
	path := filepath.Join(t.TempDir(), "tiny.cdb")
	run(t, dumpFormat(recs), cdb, "-c", path)

	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	checkReader(t, r, recs)
	// And our own dump agrees with tinycdb's.
	if got := parseDump(t, run(t, nil, cdb, "-d", path)); !slices.EqualFunc(got, recs, recordEqual) {
		t.Errorf("cdb -d does not match the records written")
	}
}

// TestReadTcprules reads a tcp.smtp.cdb built by tcprules, the file the
// simscan README uses to switch scanning on per client address.
func TestReadTcprules(t *testing.T) {
	tcprules := tool(t, "tcprules")
	cdb := tool(t, "cdb")
	dir := t.TempDir()
	path := filepath.Join(dir, "tcp.smtp.cdb")
	rules := "127.:allow,RELAYCLIENT=\"\"\n" +
		"192.168.2.:allow,RELAYCLIENT=\"\",QMAILQUEUE=\"/var/qmail/bin/simscan\"\n" +
		"10.1.:deny\n" +
		":allow,QMAILQUEUE=\"/var/qmail/bin/simscan\"\n"
	run(t, []byte(rules), tcprules, path, filepath.Join(dir, "tcp.tmp"))

	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// tcprules stores each setting as "+NAME=value" and a deny as "D", each
	// ended by a NUL; a plain allow is the empty string.
	want := map[string]string{
		"127.":       "+RELAYCLIENT=\x00",
		"192.168.2.": "+RELAYCLIENT=\x00+QMAILQUEUE=/var/qmail/bin/simscan\x00",
		"10.1.":      "D\x00",
		"":           "+QMAILQUEUE=/var/qmail/bin/simscan\x00",
	}
	for k, w := range want {
		v, ok, err := r.Get([]byte(k))
		if err != nil || !ok || string(v) != w {
			t.Errorf("Get(%q) = %q, %v, %v; want %q", k, v, ok, err, w)
		}
	}
	var got []Record
	for rec, err := range r.All() {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rec)
	}
	dumped := parseDump(t, run(t, nil, cdb, "-d", path))
	if !slices.EqualFunc(got, dumped, recordEqual) {
		t.Errorf("All = %q, cdb -d = %q", got, dumped)
	}
	if len(got) != len(want) {
		t.Errorf("tcprules wrote %d records, want %d", len(got), len(want))
	}
}

// TestParseDump checks the helper the interop tests rely on, so they can not
// pass by a fault in it.
func TestParseDump(t *testing.T) {
	recs := parseDump(t, dumpFormat(testRecords))
	if !slices.EqualFunc(recs, testRecords, recordEqual) {
		t.Errorf("parseDump(dumpFormat(x)) = %q", recs)
	}
}
