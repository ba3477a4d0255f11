package scanner

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLogLine(t *testing.T) {
	tests := []struct {
		e    LogEntry
		want string
	}{
		{LogEntry{PPID: 123, State: "CLEAN (0.50/5.00/5.00)", Elapsed: 1234567 * time.Microsecond, Detail: "Re: hello", RemoteIP: "192.0.2.1", From: "a@b.example", To: []string{"c@d.example", "e@f.example"}},
			"simscan:[123]:CLEAN (0.50/5.00/5.00):1.2346s:Re_ hello:192.0.2.1:a@b.example:c@d.example,e@f.example"},
		{LogEntry{PPID: 1, State: "VIRUS", Elapsed: 0, Detail: "Eicar-Signature", RemoteIP: "::ffff:198.51.100.7", From: "", To: []string{"x@y"}},
			"simscan:[1]:VIRUS:0.0000s:Eicar-Signature:198.51.100.7::x@y"},
		{LogEntry{PPID: 2, State: "ATTACH", Detail: "evil\r\n.exe", RemoteIP: "2001:db8::1", From: "a:b@c", To: []string{"odd,name@x", "y@z"}},
			"simscan:[2]:ATTACH:0.0000s:evil??.exe:2001_db8__1:a_b@c:odd_name@x,y@z"},
	}
	for _, tt := range tests {
		if got := tt.e.String(); got != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
	}
}

func TestLogLineLongDetail(t *testing.T) {
	e := LogEntry{State: "CLEAN", Detail: strings.Repeat("s", 10000)}
	if n := len(e.String()); n > 400 {
		t.Errorf("line of %d bytes for a huge subject", n)
	}
}

func TestParseLogLine(t *testing.T) {
	e := LogEntry{PPID: 77, State: "SPAM REJECT (12.00/5.00/10.00)", Elapsed: 2500 * time.Millisecond, Detail: "Buy", RemoteIP: "2001:db8::1", From: "a@b", To: []string{"c@d", "e@f"}}
	got, prefix, ok := ParseLogLine("@400000006578a1b2c3d4e5f6 " + e.String())
	if !ok || prefix != "@400000006578a1b2c3d4e5f6 " {
		t.Fatalf("not parsed: %v %q", ok, prefix)
	}
	if !reflect.DeepEqual(got, e) {
		t.Errorf("got  %+v\nwant %+v", got, e)
	}
	base, s, r, ok := SpamScores(got.State)
	if !ok || base != "SPAM REJECT" || s != 12 || r != 5 {
		t.Errorf("scores %q %v %v %v", base, s, r, ok)
	}
	// The C simscan's two-number form.
	if base, s, r, ok := SpamScores("CLEAN (1.3/5.0)"); !ok || base != "CLEAN" || s != 1.3 || r != 5 {
		t.Errorf("scores %q %v %v %v", base, s, r, ok)
	}
	for _, bad := range []string{"", "simscan:[x]:CLEAN", "simscan:[1]:CLEAN:1.0s:x", "tcpserver: status: 1/40"} {
		if _, _, ok := ParseLogLine(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestReceivedHeader(t *testing.T) {
	now := time.Date(2026, 11, 21, 10, 4, 5, 0, time.FixedZone("", 3600))
	got := ReceivedHeader("2.0.0", 10, 11, 1500*time.Millisecond, [][2]string{{"attach", "2.0.0"}, {"clamav", "1.0.7/27000"}, {"spam", ""}}, now)
	want := "Received: (simscan 2.0.0 ppid 10 pid 11 t 1.5000s)\n (scanners: attach: 2.0.0 clamav: 1.0.7/27000 spam: unknown); Sat, 21 Nov 2026 10:04:05 +0100\n"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := ReceivedHeader("2", 1, 2, 0, nil, now); !strings.Contains(got, "(scanners: none);") {
		t.Errorf("no scanners: %q", got)
	}
}
