package mime

import (
	"bytes"
	"net/textproto"
)

// readHeader parses a header block into its fields (RFC 5322 section 2.2),
// as tolerantly as mail clients read them:
//
//   - a line starting with white space continues the field before it, and
//     is joined to it with one space (unfolding, section 2.2.3);
//   - white space between a field name and its colon is allowed (the
//     obsolete syntax of section 4.5.3);
//   - a line ends at LF with or without a CR before it; a bare CR inside a
//     line is kept, as are 8-bit bytes, which legacy mail puts in values;
//   - a line that is not a field (no colon, nothing before the colon, a
//     control or 8-bit byte in the name) is recorded as a problem and
//     skipped, together with the lines continuing it.
//
// Values are trimmed of spaces and tabs at both ends (and of the CR of a
// line end, which a continuation line may also start with). Field names are
// canonicalised as textproto.CanonicalMIMEHeaderKey does; repeated fields
// keep every value in order. The block is bounded by Limits.MaxHeaderBytes
// before it gets here, and the work is linear in its size.
func (w *walker) readHeader(block []byte, where string) textproto.MIMEHeader {
	hdr := textproto.MIMEHeader{}
	var (
		key   string // field being read, "" when none
		value []byte // its value so far
		bad   int    // lines skipped
	)
	end := func() {
		if key != "" {
			hdr[key] = append(hdr[key], string(bytes.Trim(value, " \t")))
		}
		key, value = "", value[:0]
	}
	for len(block) > 0 {
		line := block
		if i := bytes.IndexByte(block, '\n'); i >= 0 {
			line, block = block[:i], block[i+1:]
		} else {
			block = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break // the blank line that ends the block
		}
		if line[0] == ' ' || line[0] == '\t' {
			if key != "" {
				value = append(value, ' ')
				value = append(value, bytes.Trim(line, " \t\r")...)
			}
			continue
		}
		end()
		name, v, ok := bytes.Cut(line, []byte(":"))
		name = bytes.TrimRight(name, " \t")
		if !ok || !fieldName(name) {
			bad++
			if bad == 1 {
				w.problem(where, "header line %.40q is not a field, skipped", line)
			}
			continue
		}
		key = textproto.CanonicalMIMEHeaderKey(string(name))
		value = append(value, bytes.TrimLeft(bytes.TrimRight(v, " \t\r"), " \t")...)
	}
	end()
	return hdr
}

// fieldName reports whether name is a field name: printable US-ASCII but
// the colon (RFC 5322 section 2.2).
func fieldName(name []byte) bool {
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}
