package cdb

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// benchRecords returns n records shaped like simcontrol entries.
func benchRecords(n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{
			Key:   fmt.Appendf(nil, "user%d@example%d.com", i, i%997),
			Value: []byte("clam=yes,spam=yes,spam_hits=12.5,attach=.exe:.scr:.pif"),
		}
	}
	return recs
}

// BenchmarkGet100k times one lookup, found or not, in a 100,000-record file
// opened once.
func BenchmarkGet100k(b *testing.B) {
	recs := benchRecords(100_000)
	r, err := Open(writeFile(b, recs))
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	keys := make([][]byte, 1024)
	for i := range keys {
		if i%2 == 0 {
			keys[i] = recs[(i*7919)%len(recs)].Key
		} else {
			keys[i] = fmt.Appendf(nil, "nobody%d@example.com", i)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		k := keys[i%len(keys)]
		_, ok, err := r.Get(k)
		if err != nil || ok != (i%2 == 0) {
			b.Fatalf("Get(%q) = %v, %v", k, ok, err)
		}
	}
}

// BenchmarkWrite100k times building a 100,000-record file.
func BenchmarkWrite100k(b *testing.B) {
	recs := benchRecords(100_000)
	path := filepath.Join(b.TempDir(), "bench.cdb")
	b.ReportAllocs()
	for b.Loop() {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		w, err := NewWriter(f)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range recs {
			if err := w.Put(r.Key, r.Value); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// BenchmarkOpen times mapping and checking the header of a 100,000-record
// file, which simscan does once per message.
func BenchmarkOpen(b *testing.B) {
	path := writeFile(b, benchRecords(100_000))
	b.ReportAllocs()
	for b.Loop() {
		r, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}
