package cdb

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// slot is one record as the hash tables will refer to it.
type slot struct {
	hash uint32
	pos  uint32
}

// Writer builds a cdb file. Records are written as they are added; Close
// appends the hash tables and fills in the header, which is why the
// destination must be seekable. A Writer is not safe for concurrent use.
type Writer struct {
	ws     io.WriteSeeker
	bw     *bufio.Writer
	pos    uint64 // where the next record goes
	limit  uint64 // the largest file size allowed (the format's, lowered by tests)
	slots  []slot
	counts [256]uint32
	err    error // first error; sticky
	hdr    [8]byte
}

// NewWriter starts a cdb file at the beginning of w, which should be empty:
// it reserves room for the header by writing 2048 zero bytes.
func NewWriter(w io.WriteSeeker) (*Writer, error) {
	if _, err := w.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("cdb: seek to start: %w", err)
	}
	cw := &Writer{
		ws:    w,
		bw:    bufio.NewWriterSize(w, 64*1024),
		pos:   headerSize,
		limit: maxFileSize,
	}
	var zero [headerSize]byte
	if _, err := cw.bw.Write(zero[:]); err != nil {
		return nil, fmt.Errorf("cdb: write header: %w", err)
	}
	return cw, nil
}

// Put adds a record. A key may be added more than once; readers find its
// records in the order they were put. After an error every later call fails
// with the same error.
func (w *Writer) Put(key, value []byte) error {
	if w.err != nil {
		return w.err
	}
	if w.ws == nil {
		return ErrClosed
	}
	// Every record adds itself and two table slots (16 bytes) to the file.
	size := 8 + uint64(len(key)) + uint64(len(value))
	if uint64(len(key)) > math.MaxUint32 || uint64(len(value)) > math.MaxUint32 ||
		w.pos+size+16*uint64(len(w.slots)+1) > w.limit {
		w.err = ErrTooLarge
		return w.err
	}
	binary.LittleEndian.PutUint32(w.hdr[0:4], uint32(len(key)))
	binary.LittleEndian.PutUint32(w.hdr[4:8], uint32(len(value)))
	if err := w.write(w.hdr[:]); err != nil {
		return err
	}
	if err := w.write(key); err != nil {
		return err
	}
	if err := w.write(value); err != nil {
		return err
	}
	h := Hash(key)
	w.slots = append(w.slots, slot{hash: h, pos: uint32(w.pos)})
	w.counts[h&255]++
	w.pos += size
	return nil
}

func (w *Writer) write(b []byte) error {
	if _, err := w.bw.Write(b); err != nil {
		w.err = fmt.Errorf("cdb: write: %w", err)
		return w.err
	}
	return nil
}

// Close writes the hash tables and the header, and flushes everything to
// the underlying writer, which it does not close. The file is complete only
// when Close returns nil.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.ws == nil {
		return ErrClosed
	}
	defer func() { w.ws = nil }()

	// Group the slots by table, keeping the order they were added in, so
	// duplicate keys are found in that order.
	var start [256]int
	n := 0
	for i, c := range w.counts {
		start[i] = n
		n += int(c)
	}
	byTable := make([]slot, len(w.slots))
	next := start
	for _, s := range w.slots {
		t := s.hash & 255
		byTable[next[t]] = s
		next[t]++
	}

	var header [headerSize]byte
	var table []slot
	buf := make([]byte, 0, 8*1024)
	for i, c := range w.counts {
		tlen := 2 * c
		binary.LittleEndian.PutUint32(header[8*i:], uint32(w.pos))
		binary.LittleEndian.PutUint32(header[8*i+4:], tlen)
		if tlen == 0 {
			continue
		}
		if uint32(cap(table)) < tlen {
			table = make([]slot, tlen)
		} else {
			table = table[:tlen]
			clear(table)
		}
		for _, s := range byTable[start[i] : start[i]+int(c)] {
			j := (s.hash >> 8) % tlen
			for table[j].pos != 0 {
				j++
				if j == tlen {
					j = 0
				}
			}
			table[j] = s
		}
		for _, s := range table {
			buf = binary.LittleEndian.AppendUint32(buf, s.hash)
			buf = binary.LittleEndian.AppendUint32(buf, s.pos)
			if len(buf) == cap(buf) {
				if err := w.write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
		w.pos += 8 * uint64(tlen)
	}
	if err := w.write(buf); err != nil {
		return err
	}
	if w.pos > w.limit {
		// Put keeps this from happening; be sure all the same.
		w.err = ErrTooLarge
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		w.err = fmt.Errorf("cdb: write: %w", err)
		return w.err
	}
	if _, err := w.ws.Seek(0, io.SeekStart); err != nil {
		w.err = fmt.Errorf("cdb: seek to header: %w", err)
		return w.err
	}
	if _, err := w.ws.Write(header[:]); err != nil {
		w.err = fmt.Errorf("cdb: write header: %w", err)
		return w.err
	}
	return nil
}
