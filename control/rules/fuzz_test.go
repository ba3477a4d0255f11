package rules

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gosimscan/simscan/control/cdb"
)

// memFile is an in-memory io.WriteSeeker for building cdb files.
type memFile struct {
	buf []byte
	off int64
}

func (m *memFile) Write(p []byte) (int, error) {
	if need := int(m.off) + len(p); need > len(m.buf) {
		m.buf = append(m.buf, make([]byte, need-len(m.buf))...)
	}
	copy(m.buf[m.off:], p)
	m.off += int64(len(p))
	return len(p), nil
}

func (m *memFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case 0:
		m.off = off
	case 1:
		m.off += off
	case 2:
		m.off = int64(len(m.buf)) + off
	}
	return m.off, nil
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"simcontrol", "bad.simcontrol"} {
		b, err := os.ReadFile(filepath.Join(testdataDir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add(":clam=yes,spam=no,spam_hits=1e3,attach=.a:.b,regex=x+:y\n")
	f.Add("a-b-c@d:regex=(?i)\\x3a\n#x\n\n")
	f.Fuzz(func(t *testing.T, text string) {
		entries, problems, err := Parse(strings.NewReader(text), "f")
		if err != nil {
			return
		}
		for _, p := range problems {
			if p.Line < 1 || p.Msg == "" || p.File != "f" {
				t.Fatalf("bad problem %+v", p)
			}
		}
		for _, e := range entries {
			if strings.ContainsAny(e.Key, ": \t#") || e.Key != lowerASCII(e.Key) {
				t.Fatalf("bad key %q", e.Key)
			}
			if e.Key != "" && e.Options != lowerASCII(e.Options) {
				t.Fatalf("options of %q not lower-cased: %q", e.Key, e.Options)
			}
			// A policy reads back from its own rendering.
			var p, again Policy
			apply(&p, "s", e.Options)
			apply(&again, "s", p.String())
			if got, want := again.Settings(), p.Settings(); !reflect.DeepEqual(got, want) {
				t.Fatalf("%q: %q reads back as %+v, want %+v", e.Options, p.String(), got, want)
			}
		}
		if HasErrors(problems) {
			return
		}
		// Without errors the rules compile, and every entry's key finds
		// the first entry with that key.
		var m memFile
		w, err := cdb.NewWriter(&m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Compile(strings.NewReader(text), "f", w); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r, err := cdb.FromBytes(m.buf)
		if err != nil {
			t.Fatal(err)
		}
		first := map[string]string{}
		for _, e := range entries {
			if _, ok := first[e.Key]; !ok {
				first[e.Key] = e.Options
			}
		}
		for k, opts := range first {
			v, ok, err := r.Get([]byte(k))
			if err != nil || !ok || !bytes.Equal(v, []byte(opts)) {
				t.Fatalf("Get(%q) = %q, %v, %v; want %q", k, v, ok, err, opts)
			}
		}
		s := NewSet(r)
		for _, e := range entries {
			if _, err := s.Lookup(e.Key, []string{e.Key, "x-" + e.Key}); err != nil {
				t.Fatal(err)
			}
		}
	})
}
