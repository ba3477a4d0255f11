package main

import (
	"bytes"
	"io"
	"os"

	"github.com/gosimscan/simscan/quarantine"
	"github.com/gosimscan/simscan/scanner"
)

// maxHeaderScan bounds how much of the message is read to find the subject;
// firstHeaderScan is read first, which holds most header blocks whole.
const (
	maxHeaderScan   = 64 << 10
	firstHeaderScan = 8 << 10
)

// subject returns the message's Subject header, unfolded, as simscan logs
// it for clean mail. Only the header block (up to 64 KB) is read.
func subject(f *os.File) string {
	for size := firstHeaderScan; ; size = maxHeaderScan {
		buf := make([]byte, size)
		n, err := f.ReadAt(buf, 0)
		if err != nil && err != io.EOF {
			return ""
		}
		if n < size || size == maxHeaderScan || bytes.Contains(buf[:n], []byte("\n\n")) || bytes.Contains(buf[:n], []byte("\n\r\n")) {
			return headerValue(buf[:n], "subject")
		}
	}
}

// headerValue finds a header field in a raw header block and unfolds it.
func headerValue(b []byte, name string) string {
	var val []byte
	in := false
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break // end of the header block
		}
		if line[0] == ' ' || line[0] == '\t' {
			if in {
				val = append(val, ' ')
				val = append(val, bytes.TrimSpace(line)...)
			}
			continue
		}
		if in {
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok && len(k) == len(name) && bytes.EqualFold(k, []byte(name)) {
			in = true
			val = append(val, bytes.TrimSpace(v)...)
		}
	}
	return string(val)
}

// quarantine keeps a copy of a refused or dropped message when the
// configuration and rules ask for it. When the copy cannot be stored it
// returns a temporary failure and false, so the message is not lost.
func (j *job) quarantine(m *scanner.Message, pol *scanner.Policy, v scanner.Verdict) (scanner.Verdict, bool) {
	id, err := quarantine.Keep(&j.cfg, pol.Quarantine, m, v, version, j.sys.now(), j.logf)
	if err != nil {
		return quarantine.FailedVerdict(v, err), false
	}
	if id != "" {
		j.debugf(1, "quarantined as %s", id)
	}
	return v, true
}
