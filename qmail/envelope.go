package qmail

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// MaxAddress is the longest envelope address accepted, in bytes. Longer
// addresses get AddressTooLong, as from qmail-queue.
const MaxAddress = 1000

// Envelope is the sender and recipients read from qmail-queue's fd 1.
// Addresses are kept exactly as they came; Lower gives the forms used for
// rule lookups.
type Envelope struct {
	From string
	To   []string
}

// EnvelopeError is a malformed or unreadable envelope, with the exit code
// qmail-queue would give for it.
type EnvelopeError struct {
	Code   ExitCode
	Reason string
	Err    error // underlying read error, if any
}

func (e *EnvelopeError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("envelope: %s: %v", e.Reason, e.Err)
	}
	return "envelope: " + e.Reason
}

func (e *EnvelopeError) Unwrap() error { return e.Err }

// ReadEnvelope reads one envelope in qmail-queue's format from r: an F
// record with the sender, one or more T records with recipients, and an
// empty record, each record ended by a NUL byte. Every byte it consumes up to
// and including the final NUL is copied to raw, so the next program receives
// the envelope byte for byte. Nothing after the final NUL is read from r
// beyond what its buffer holds.
//
// Errors are *EnvelopeError: BadEnvelope for a missing or repeated F record,
// no T record or an unknown record type; ReadError for end of input before
// the empty record or a failed read; AddressTooLong for an address over
// MaxAddress bytes. A failed write to raw is returned unwrapped.
func ReadEnvelope(r io.Reader, raw io.Writer) (*Envelope, error) {
	br := bufio.NewReaderSize(r, MaxAddress+64)
	env := &Envelope{}
	sawFrom := false
	for {
		rec, err := br.ReadSlice(0)
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			if rec[0] == 'F' || rec[0] == 'T' {
				return nil, &EnvelopeError{Code: AddressTooLong, Reason: "address longer than 1000 bytes"}
			}
			return nil, &EnvelopeError{Code: BadEnvelope, Reason: fmt.Sprintf("unknown record type %q", rec[0])}
		case errors.Is(err, io.EOF):
			return nil, &EnvelopeError{Code: ReadError, Reason: "end of input before the end of the envelope"}
		case err != nil:
			return nil, &EnvelopeError{Code: ReadError, Reason: "read failed", Err: err}
		}
		if _, err := raw.Write(rec); err != nil {
			return nil, err
		}
		body := rec[:len(rec)-1]
		if len(body) == 0 {
			if !sawFrom {
				return nil, &EnvelopeError{Code: BadEnvelope, Reason: "no sender record"}
			}
			if len(env.To) == 0 {
				return nil, &EnvelopeError{Code: BadEnvelope, Reason: "no recipient record"}
			}
			return env, nil
		}
		if len(body)-1 > MaxAddress {
			return nil, &EnvelopeError{Code: AddressTooLong, Reason: "address longer than 1000 bytes"}
		}
		switch body[0] {
		case 'F':
			if sawFrom {
				return nil, &EnvelopeError{Code: BadEnvelope, Reason: "repeated sender record"}
			}
			sawFrom = true
			env.From = string(body[1:])
		case 'T':
			if !sawFrom {
				return nil, &EnvelopeError{Code: BadEnvelope, Reason: "recipient before sender"}
			}
			env.To = append(env.To, string(body[1:]))
		default:
			return nil, &EnvelopeError{Code: BadEnvelope, Reason: fmt.Sprintf("unknown record type %q", body[0])}
		}
	}
}
