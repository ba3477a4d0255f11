package cdb

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"iter"
	"os"

	"golang.org/x/sys/unix"
)

// Reader looks up keys in a cdb file held in memory, either mapped from a
// file by Open or handed over by FromBytes. A Reader is safe for concurrent
// use until Close.
type Reader struct {
	data    []byte
	mapped  bool   // data is an mmap and must be unmapped by Close
	dataEnd uint32 // where the records end and the hash tables begin
}

// Record is one key and its value, as yielded by [Reader.All].
type Record struct {
	Key, Value []byte
}

// Open maps the cdb file at path into memory read-only; if the file can not
// be mapped it is read instead. The header is checked at once; records are
// checked as lookups reach them. An absent file gives an error wrapping
// fs.ErrNotExist.
//
// A mapped file must not be truncated or rewritten in place while it is
// open: replace it by renaming a new file over it, as [WriteFileAtomic]
// does, and readers that opened the old file go on reading it.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	if fi.Mode().IsRegular() {
		if size < headerSize {
			return nil, fmt.Errorf("%s: %w: %d bytes is shorter than the header", path, ErrCorrupt, size)
		}
		if size > maxFileSize {
			return nil, fmt.Errorf("%s: %w: %d bytes is more than the format can address", path, ErrCorrupt, size)
		}
		if data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED); err == nil {
			r, err := newReader(data)
			if err != nil {
				unix.Munmap(data)
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			r.mapped = true
			return r, nil
		}
	}
	// Not mappable (a pipe, or a file system without mmap): read it all.
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r, err := newReader(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// FromBytes returns a Reader for a cdb file held in b, which the Reader
// uses without copying: b must not change while the Reader is in use.
func FromBytes(b []byte) (*Reader, error) {
	return newReader(b)
}

func newReader(data []byte) (*Reader, error) {
	size := uint64(len(data))
	if size < headerSize {
		return nil, fmt.Errorf("%w: %d bytes is shorter than the header", ErrCorrupt, size)
	}
	if size > maxFileSize {
		return nil, fmt.Errorf("%w: %d bytes is more than the format can address", ErrCorrupt, size)
	}
	end := size
	for i := range 256 {
		pos := uint64(le32(data, 8*i))
		n := uint64(le32(data, 8*i+4))
		if n > 0 && (pos < headerSize || pos+8*n > size) {
			return nil, fmt.Errorf("%w: hash table %d (%d slots at %d) lies outside the file", ErrCorrupt, i, n, pos)
		}
		// Writers put the tables after the records, so the first table
		// marks the end of the records. Empty tables may carry any
		// position; only a plausible one counts.
		if pos >= headerSize && pos < end {
			end = pos
		}
	}
	return &Reader{data: data, dataEnd: uint32(end)}, nil
}

// Close releases the file's memory. Values returned by Get and GetAll stay
// valid; those yielded by All do not.
func (r *Reader) Close() error {
	data := r.data
	r.data = nil
	if data == nil {
		return ErrClosed
	}
	if r.mapped {
		return unix.Munmap(data)
	}
	return nil
}

// Size returns the size of the file in bytes.
func (r *Reader) Size() int {
	return len(r.data)
}

// Get returns a copy of the value of the first record for key. A key that
// is not there gives ok false and a nil error.
func (r *Reader) Get(key []byte) (value []byte, ok bool, err error) {
	var s search
	pos, n, ok, err := r.next(key, &s)
	if !ok || err != nil {
		return nil, false, err
	}
	return bytes.Clone(r.data[pos : pos+n]), true, nil
}

// GetAll returns copies of the values of all records for key, in the order
// they were written.
func (r *Reader) GetAll(key []byte) ([][]byte, error) {
	var values [][]byte
	var s search
	for {
		pos, n, ok, err := r.next(key, &s)
		if err != nil {
			return nil, err
		}
		if !ok {
			return values, nil
		}
		values = append(values, bytes.Clone(r.data[pos:pos+n]))
	}
}

// search is the state of a lookup that may go on to find duplicate keys.
type search struct {
	started     bool
	hash        uint32
	tpos, tlen  uint32 // the hash table
	first, done uint32 // the first slot probed, the slots probed so far
}

// next returns the position and length of the value of the next record for
// key. The probe is bounded by the table size, so a corrupt table with no
// empty slot can not make it loop.
func (r *Reader) next(key []byte, s *search) (pos, n uint32, ok bool, err error) {
	d := r.data
	if len(d) < headerSize {
		return 0, 0, false, ErrClosed
	}
	if !s.started {
		s.started = true
		s.hash = Hash(key)
		t := int(s.hash&255) * 8
		s.tpos = le32(d, t)
		s.tlen = le32(d, t+4)
		if s.tlen != 0 {
			s.first = (s.hash >> 8) % s.tlen
		}
	}
	size := uint64(len(d))
	for s.done < s.tlen {
		slot := uint64(s.first) + uint64(s.done)
		if slot >= uint64(s.tlen) {
			slot -= uint64(s.tlen)
		}
		s.done++
		// newReader checked that the whole table lies inside the file.
		off := int(uint64(s.tpos) + 8*slot)
		h := le32(d, off)
		rpos := le32(d, off+4)
		if rpos == 0 {
			s.done = s.tlen
			break
		}
		if h != s.hash {
			continue
		}
		if rpos < headerSize || uint64(rpos)+8 > size {
			return 0, 0, false, fmt.Errorf("%w: hash table slot points to %d, outside the records", ErrCorrupt, rpos)
		}
		klen := le32(d, int(rpos))
		dlen := le32(d, int(rpos)+4)
		kpos := uint64(rpos) + 8
		if kpos+uint64(klen)+uint64(dlen) > size {
			return 0, 0, false, fmt.Errorf("%w: record at %d runs past the end of the file", ErrCorrupt, rpos)
		}
		if int(klen) != len(key) || !bytes.Equal(d[kpos:kpos+uint64(klen)], key) {
			continue
		}
		return uint32(kpos) + klen, dlen, true, nil
	}
	return 0, 0, false, nil
}

// All yields every record in file order, which is the order they were
// written in. The slices point into the Reader's memory: they are valid
// until Close and must not be modified. A malformed record ends the
// iteration with an error wrapping ErrCorrupt.
func (r *Reader) All() iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		d := r.data
		if len(d) < headerSize {
			yield(Record{}, ErrClosed)
			return
		}
		end := uint64(r.dataEnd)
		for pos := uint64(headerSize); pos < end; {
			if pos+8 > end {
				yield(Record{}, fmt.Errorf("%w: record header at %d runs past the end of the records", ErrCorrupt, pos))
				return
			}
			klen := uint64(le32(d, int(pos)))
			dlen := uint64(le32(d, int(pos)+4))
			kpos := pos + 8
			next := kpos + klen + dlen
			if next > end {
				yield(Record{}, fmt.Errorf("%w: record at %d runs past the end of the records", ErrCorrupt, pos))
				return
			}
			rec := Record{
				Key:   d[kpos : kpos+klen : kpos+klen],
				Value: d[kpos+klen : next : next],
			}
			if !yield(rec, nil) {
				return
			}
			pos = next
		}
	}
}

func le32(b []byte, off int) uint32 {
	return binary.LittleEndian.Uint32(b[off : off+4])
}
