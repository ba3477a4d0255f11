// Command simscan is the QMAILQUEUE filter: qmail-smtpd runs it instead of
// qmail-queue. It spools the message (fd 0) and envelope (fd 1) into a work
// directory, runs the checks the rules ask for, and then either hands the
// message to qmail-queue or answers with a qmail-queue error code.
//
// simscan takes no arguments in queue mode; "simscan -v" prints the version.
package main

import (
	"os"
	"time"

	"github.com/gosimscan/simscan/control"
	"github.com/gosimscan/simscan/qmail"
)

// version is set at build time.
var version = "dev"

func main() {
	// Look at fds 4 and 6 before anything opens a file of its own.
	sys := &system{
		stdin:   os.Stdin,
		envIn:   os.Stdout,
		stdout:  os.Stdout,
		stderr:  os.Stderr,
		getenv:  os.Getenv,
		environ: os.Environ,
		now:     time.Now,
		pid:     os.Getpid(),
		ppid:    os.Getppid(),
		setuid:  os.Getuid() != os.Geteuid() || os.Getgid() != os.Getegid(),
		exec:    qmail.Exec,
		errFDs:  qmail.ErrorFDs,
		control: control.DefaultDir,
	}
	os.Exit(run(os.Args[1:], sys))
}
