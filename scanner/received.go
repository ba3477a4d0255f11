package scanner

import (
	"fmt"
	"strings"
	"time"
)

// ReceivedHeader is simscan's trace header (received=yes):
//
//	Received: (simscan VERSION ppid N pid N t N.NNNNs)
//	 (scanners: attach: V clamav: V spam: V); DATE
//
// ran lists the scanners that ran, in order, as pairs of name and version
// (versions come from simversions.cdb; a missing one is "unknown"). The
// date is RFC 5322 (the C simscan printed the year as "0126"). Lines end in
// LF, as in qmail's queue.
func ReceivedHeader(version string, ppid, pid int, elapsed time.Duration, ran [][2]string, now time.Time) string {
	var sc strings.Builder
	for i, r := range ran {
		if i > 0 {
			sc.WriteByte(' ')
		}
		v := r[1]
		if v == "" {
			v = "unknown"
		}
		sc.WriteString(r[0] + ": " + v)
	}
	if len(ran) == 0 {
		sc.WriteString("none")
	}
	return fmt.Sprintf("Received: (simscan %s ppid %d pid %d t %.4fs)\n (scanners: %s); %s\n",
		version, ppid, pid, elapsed.Seconds(), headerSafe(sc.String()), now.Format("Mon, 02 Jan 2006 15:04:05 -0700"))
}

// headerSafe keeps text from simversions.cdb from breaking the header.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
