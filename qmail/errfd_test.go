package qmail

import (
	"os"
	"testing"
)

func TestErrorFDsAndCustomText(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f, err := os.CreateTemp(t.TempDir(), "regular")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := ErrorFDs(int(w.Fd())); len(got) != 1 {
		t.Errorf("explicit pipe fd: %v", got)
	}
	if got := ErrorFDs(int(f.Fd())); got != nil {
		t.Errorf("explicit regular file accepted as an error fd: %v", got)
	}
	if got := ErrorFDs(1000); got != nil {
		t.Errorf("closed fd accepted: %v", got)
	}
	// Text from the message cannot break the reply line.
	if !WriteCustomError([]int{int(w.Fd())}, 'D', "bad attachment: evil\r\n250 ok\x1b[2J.exe") {
		t.Fatal("write failed")
	}
	w.Close()
	b := make([]byte, 200)
	n, _ := r.Read(b)
	if got := string(b[:n]); got != "Dbad attachment: evil??250 ok?[2J.exe" {
		t.Errorf("got %q", got)
	}
}
