package mime

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"unicode/utf16"
)

// Outlook sends attachments wrapped in a TNEF stream, winmail.dat
// (application/ms-tnef), which Outlook and Exchange unwrap and show as
// ordinary attachments; ripmime unwrapped it too. Each attachment in it
// becomes a Part with Origin "tnef", named by its attAttachTitle attribute
// and by the PR_ATTACH_LONG_FILENAME and PR_ATTACH_FILENAME properties of
// its attAttachment attribute ([MS-OXTNEF] 2.1.3, [MS-OXPROPS]).

var tnefSignature = []byte{0x78, 0x9f, 0x3e, 0x22}

// TNEF attribute ids ([MS-OXTNEF] 2.1.3.3), type and id together.
const (
	attAttachRendData = 0x00069002 // starts an attachment
	attAttachTitle    = 0x00018010 // file name
	attAttachData     = 0x0006800f // content
	attAttachment     = 0x00069005 // MAPI properties of the attachment
	attLevelAttach    = 0x02
)

// MAPI property tags that hold an attachment file name.
const (
	prAttachFilename     = 0x3704
	prAttachLongFilename = 0x3707
)

// maxTNEFName caps the file name attributes read into memory.
const maxTNEFName = 64 << 10

var errTNEF = errors.New("malformed TNEF")

// tnef unwraps the attachments of a TNEF stream.
func (w *walker) tnef(r io.Reader, where string) error {
	br := bufio.NewReader(r)
	var head [6]byte
	if _, err := io.ReadFull(br, head[:]); err != nil || !bytes.Equal(head[:4], tnefSignature) {
		w.problem(where, "TNEF stream without its signature")
		return nil
	}
	cur := -1 // index of the attachment's Part
	for {
		var ah [9]byte
		if _, err := io.ReadFull(br, ah[:]); err != nil {
			if err != io.EOF {
				w.problem(where, "TNEF stream cut short")
			}
			return w.limitOr(nil)
		}
		level := ah[0]
		id := binary.LittleEndian.Uint32(ah[1:])
		length := int64(binary.LittleEndian.Uint32(ah[5:]))
		body := io.LimitReader(br, length)
		var err error
		switch {
		case level == attLevelAttach && id == attAttachRendData:
			cur, err = w.addPart(Part{ContentType: "application/octet-stream", Origin: OriginTNEF})
		case cur >= 0 && id == attAttachTitle:
			err = w.tnefName(cur, body, false)
		case cur >= 0 && id == attAttachment:
			err = w.tnefProps(cur, body, length)
		case cur >= 0 && id == attAttachData:
			err = w.tnefData(cur, body, where)
		}
		if err != nil {
			if errors.Is(err, errTNEF) {
				w.problem(where, "malformed TNEF attribute %#08x", id)
				return nil
			}
			return err
		}
		// Skip what is left of the value, and the checksum.
		if _, err := io.Copy(io.Discard, body); err != nil {
			return err
		}
		if _, err := br.Discard(2); err != nil {
			w.problem(where, "TNEF stream cut short")
			return w.limitOr(nil)
		}
	}
}

// tnefName adds a name to the attachment's Part. Names are 8-bit strings
// in the message code page, or UTF-16LE when wide is set.
func (w *walker) tnefName(idx int, r io.Reader, wide bool) error {
	b, err := io.ReadAll(io.LimitReader(r, maxTNEFName))
	if err != nil {
		return err
	}
	var name string
	if wide {
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
		for len(u) > 0 && u[len(u)-1] == 0 {
			u = u[:len(u)-1]
		}
		name = string(utf16.Decode(u))
	} else {
		name = latin1(bytes.TrimRight(b, "\x00"))
	}
	p := &w.res.Parts[idx]
	if name == "" || contains(p.RawNames, name) {
		return nil
	}
	p.RawNames = append(p.RawNames, name)
	if n := Normalize(name); n != "" && !contains(p.Names, n) {
		p.Names = append(p.Names, n)
	}
	return nil
}

// tnefData writes the attachment's content.
func (w *walker) tnefData(idx int, r io.Reader, where string) error {
	if w.res.Parts[idx].Size > 0 || w.res.Parts[idx].File != "" {
		return errTNEF // a second content for one attachment
	}
	s, err := w.newSink(idx, archiveHint(w.res.Parts[idx].Names), where)
	if err != nil {
		return err
	}
	_, err = w.copy(s, r)
	if err2 := s.finish(err == nil); err == nil {
		err = err2
	}
	return err
}

// tnefProps reads the MAPI properties of an attachment ([MS-OXTNEF]
// 2.1.3.4) for its file names.
func (w *walker) tnefProps(idx int, r io.Reader, length int64) error {
	br := bufio.NewReader(r)
	u32 := func() (uint32, error) {
		var b [4]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return 0, errTNEF
		}
		return binary.LittleEndian.Uint32(b[:]), nil
	}
	skip := func(n int64) error {
		if _, err := br.Discard(int(n)); err != nil {
			return errTNEF
		}
		return nil
	}
	count, err := u32()
	if err != nil {
		return err
	}
	// Every property takes at least 8 bytes: a count beyond that is a lie.
	if int64(count) > length/8 {
		return errTNEF
	}
	for range count {
		tag, err := u32()
		if err != nil {
			return err
		}
		typ, id := tag&0xffff, tag>>16
		if id >= 0x8000 {
			// A named property: GUID, kind, then a number or a name.
			if err := skip(16); err != nil {
				return err
			}
			kind, err := u32()
			if err != nil {
				return err
			}
			n, err := u32()
			if err != nil {
				return err
			}
			if kind == 1 {
				if err := skip(int64(pad4(n))); err != nil {
					return err
				}
			}
		}
		multi := typ&0x1000 != 0
		typ &^= 0x1000
		values := uint32(1)
		if multi {
			if values, err = u32(); err != nil {
				return err
			}
		}
		for range values {
			if size := fixedPropSize(typ); size > 0 {
				if err := skip(int64(size)); err != nil {
					return err
				}
				continue
			}
			switch typ {
			case 0x001e, 0x001f, 0x0102, 0x000d: // string8, unicode, binary, object
			default:
				return errTNEF
			}
			if !multi {
				// A single variable value still carries a count of one.
				if _, err := u32(); err != nil {
					return err
				}
			}
			n, err := u32()
			if err != nil {
				return err
			}
			if int64(n) > length {
				return errTNEF
			}
			if (id == prAttachLongFilename || id == prAttachFilename) && (typ == 0x001e || typ == 0x001f) {
				lr := &io.LimitedReader{R: br, N: int64(n)}
				if err := w.tnefName(idx, lr, typ == 0x001f); err != nil {
					return err
				}
				if err := skip(lr.N + int64(pad4(n)-n)); err != nil {
					return err
				}
				continue
			}
			if err := skip(int64(pad4(n))); err != nil {
				return err
			}
		}
	}
	return nil
}

// pad4 rounds n up to a multiple of 4.
func pad4(n uint32) uint32 { return (n + 3) &^ 3 }

// fixedPropSize is the size of a fixed-size MAPI property value as TNEF
// writes it (padded to 4 bytes), 0 for the variable ones.
func fixedPropSize(typ uint32) int {
	switch typ {
	case 0x0002, 0x0003, 0x0004, 0x000a, 0x000b: // i2, i4, r4, error, boolean
		return 4
	case 0x0005, 0x0006, 0x0007, 0x0014, 0x0040: // r8, currency, apptime, i8, systime
		return 8
	case 0x0048: // GUID
		return 16
	}
	return 0
}
