package scanner

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// LogEntry is one message's log line. simscan prints it on stderr as
//
//	simscan:[PPID]:STATE:T.TTTTs:DETAIL:TCPREMOTEIP:from:rcpt1,rcpt2
//
// exactly as the C simscan does, so existing log parsers keep working.
// Every field is made safe to split on ':' (a colon becomes '_', as simscan
// does for the subject) and to keep on one line (control characters become
// '?'). An IPv4-mapped IPv6 address is logged as plain IPv4; any other IPv6
// address has its colons written as '_' too (2001_db8__1), which a reader
// turns back by replacing '_' with ':' in that one field. Recipients are
// joined with ',' (a comma inside an address becomes '_').
type LogEntry struct {
	PPID     int
	State    string
	Elapsed  time.Duration
	Detail   string // the subject for CLEAN and spam states
	RemoteIP string
	From     string
	To       []string
}

// maxDetail bounds the detail field, which may come from the message.
const maxDetail = 256

// String formats the entry as simscan's log line, without a newline.
func (e LogEntry) String() string {
	var b strings.Builder
	b.Grow(128)
	fmt.Fprintf(&b, "simscan:[%d]:%s:%.4fs:", e.PPID, logField(e.State), e.Elapsed.Seconds())
	d := e.Detail
	if len(d) > maxDetail {
		d = d[:maxDetail]
	}
	b.WriteString(logField(d))
	b.WriteByte(':')
	b.WriteString(LogIP(e.RemoteIP))
	b.WriteByte(':')
	b.WriteString(logField(e.From))
	b.WriteByte(':')
	for i, r := range e.To {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strings.ReplaceAll(logField(r), ",", "_"))
	}
	return b.String()
}

// logField replaces colons with '_' and control characters and invalid
// bytes with '?'.
func logField(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ':' || c < 0x20 || c == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		switch {
		case c == ':':
			b[i] = '_'
		case c < 0x20 || c == 0x7f:
			b[i] = '?'
		}
	}
	return string(b)
}

// LogIP is how an address appears in the remote-IP field.
func LogIP(ip string) string {
	if strings.IndexByte(ip, ':') >= 0 {
		if a, err := netip.ParseAddr(ip); err == nil && a.Is4In6() {
			return a.Unmap().String()
		}
	}
	return logField(ip)
}

// ParseLogLine reads a line written by LogEntry.String (or by the C
// simscan). It accepts text before "simscan:[", such as a multilog
// timestamp, and returns the prefix.
func ParseLogLine(line string) (LogEntry, string, bool) {
	i := strings.Index(line, "simscan:[")
	if i < 0 {
		return LogEntry{}, "", false
	}
	prefix, rest := line[:i], line[i+len("simscan:["):]
	j := strings.Index(rest, "]:")
	if j < 0 {
		return LogEntry{}, "", false
	}
	ppid, err := strconv.Atoi(rest[:j])
	if err != nil {
		return LogEntry{}, "", false
	}
	f := strings.SplitN(rest[j+2:], ":", 6)
	if len(f) != 6 || !strings.HasSuffix(f[1], "s") {
		return LogEntry{}, "", false
	}
	secs, err := strconv.ParseFloat(strings.TrimSuffix(f[1], "s"), 64)
	if err != nil {
		return LogEntry{}, "", false
	}
	e := LogEntry{
		PPID:     ppid,
		State:    f[0],
		Elapsed:  time.Duration(secs * float64(time.Second)),
		Detail:   f[2],
		RemoteIP: f[3],
		From:     f[4],
	}
	if strings.Count(f[3], "_") >= 2 {
		e.RemoteIP = strings.ReplaceAll(f[3], "_", ":")
	}
	if f[5] != "" {
		e.To = strings.Split(strings.TrimRight(f[5], "\r\n"), ",")
	}
	return e, prefix, true
}

// SpamScores returns the scores in a spam state such as
// "SPAM REJECT (12.00/5.00/10.00)" or the C simscan's "CLEAN (1.0/5.0)".
func SpamScores(state string) (base string, score, required float64, ok bool) {
	i := strings.LastIndex(state, " (")
	if i < 0 || !strings.HasSuffix(state, ")") {
		return state, 0, 0, false
	}
	parts := strings.Split(state[i+2:len(state)-1], "/")
	if len(parts) < 2 {
		return state, 0, 0, false
	}
	s, err1 := strconv.ParseFloat(parts[0], 64)
	r, err2 := strconv.ParseFloat(parts[1], 64)
	if err1 != nil || err2 != nil {
		return state, 0, 0, false
	}
	return state[:i], s, r, true
}
