// Command simscanbench runs simscan's benchmark matrix: every policy
// (pass-through; attachments only; attachments and clamd; attachments,
// clamd and spamd) against every message (text of 5 KB and 10 KB, 100 KB
// with a PDF attachment, 10 MB with one attachment, and a virus with every
// scanner on). It runs simscan exactly as qmail-smtpd does (message on a
// pipe at fd 0, envelope on a pipe at fd 1) with the recording qmail-queue
// as its qmail-queue, and compares each cell with its floor: the same
// recorder run directly on the same message, plus, for cells with
// scanners, clamd's and spamd's own latency measured directly over their
// sockets.
//
// It prints a table on stdout and writes the numbers as JSON;
// bench/README.md says how to read them. scripts/bench.sh ("make bench")
// builds what it needs, starts the test clamd and spamd and runs it.
//
// Usage:
//
//	simscanbench -recorder PATH -limitrun PATH [-simscan bin/simscan] [-clamd unix:SOCK]
//	    [-spamd unix:SOCK] [-spamd-log FILE] [-n 200] [-c 16]
//	    [-json bench/out/results.json] [-workdir DIR] [-cells REGEXP]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run parses the flags and runs the matrix. It returns the exit code: 0
// when every cell ran and delivered what it should (a missed target is
// not a failure: it is what the table reports), 1 when a cell failed, 2
// for bad usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("simscanbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.simscan, "simscan", "bin/simscan", "the simscan binary")
	fs.StringVar(&o.recorder, "recorder", "", "the recording qmail-queue (testdata/qmail-queue-recorder, built)")
	fs.StringVar(&o.limitrun, "limitrun", "", "bench/cmd/limitrun, built: measures peak memory")
	fs.StringVar(&o.clamd, "clamd", "", "clamd address, unix:/path (cells with clamd are left out without it)")
	fs.StringVar(&o.spamd, "spamd", "", "spamd address, unix:/path or host:port (cells with spamd are left out without it)")
	fs.StringVar(&o.spamdLog, "spamd-log", "", "spamd's log, to count the messages it checked during the virus cell")
	fs.IntVar(&o.runs, "n", 200, "sequential deliveries per cell, and deliveries of the concurrent run")
	fs.IntVar(&o.concurrency, "c", 16, "concurrent deliveries for the throughput run")
	fs.StringVar(&o.jsonPath, "json", "bench/out/results.json", "where to write the results as JSON (\"\" for nowhere)")
	fs.StringVar(&o.workBase, "workdir", "", "directory for simscan's work directories (default: a new directory in /dev/shm when it is tmpfs, else in $TMPDIR)")
	fs.StringVar(&o.diskBase, "diskdir", os.TempDir(), "directory on an ordinary file system for the pass-through row with its work directory on disk (\"\" to leave it out)")
	fs.StringVar(&o.cells, "cells", "", "run only the cells whose \"policy/message\" name matches this regular expression")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || o.recorder == "" || o.limitrun == "" || o.runs < 1 || o.concurrency < 1 {
		fmt.Fprintln(stderr, "usage: simscanbench -recorder PATH -limitrun PATH [flags]; -h lists them")
		return 2
	}
	b, err := newBench(o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "simscanbench: %v\n", err)
		return 1
	}
	defer b.close()
	rep, err := b.matrix(ctx)
	if rep != nil {
		rep.table(stdout)
		if o.jsonPath != "" {
			if werr := rep.writeJSON(o.jsonPath); werr != nil {
				fmt.Fprintf(stderr, "simscanbench: %v\n", werr)
				return 1
			}
			fmt.Fprintf(stdout, "\nresults: %s\n", o.jsonPath)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "simscanbench: %v\n", err)
		return 1
	}
	return 0
}
