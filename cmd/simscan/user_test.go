package main

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosimscan/simscan/internal/testenv"
	"github.com/gosimscan/simscan/qmail"
)

// spamdUser reports the user of the last message spamd's log names, from
// its "processing message <id> for USER:UID" line.
func spamdUser(t *testing.T, sd *testenv.Spamd) string {
	t.Helper()
	b, err := os.ReadFile(sd.Log)
	if err != nil {
		t.Fatal(err)
	}
	user := ""
	for _, l := range strings.Split(string(b), "\n") {
		if _, rest, ok := strings.Cut(l, "spamd: processing message "); ok {
			if _, u, ok := strings.Cut(rest, " for "); ok {
				user = u[:strings.LastIndexByte(u, ':')]
			}
		}
	}
	return user
}

func TestSpamdUser(t *testing.T) {
	sd := testenv.StartSpamd(t)
	conf := "spamd=" + sd.TCP + "\n"
	tests := []struct {
		name  string
		conf  string
		rules string
		env   string
		want  string
	}{
		{"spamc_user with one recipient", "spamc_user=yes\n", "", "Fa@example.com\x00Tbob@example.org\x00\x00", "bob@example.org"},
		{"spamc_user with two recipients", "spamc_user=yes\n", "", "Fa@example.com\x00Tbob@example.org\x00Tcarol@example.org\x00\x00", "(unknown)"},
		{"spamuser from the rules", "", ":spam=yes\nexample.org:spamuser=filter\n", "Fa@example.com\x00Tbob@example.org\x00Tcarol@example.org\x00\x00", "filter"},
		{"neither", "", "", "Fa@example.com\x00Tbob@example.org\x00\x00", "(unknown)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t, conf+tt.conf)
			if tt.rules != "" {
				s.writeRules(tt.rules)
			}
			r := s.run(delivery{msg: strings.NewReader(testenv.CleanMessage), env: tt.env})
			if r.code != 0 {
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			// Without a User header spamd logs the user as "(unknown)".
			if got := spamdUser(t, sd); got != tt.want {
				t.Errorf("spamd checked for %q, want %q", got, tt.want)
			}
		})
	}
}

// fakeTrophie answers like a Trophie or Sophie daemon: "1:NAME" when a file
// under the path it is sent holds the marker, "0" otherwise. The real
// daemons are not packaged anywhere.
func fakeTrophie(t *testing.T, marker string) string {
	sock := filepath.Join(t.TempDir(), "trophie.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				path, err := bufio.NewReader(c).ReadString('\n')
				if err != nil {
					return
				}
				answer := "0\n"
				filepath.Walk(strings.TrimSpace(path), func(p string, info os.FileInfo, err error) error {
					if err == nil && info.Mode().IsRegular() {
						if b, _ := os.ReadFile(p); strings.Contains(string(b), marker) {
							answer = "1:Troj.Fake.Marker\n"
						}
					}
					return nil
				})
				c.Write([]byte(answer))
			}()
		}
	}()
	return sock
}

func TestTrophie(t *testing.T) {
	const marker = "TROPHIE-MARKER-31c9"
	sock := fakeTrophie(t, marker)
	s := newSetup(t, "trophie=unix:"+sock+"\n")
	// The marker only appears decoded: trophie sees the parts simscan wrote.
	r := s.run(delivery{msg: strings.NewReader(withAttachment("a.bin", []byte(marker))), env: env1, errFD4: true})
	if r.code != int(qmail.CustomError) || r.err4 != "DYour email was rejected because it contains the Troj.Fake.Marker virus" {
		t.Errorf("exit %d fd4 %q\n%s", r.code, r.err4, r.stderr)
	}
	if !logMatch(logLine(t, r.stderr), "VIRUS:Troj.Fake.Marker") {
		t.Errorf("log %s", r.stderr)
	}
	s.assertWorkEmpty()
	r = s.run(delivery{msg: strings.NewReader(testenv.CleanMessage), env: env1})
	if r.code != 0 || len(r.records) != 1 {
		t.Errorf("clean: exit %d\n%s", r.code, r.stderr)
	}
}
