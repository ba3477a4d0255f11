package qmail

import (
	"golang.org/x/sys/unix"
)

// The descriptors qmail-smtpd may read custom error text from: simscan's
// qmail-queue-custom-error patch uses fd 4, notqmail reads fd 6.
const (
	PatchErrorFD    = 4
	NotqmailErrorFD = 6
)

// maxErrorText bounds the text written to the error fd; qmail-smtpd reads
// only so much of it.
const maxErrorText = 900

// ErrorFDs returns the descriptors to write custom error text to. With
// fd < 0 (error_fd=auto) those of fd 4 and fd 6 that are open pipes;
// otherwise fd itself, if it is an open pipe or socket. Only those count
// because the Go runtime opens descriptors of its own (its
// poller, cgroup files) at low numbers that qmail-smtpd left free.
func ErrorFDs(fd int) []int {
	if fd >= 0 {
		if m := fileType(fd); m == unix.S_IFIFO || m == unix.S_IFSOCK {
			return []int{fd}
		}
		return nil
	}
	var out []int
	for _, c := range []int{PatchErrorFD, NotqmailErrorFD} {
		if fileType(c) == unix.S_IFIFO {
			out = append(out, c)
		}
	}
	return out
}

// fileType is the S_IFMT bits of an open descriptor, 0 if it is not open.
func fileType(fd int) uint32 {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return 0
	}
	return st.Mode & unix.S_IFMT
}

// WriteCustomError writes kind ('D' permanent, 'Z' temporary) and text to
// every fd, in the custom-error patch's format. The text is made a single
// line of printable ASCII, because parts of it (a virus or attachment name)
// come from the message and qmail-smtpd copies it into its SMTP reply. It
// reports whether any descriptor took the whole text.
func WriteCustomError(fds []int, kind byte, text string) bool {
	b := make([]byte, 0, len(text)+1)
	b = append(b, kind)
	for i := 0; i < len(text) && len(b) < maxErrorText; i++ {
		c := text[i]
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		b = append(b, c)
	}
	ok := false
	for _, fd := range fds {
		n, err := unix.Write(fd, b)
		if err == nil && n == len(b) {
			ok = true
		}
	}
	return ok
}
