package cdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// testRecords has duplicate keys, an empty key, an empty value and bytes
// that a text format would mangle.
var testRecords = []Record{
	{Key: []byte("one"), Value: []byte("Hello")},
	{Key: []byte("two"), Value: []byte("Goodbye")},
	{Key: []byte("one"), Value: []byte("again")},
	{Key: []byte(""), Value: []byte("the empty key")},
	{Key: []byte("empty"), Value: []byte("")},
	{Key: []byte("bin\x00\n\xff"), Value: []byte("\x00\r\n->:+")},
	{Key: []byte("one"), Value: []byte("third")},
}

// writeFile writes recs to a new cdb file in a temporary directory.
func writeFile(t testing.TB, recs []Record) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.cdb")
	err := WriteFileAtomic(path, 0o644, func(w *Writer) error {
		for _, r := range recs {
			if err := w.Put(r.Key, r.Value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("WriteFileAtomic: %v", err)
	}
	return path
}

func valuesFor(recs []Record, key []byte) [][]byte {
	var vs [][]byte
	for _, r := range recs {
		if bytes.Equal(r.Key, key) {
			vs = append(vs, r.Value)
		}
	}
	return vs
}

// checkReader asserts that r holds exactly recs, in order.
func checkReader(t *testing.T, r *Reader, recs []Record) {
	t.Helper()
	var got []Record
	for rec, err := range r.All() {
		if err != nil {
			t.Fatalf("All: %v", err)
		}
		got = append(got, Record{Key: bytes.Clone(rec.Key), Value: bytes.Clone(rec.Value)})
	}
	if !slices.EqualFunc(got, recs, recordEqual) {
		t.Errorf("All yielded %q, want %q", got, recs)
	}
	for _, rec := range recs {
		want := valuesFor(recs, rec.Key)
		v, ok, err := r.Get(rec.Key)
		if err != nil || !ok || !bytes.Equal(v, want[0]) {
			t.Errorf("Get(%q) = %q, %v, %v; want %q, true, nil", rec.Key, v, ok, err, want[0])
		}
		all, err := r.GetAll(rec.Key)
		if err != nil || !slices.EqualFunc(all, want, bytes.Equal) {
			t.Errorf("GetAll(%q) = %q, %v; want %q", rec.Key, all, err, want)
		}
	}
	for _, k := range []string{"three", "on", "onee", "ONE", "bin"} {
		v, ok, err := r.Get([]byte(k))
		if ok || err != nil || v != nil {
			t.Errorf("Get(%q) = %q, %v, %v; want nil, false, nil", k, v, ok, err)
		}
		all, err := r.GetAll([]byte(k))
		if len(all) != 0 || err != nil {
			t.Errorf("GetAll(%q) = %q, %v; want nothing", k, all, err)
		}
	}
}

func recordEqual(a, b Record) bool {
	return bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Value, b.Value)
}

func TestHash(t *testing.T) {
	// Worked by hand from h = ((h << 5) + h) ^ c starting at 5381.
	tests := []struct {
		in   string
		want uint32
	}{
		{"", 5381},
		{"a", (5381*33 ^ 'a')},
		{"ab", ((5381*33^'a')*33 ^ 'b')},
		{"\xff", 5381*33 ^ 0xff},
	}
	for _, tt := range tests {
		if got := Hash([]byte(tt.in)); got != tt.want {
			t.Errorf("Hash(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
	// The multiplication wraps in uint32.
	long := bytes.Repeat([]byte("x"), 100)
	h := uint32(5381)
	for _, c := range long {
		h = h*33 ^ uint32(c)
	}
	if got := Hash(long); got != h {
		t.Errorf("Hash(100 x) = %d, want %d", got, h)
	}
}

func TestRoundTrip(t *testing.T) {
	path := writeFile(t, testRecords)
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !r.mapped {
		t.Errorf("Open did not map a regular file")
	}
	checkReader(t, r, testRecords)

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if r.Size() != len(data) {
		t.Errorf("Size() = %d, want %d", r.Size(), len(data))
	}
	br, err := FromBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	checkReader(t, br, testRecords)
}

func TestEmptyFile(t *testing.T) {
	path := writeFile(t, nil)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != headerSize {
		t.Errorf("empty database is %d bytes, want %d", len(data), headerSize)
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	checkReader(t, r, nil)
}

func TestManyRecords(t *testing.T) {
	// Enough records to fill every table with collisions and wrap-around.
	var recs []Record
	for i := range 5000 {
		recs = append(recs, Record{Key: fmt.Appendf(nil, "key%d", i%3000), Value: fmt.Appendf(nil, "value %d", i)})
	}
	r, err := Open(writeFile(t, recs))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	checkReader(t, r, recs)
}

func TestOpenMissing(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "nope.cdb"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open of a missing file: %v, want fs.ErrNotExist", err)
	}
}

// TestOpenFIFO covers the fallback for files that can not be mapped.
func TestOpenFIFO(t *testing.T) {
	data, err := os.ReadFile(writeFile(t, testRecords))
	if err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			done <- err
			return
		}
		_, err = f.Write(data)
		f.Close()
		done <- err
	}()
	r, err := Open(fifo)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r.mapped {
		t.Errorf("a FIFO was mapped")
	}
	checkReader(t, r, testRecords)
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestClosed(t *testing.T) {
	r, err := Open(writeFile(t, testRecords))
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := r.Get([]byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// Get copies, so the value outlives the mapping.
	if string(v) != "Hello" {
		t.Errorf("value after Close = %q", v)
	}
	if _, _, err := r.Get([]byte("one")); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v, want ErrClosed", err)
	}
	if _, err := r.GetAll([]byte("one")); !errors.Is(err, ErrClosed) {
		t.Errorf("GetAll after Close: %v, want ErrClosed", err)
	}
	for _, err := range r.All() {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("All after Close: %v, want ErrClosed", err)
		}
	}
	if err := r.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
}

// memFile is an in-memory io.WriteSeeker.
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

// build writes recs into memory.
func build(t testing.TB, recs []Record) []byte {
	t.Helper()
	var m memFile
	w, err := NewWriter(&m)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Put(r.Key, r.Value); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return m.buf
}

func TestWriterTooLarge(t *testing.T) {
	var m memFile
	w, err := NewWriter(&m)
	if err != nil {
		t.Fatal(err)
	}
	// The real limit is 4 GiB; the arithmetic is the same for a small one.
	// A record of 8+10+90 bytes plus its 16 bytes of slots is 124 bytes.
	w.limit = headerSize + 2*124
	rec := bytes.Repeat([]byte("v"), 90)
	for i := range 2 {
		if err := w.Put(fmt.Appendf(nil, "key-%05d", i), rec); err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
	}
	if err := w.Put([]byte("key-00002"), rec); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Put past the limit: %v, want ErrTooLarge", err)
	}
	if err := w.Put([]byte("k"), nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Put after the error: %v, want ErrTooLarge", err)
	}
	if err := w.Close(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Close after the error: %v, want ErrTooLarge", err)
	}
}

func TestWriterUseAfterClose(t *testing.T) {
	var m memFile
	w, err := NewWriter(&m)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Put([]byte("k"), nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close: %v, want ErrClosed", err)
	}
	if err := w.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.cdb")
	put := func(v string) func(*Writer) error {
		return func(w *Writer) error { return w.Put([]byte("k"), []byte(v)) }
	}
	if err := WriteFileAtomic(path, 0o640, put("old")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", fi.Mode().Perm())
	}

	// A reader that has the old file open keeps it across a rebuild.
	old, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := WriteFileAtomic(path, 0o644, put("new")); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := old.Get([]byte("k")); string(v) != "old" {
		t.Errorf("open reader sees %q after the rename, want old", v)
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if v, _, _ := r.Get([]byte("k")); string(v) != "new" {
		t.Errorf("new reader sees %q, want new", v)
	}
	r.Close()

	// A failing fill leaves the file as it was and no temporary behind.
	boom := errors.New("boom")
	err = WriteFileAtomic(path, 0o644, func(w *Writer) error {
		w.Put([]byte("k"), []byte("half"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("WriteFileAtomic = %v, want boom", err)
	}
	r, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if v, _, _ := r.Get([]byte("k")); string(v) != "new" {
		t.Errorf("after a failed build the file holds %q, want new", v)
	}
	r.Close()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %q, want only x.cdb", names)
	}

	// A directory that does not exist is an error, not a panic.
	if err := WriteFileAtomic(filepath.Join(dir, "no", "x.cdb"), 0o644, put("x")); err == nil {
		t.Errorf("WriteFileAtomic into a missing directory succeeded")
	}
}

// exercise runs every read operation on data and checks that failures are
// reported as corruption. It must never panic.
func exercise(t testing.TB, data []byte, keys [][]byte) {
	r, err := FromBytes(data)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("FromBytes: %v, want ErrCorrupt", err)
		}
		return
	}
	for _, k := range keys {
		v, ok, err := r.Get(k)
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Get(%q): %v, want ErrCorrupt", k, err)
		}
		if !ok && v != nil {
			t.Fatalf("Get(%q) returned %q with ok false", k, v)
		}
		if _, err := r.GetAll(k); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("GetAll(%q): %v, want ErrCorrupt", k, err)
		}
	}
	n := 0
	for rec, err := range r.All() {
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("All: %v, want ErrCorrupt", err)
			}
			break
		}
		n += len(rec.Key) + len(rec.Value) + 8
		if n > 100*8 {
			// A lookup may probe a whole table, so looking up every
			// record of a big crafted file would take quadratic time.
			continue
		}
		if _, _, err := r.Get(rec.Key); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Get(%q): %v, want ErrCorrupt", rec.Key, err)
		}
	}
	if n > len(data) {
		t.Fatalf("All yielded %d bytes of records from a %d-byte file", n, len(data))
	}
}

