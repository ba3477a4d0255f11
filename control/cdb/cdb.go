// Package cdb reads and writes constant databases in D. J. Bernstein's cdb
// format (https://cr.yp.to/cdb/cdb.txt), the format of qmail's and simscan's
// compiled control files such as simcontrol.cdb and tcp.smtp.cdb.
//
// A cdb file is a 2048-byte header of 256 (position, length) pairs, followed
// by the records (key length, data length, key, data) and then 256 hash
// tables of (hash, record position) slots. All numbers are little-endian
// uint32, so a file can not grow beyond 4 GiB. Keys need not be unique: a
// lookup finds the records for a key in the order they were added.
//
// Files written by [Writer] are read by tinycdb's cdb(1) and by djb's cdbget,
// and [Reader] reads the files those tools, qmail's and ucspi-tcp's
// tcprules write. The reader treats its input as untrusted: every position
// and length is checked against the file size, so a truncated or corrupt file
// gives an error wrapping [ErrCorrupt], never a panic.
package cdb

import "errors"

// headerSize is the size of the table of contents at the start of a file:
// 256 pairs of little-endian uint32.
const headerSize = 256 * 8

// maxFileSize is the largest file the format can describe: every position is
// a uint32.
const maxFileSize = 1<<32 - 1

var (
	// ErrCorrupt is wrapped by every error about a malformed file.
	ErrCorrupt = errors.New("cdb: corrupt file")
	// ErrTooLarge is returned by the writer when the file would outgrow the
	// 4 GiB the format can address.
	ErrTooLarge = errors.New("cdb: file would exceed 4 GiB")
	// ErrClosed is returned for operations on a closed Reader or Writer.
	ErrClosed = errors.New("cdb: closed")
)

// hashStart is the initial value of the cdb hash.
const hashStart = 5381

// Hash returns the cdb hash of key: starting from 5381, each byte c updates
// h to ((h << 5) + h) ^ c, in uint32 arithmetic.
func Hash(key []byte) uint32 {
	h := uint32(hashStart)
	for _, c := range key {
		h = ((h << 5) + h) ^ uint32(c)
	}
	return h
}
