// Package qmail speaks qmail-queue's side of the QMAILQUEUE interface:
// the envelope format read on fd 1, the exit codes of qmail-queue(8), the
// custom-error text of the qmail-queue-custom-error patch, and handing a
// message on to the real qmail-queue.
package qmail

import "fmt"

// ExitCode is a qmail-queue(8) exit status. qmail-smtpd turns each into the
// SMTP reply shown in the comment: codes 11 to 40 are permanent (5xx), the
// rest temporary (4xx).
type ExitCode int

// The exit codes of qmail-queue(8), plus 82 from the custom-error patch.
const (
	OK             ExitCode = 0  // message queued: 250 ok
	AddressTooLong ExitCode = 11 // 554 envelope address too long for qq
	PermFail       ExitCode = 31 // 554 mail server permanently rejected message
	OutOfMemory    ExitCode = 51 // 451 qq out of memory
	Timeout        ExitCode = 52 // 451 qq timeout
	WriteError     ExitCode = 53 // 451 qq write error or disk full
	ReadError      ExitCode = 54 // 451 qq read error: cannot read the message or envelope
	ConfigError    ExitCode = 55 // 451 unable to read a configuration file
	NetworkError   ExitCode = 56 // 451 problem making a network connection
	HomeDirError   ExitCode = 61 // 451 qq trouble in home directory
	QueueDirError  ExitCode = 62 // 451 qq trouble creating files in queue
	QueuePIDError  ExitCode = 63 // 451 qq trouble creating files in queue (queue/pid)
	QueueMessError ExitCode = 64 // 451 qq trouble creating files in queue (queue/mess)
	QueueIntdError ExitCode = 65 // 451 qq trouble creating files in queue (queue/intd)
	QueueTodoError ExitCode = 66 // 451 qq trouble creating files in queue (queue/todo)
	TempFail       ExitCode = 71 // 451 mail server temporarily rejected message
	ConnTimeout    ExitCode = 72 // 451 connection to mail server timed out
	ConnRejected   ExitCode = 73 // 451 connection to mail server rejected
	ConnFailed     ExitCode = 74 // 451 communication with mail server failed
	InternalBug    ExitCode = 81 // 451 qq internal bug
	CustomError    ExitCode = 82 // reply text read from the error fd (custom-error patch)
	BadEnvelope    ExitCode = 91 // 451 qq internal bug (qmail-smtpd never sends a bad envelope)
)

var exitNames = map[ExitCode]string{
	OK:             "queued",
	AddressTooLong: "address too long",
	PermFail:       "permanently refused",
	OutOfMemory:    "out of memory",
	Timeout:        "timeout",
	WriteError:     "write error or disk full",
	ReadError:      "unable to read the message or envelope",
	ConfigError:    "unable to read a configuration file",
	NetworkError:   "network connection problem",
	HomeDirError:   "problem with the qmail home directory",
	QueueDirError:  "problem with the queue directory",
	QueuePIDError:  "problem with queue/pid",
	QueueMessError: "problem with queue/mess",
	QueueIntdError: "problem with queue/intd",
	QueueTodoError: "problem with queue/todo",
	TempFail:       "temporarily refused",
	ConnTimeout:    "connection timed out",
	ConnRejected:   "connection rejected",
	ConnFailed:     "communication failed",
	InternalBug:    "internal bug",
	CustomError:    "custom error text on the error fd",
	BadEnvelope:    "envelope format error",
}

// String names the code's meaning in qmail-queue(8).
func (c ExitCode) String() string {
	if s, ok := exitNames[c]; ok {
		return s
	}
	return fmt.Sprintf("exit %d", int(c))
}

// Permanent reports whether qmail-smtpd answers this code with a 5xx reply.
// qmail-smtpd treats 11 to 40 as permanent and everything else non-zero as
// temporary.
func (c ExitCode) Permanent() bool { return c >= 11 && c <= 40 }

// SMTPReply is the reply qmail-smtpd prints for an exit code without the
// custom-error patch, as qmail_close() in qmail.c maps it. It exists so tests
// and documentation can state what a sender sees.
func SMTPReply(c ExitCode) string {
	switch c {
	case OK:
		return "250 ok"
	case AddressTooLong:
		return "554 envelope address too long for qq (#5.1.3)"
	case PermFail:
		return "554 mail server permanently rejected message (#5.3.0)"
	case OutOfMemory:
		return "451 qq out of memory (#4.3.0)"
	case Timeout:
		return "451 qq timeout (#4.3.0)"
	case WriteError:
		return "451 qq write error or disk full (#4.3.0)"
	case ReadError:
		return "451 qq read error (#4.3.0)"
	case ConfigError:
		return "451 qq unable to read configuration (#4.3.0)"
	case NetworkError:
		return "451 qq trouble making network connection (#4.3.0)"
	case HomeDirError:
		return "451 qq trouble in home directory (#4.3.0)"
	case QueueDirError, QueuePIDError, QueueMessError, QueueIntdError, QueueTodoError:
		return "451 qq trouble creating files in queue (#4.3.0)"
	case TempFail:
		return "451 mail server temporarily rejected message (#4.3.0)"
	case ConnTimeout:
		return "451 connection to mail server timed out (#4.4.1)"
	case ConnRejected:
		return "451 connection to mail server rejected (#4.4.1)"
	case ConnFailed:
		return "451 communication with mail server failed (#4.4.2)"
	case InternalBug, BadEnvelope:
		return "451 qq internal bug (#4.3.0)"
	}
	if c.Permanent() {
		return "554 qq permanent problem (#5.3.0)"
	}
	return "451 qq temporary problem (#4.3.0)"
}

// CustomReply is the reply qmail-smtpd prints for exit 82 with the given
// error-fd text: a leading D means permanent (554), Z temporary (451).
func CustomReply(text string) string {
	if text == "" {
		return SMTPReply(InternalBug)
	}
	switch text[0] {
	case 'D':
		return "554 " + text[1:]
	case 'Z':
		return "451 " + text[1:]
	}
	return SMTPReply(InternalBug)
}