func testKeys() [][]byte {
	keys := [][]byte{[]byte("missing"), []byte("ONE")}
	for _, r := range testRecords {
		keys = append(keys, r.Key)
	}
	return keys
}

func TestTruncated(t *testing.T) {
	data := build(t, testRecords)
	keys := testKeys()
	for n := range len(data) {
		exercise(t, data[:n:n], keys)
		if n < len(data) {
			// Every truncation cuts into the hash tables at the end of the
			// file, which the header then describes as out of range.
			if _, err := FromBytes(data[:n:n]); !errors.Is(err, ErrCorrupt) {
				t.Errorf("FromBytes of %d of %d bytes: %v, want ErrCorrupt", n, len(data), err)
			}
		}
	}
}

func TestBitFlips(t *testing.T) {
	orig := build(t, testRecords)
	keys := testKeys()
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, len(orig))
	for range 20000 {
		copy(data, orig)
		for range 1 + rng.IntN(4) {
			i := rng.IntN(len(data))
			data[i] ^= 1 << rng.IntN(8)
		}
		exercise(t, data, keys)
	}
	// Every single bit of the records and tables, one at a time.
	for i := headerSize; i < len(orig); i++ {
		for b := range 8 {
			copy(data, orig)
			data[i] ^= 1 << b
			exercise(t, data, keys)
		}
	}
}

