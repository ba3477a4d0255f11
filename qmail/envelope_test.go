package qmail

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadEnvelope(t *testing.T) {
	long := strings.Repeat("a", MaxAddress-len("@example.com")) + "@example.com"
	tests := []struct {
		name string
		in   string
		code ExitCode // 0: success
		from string
		to   []string
	}{
		{"one recipient", "Fa@b\x00Tc@d\x00\x00", OK, "a@b", []string{"c@d"}},
		{"null sender", "F\x00Tc@d\x00Te@f\x00\x00", OK, "", []string{"c@d", "e@f"}},
		{"address of exactly 1000 bytes", "F" + long + "\x00T" + long + "\x00\x00", OK, long, []string{long}},
		{"mixed case kept", "FA@B.Example\x00TC@D\x00\x00", OK, "A@B.Example", []string{"C@D"}},
		{"empty recipient address", "Fa@b\x00T\x00\x00", OK, "a@b", []string{""}},
		{"missing sender", "Tc@d\x00\x00", BadEnvelope, "", nil},
		{"empty envelope", "\x00", BadEnvelope, "", nil},
		{"repeated sender", "Fa@b\x00Fa@b\x00Tc@d\x00\x00", BadEnvelope, "", nil},
		{"no recipient", "Fa@b\x00\x00", BadEnvelope, "", nil},
		{"unknown record", "Fa@b\x00Xc@d\x00\x00", BadEnvelope, "", nil},
		{"unknown long record", "Fa@b\x00X" + strings.Repeat("x", 5000) + "\x00\x00", BadEnvelope, "", nil},
		{"end of input at once", "", ReadError, "", nil},
		{"end of input after sender", "Fa@b\x00", ReadError, "", nil},
		{"end of input inside a record", "Fa@b\x00Tc@", ReadError, "", nil},
		{"no final empty record", "Fa@b\x00Tc@d\x00", ReadError, "", nil},
		{"sender too long", "F" + long + "x\x00Tc@d\x00\x00", AddressTooLong, "", nil},
		{"recipient far too long", "Fa@b\x00T" + strings.Repeat("y", 1<<20) + "\x00\x00", AddressTooLong, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var raw bytes.Buffer
			env, err := ReadEnvelope(strings.NewReader(tt.in), &raw)
			if tt.code != OK {
				var ee *EnvelopeError
				if !errors.As(err, &ee) {
					t.Fatalf("got %v, %v; want an EnvelopeError with code %d", env, err, tt.code)
				}
				if ee.Code != tt.code {
					t.Fatalf("code %d (%v), want %d", ee.Code, ee, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if env.From != tt.from || strings.Join(env.To, "|") != strings.Join(tt.to, "|") {
				t.Errorf("got %q %q, want %q %q", env.From, env.To, tt.from, tt.to)
			}
			if raw.String() != tt.in {
				t.Errorf("raw copy %q differs from input %q", raw.String(), tt.in)
			}
		})
	}
}

func TestReadEnvelopeStopsAtEnd(t *testing.T) {
	in := "Fa@b\x00Tc@d\x00\x00trailing garbage"
	var raw bytes.Buffer
	if _, err := ReadEnvelope(strings.NewReader(in), &raw); err != nil {
		t.Fatal(err)
	}
	if raw.String() != "Fa@b\x00Tc@d\x00\x00" {
		t.Errorf("raw copy %q includes bytes after the envelope", raw.String())
	}
}

func TestReadEnvelopeManyRecipients(t *testing.T) {
	var in bytes.Buffer
	in.WriteString("Fsender@example.org\x00")
	for i := 0; i < 10000; i++ {
		in.WriteString("Tuser")
		in.WriteString(strings.Repeat("x", i%50))
		in.WriteString("@example.com\x00")
	}
	in.WriteByte(0)
	var raw bytes.Buffer
	env, err := ReadEnvelope(iotest.OneByteReader(bytes.NewReader(in.Bytes())), &raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(env.To) != 10000 {
		t.Errorf("%d recipients, want 10000", len(env.To))
	}
	if !bytes.Equal(raw.Bytes(), in.Bytes()) {
		t.Error("raw copy differs from input")
	}
}

func TestReadEnvelopeReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("Fa@b\x00"), iotest.ErrReader(boom))
	_, err := ReadEnvelope(r, io.Discard)
	var ee *EnvelopeError
	if !errors.As(err, &ee) || ee.Code != ReadError || !errors.Is(err, boom) {
		t.Fatalf("got %v, want a ReadError wrapping boom", err)
	}
}

func FuzzReadEnvelope(f *testing.F) {
	f.Add([]byte("Fa@b\x00Tc@d\x00\x00"))
	f.Add([]byte("F\x00T\x00\x00"))
	f.Add([]byte("Fa\x00Fb\x00"))
	f.Add([]byte("T\x00\x00"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var raw bytes.Buffer
		env, err := ReadEnvelope(bytes.NewReader(in), &raw)
		if err != nil {
			var ee *EnvelopeError
			if !errors.As(err, &ee) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			switch ee.Code {
			case BadEnvelope, ReadError, AddressTooLong:
			default:
				t.Fatalf("unexpected code %d", ee.Code)
			}
			return
		}
		if !bytes.HasPrefix(in, raw.Bytes()) {
			t.Fatal("raw copy is not a prefix of the input")
		}
		if len(env.To) == 0 {
			t.Fatal("success without recipients")
		}
		if len(env.From) > MaxAddress {
			t.Fatal("sender longer than the limit accepted")
		}
		for _, a := range env.To {
			if len(a) > MaxAddress {
				t.Fatal("recipient longer than the limit accepted")
			}
		}
		// Re-encoding the parsed envelope gives back the bytes read.
		var re bytes.Buffer
		re.WriteString("F" + env.From + "\x00")
		for _, a := range env.To {
			re.WriteString("T" + a + "\x00")
		}
		re.WriteByte(0)
		if !bytes.Equal(re.Bytes(), raw.Bytes()) {
			t.Fatalf("re-encoded %q, read %q", re.Bytes(), raw.Bytes())
		}
	})
}
