// Command simscanctl is simscan's admin tool. It is never installed setuid.
//
//	simscanctl check [--from ADDR] [--rcpt ADDR]... [--json] FILE
//	simscanctl quarantine list|show|release|delete|purge ...
//	simscanctl stats [--json] [LOGFILE...]
//	simscanctl cleanup [--older-than DURATION]
//
// The control directory is the built-in one, or SIMSCAN_CONTROLDIR.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/gosimscan/simscan/control"
)

// version is set at build time.
var version = "dev"

// env is what a subcommand may touch, so tests can drive it directly.
type env struct {
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
	getenv  func(string) string
	control string // the control directory
}

// command is one subcommand. run returns the exit code.
type command struct {
	summary string
	run     func(e *env, args []string) int
}

// commands is filled by each subcommand's file.
var commands = map[string]command{}

func main() {
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, control: control.DefaultDir}
	if d := os.Getenv("SIMSCAN_CONTROLDIR"); d != "" {
		e.control = d
	}
	os.Exit(run(e, os.Args[1:]))
}

func run(e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stderr)
		return 2
	}
	if args[0] == "-v" || args[0] == "version" {
		fmt.Fprintf(e.stdout, "simscanctl %s\n", version)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "simscanctl: unknown command %q\n", args[0])
		usage(e.stderr)
		return 2
	}
	return c.run(e, args[1:])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: simscanctl COMMAND [ARGS]")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-11s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "control directory: SIMSCAN_CONTROLDIR or "+strings.TrimSpace(control.DefaultDir))
}

// errorf prints a simscanctl error line.
func (e *env) errorf(format string, args ...any) {
	fmt.Fprintf(e.stderr, "simscanctl: "+format+"\n", args...)
}