// TestCorruptTables builds files whose tables lie or never end.
func TestCorruptTables(t *testing.T) {
	orig := build(t, testRecords)
	h := Hash([]byte("one"))
	t0 := int(h&255) * 8
	tpos := le32(orig, t0)
	tlen := le32(orig, t0+4)

	put := func(b []byte, off int, v uint32) {
		b[off] = byte(v)
		b[off+1] = byte(v >> 8)
		b[off+2] = byte(v >> 16)
		b[off+3] = byte(v >> 24)
	}
	// A table with no empty slot, every slot a hash match pointing at a
	// record with another key: the probe must stop after one round.
	full := bytes.Clone(orig)
	for s := range tlen {
		put(full, int(tpos+8*s), h)
		put(full, int(tpos+8*s+4), headerSize+8+3+5) // the "two" record
	}
	r, err := FromBytes(full)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok, err := r.Get([]byte("one")); ok || err != nil {
		t.Errorf("Get in a full table = %q, %v, %v; want not found", v, ok, err)
	}
	// A slot that points past the end of the file.
	far := bytes.Clone(orig)
	for s := range tlen {
		put(far, int(tpos+8*s), h)
		put(far, int(tpos+8*s+4), uint32(len(orig)-4))
	}
	r, err = FromBytes(far)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Get([]byte("one")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Get through a slot past the end: %v, want ErrCorrupt", err)
	}
	// A header whose table runs past the end of the file.
	long := bytes.Clone(orig)
	put(long, t0+4, 1<<30)
	if _, err := FromBytes(long); !errors.Is(err, ErrCorrupt) {
		t.Errorf("FromBytes with an oversized table: %v, want ErrCorrupt", err)
	}
	// A record whose lengths run past the records.
	rec := bytes.Clone(orig)
	put(rec, headerSize+4, 1<<31)
	r, err = FromBytes(rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Get([]byte("one")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Get of an overlong record: %v, want ErrCorrupt", err)
	}
	var iterErr error
	for _, err := range r.All() {
		iterErr = err
	}
	if !errors.Is(iterErr, ErrCorrupt) {
		t.Errorf("All over an overlong record: %v, want ErrCorrupt", iterErr)
	}
}

// expand turns a fuzz input into a cdb file. A fuzzer that must carry a
// 2048-byte header around mutates and minimizes slowly, so the header comes
// in compact form: a count n, then n entries of a table number (one byte)
// and its position and length (little-endian uint32); the rest of the input
// follows the header. A table not listed is empty and sits where the next
// table does (at the end of the file after the last), as writers place
// them. Every file can be written this way.
func expand(in []byte) []byte {
	var listed [256]bool
	file := make([]byte, headerSize, headerSize+len(in))
	if len(in) > 0 {
		n := int(in[0])
		in = in[1:]
		for ; n > 0 && len(in) >= 9; n-- {
			copy(file[8*int(in[0]):], in[1:9])
			listed[in[0]] = true
			in = in[9:]
		}
	}
	file = append(file, in...)
	next := uint32(len(file))
	for i := 255; i >= 0; i-- {
		if !listed[i] {
			binary.LittleEndian.PutUint32(file[8*i:], next)
		}
		next = binary.LittleEndian.Uint32(file[8*i:])
	}
	return file
}

// compact is the inverse of expand, for seeds.
func compact(file []byte) []byte {
	var entries []byte
	n := 0
	next := uint32(len(file))
	for i := 255; i >= 0; i-- {
		pos := binary.LittleEndian.Uint32(file[8*i:])
		tlen := binary.LittleEndian.Uint32(file[8*i+4:])
		if tlen != 0 || pos != next {
			entries = append(append(entries, byte(i)), file[8*i:8*i+8]...)
			n++
		}
		next = pos
	}
	if n > 255 {
		panic("compact: more than 255 header entries")
	}
	return append(append([]byte{byte(n)}, entries...), file[headerSize:]...)
}

func TestExpand(t *testing.T) {
	for _, recs := range [][]Record{testRecords, nil, {{Key: []byte("a")}}} {
		file := build(t, recs)
		c := compact(file)
		if got := expand(c); !bytes.Equal(got, file) {
			t.Errorf("expand(compact(file)) differs for %q", recs)
		}
		if len(c) >= len(file)-headerSize/2 {
			t.Errorf("compact form of %d bytes for a %d-byte file", len(c), len(file))
		}
	}
}

func FuzzReader(f *testing.F) {
	f.Add(compact(build(f, testRecords)))
	f.Add(compact(build(f, nil)))
	f.Add(compact(build(f, []Record{{Key: []byte("a"), Value: []byte("b")}})))
	f.Add([]byte{})
	f.Add([]byte("short"))
	keys := testKeys()
	f.Fuzz(func(t *testing.T, in []byte) {
		// The input as it is: mostly too short, but any bytes must do.
		exercise(t, in, keys)
		data := expand(in)
		exercise(t, data, keys)
		// Whatever All yields from an intact prefix, a rebuilt file holds
		// the same records and finds each of them.
		r, err := FromBytes(data)
		if err != nil {
			return
		}
		var recs []Record
		for rec, err := range r.All() {
			if err != nil {
				return
			}
			recs = append(recs, Record{Key: bytes.Clone(rec.Key), Value: bytes.Clone(rec.Value)})
		}
		again, err := FromBytes(build(t, recs))
		if err != nil {
			t.Fatal(err)
		}
		first := map[string][]byte{}
		for _, rec := range recs {
			if _, ok := first[string(rec.Key)]; !ok {
				first[string(rec.Key)] = rec.Value
			}
		}
		for k, want := range first {
			v, ok, err := again.Get([]byte(k))
			if err != nil || !ok || !bytes.Equal(v, want) {
				t.Fatalf("rebuilt Get(%q) = %q, %v, %v; want %q", k, v, ok, err, want)
			}
		}
	})
}
