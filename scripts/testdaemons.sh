#!/bin/bash
# testdaemons.sh: run the test clamd and spamd by hand or for benchmarks,
# with the same configuration as internal/testenv (testdata/daemons).
#
#   scripts/testdaemons.sh start DIR   start both, wait until they answer,
#                                      print CLAMD_UNIX=, CLAMD_TCP=,
#                                      SPAMD_TCP=, SPAMD_UNIX= lines (also
#                                      written to DIR/env for sourcing)
#   scripts/testdaemons.sh stop DIR    stop them by the PIDs kept in DIR
#
# Both listen on free loopback ports only. Logs: DIR/clamd/clamd.log and
# DIR/spamd/spamd.log. As root, spamd checks mail as "nobody" (it refuses to
# as root) and clamd runs as root. scripts/test-deps.sh installs them.
set -euo pipefail

prog=testdaemons
root=$(cd "$(dirname "$0")/.." && pwd)
daemons=$root/testdata/daemons
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
timeout=30

die() {
	echo "$prog: $*" >&2
	exit 1
}

usage() {
	echo "usage: $prog start DIR | stop DIR" >&2
	exit 2
}

# free_port prints a loopback port that nothing listens on.
free_port() {
	local port i
	for i in $(seq 100); do
		port=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return
		fi
	done
	die "no free port found"
}

# fill replaces @DIR@ and @PORT@ in a template file.
fill() { # file dir port
	sed -e "s|@DIR@|$2|g" -e "s|@PORT@|$3|g" "$1"
}

# ask sends a request to 127.0.0.1:PORT and prints the first reply line (or
# the NUL-terminated reply, for clamd).
ask() { # port request
	local reply
	exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
	printf "$2" >&3
	IFS= read -r -d '' -t 2 reply <&3 || true
	exec 3<&-
	printf '%s' "${reply%%$'\r'*}"
}

# wait_for polls until ask returns the wanted answer; on failure it shows the
# log tail.
wait_for() { # name pid port request want log
	local start=$SECONDS
	while [ $((SECONDS - start)) -lt $timeout ]; do
		if [ "$(ask "$3" "$4" 2>/dev/null)" = "$5" ]; then
			return 0
		fi
		if ! kill -0 "$2" 2>/dev/null; then
			tail -n 30 "$6" >&2 || true
			die "$1 exited before answering"
		fi
		sleep 0.05
	done
	tail -n 30 "$6" >&2 || true
	die "$1 did not answer within ${timeout}s"
}

need() { # binary package
	command -v "$1" >/dev/null 2>&1 || die "$1 not found: install Debian's $2 (scripts/test-deps.sh does)"
}

# is_ours tells whether PID still runs the daemon we started.
is_ours() { # pid name
	kill -0 "$1" 2>/dev/null && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q "$2"
}

start() {
	local dir=$1
	need clamd clamav-daemon
	need spamd spamd
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if [ -s "$dir/pids" ]; then
		while read -r name pid; do
			if is_ours "$pid" "$name"; then
				die "$name already runs from $dir (pid $pid); stop it first"
			fi
		done <"$dir/pids"
	fi
	: >"$dir/pids"

	# clamd: runs in the foreground; setsid keeps it out of our terminal.
	local c=$dir/clamd cport
	rm -rf "$c"
	mkdir -p "$c/db" "$c/tmp"
	chmod 755 "$c" "$c/db"
	chmod 700 "$c/tmp"
	cp "$daemons/test.ndb" "$c/db/"
	cport=$(free_port)
	fill "$daemons/clamd.conf.in" "$c" "$cport" >"$c/clamd.conf"
	local t0=$SECONDS
	setsid clamd --config-file="$c/clamd.conf" </dev/null >>"$c/clamd.stderr" 2>&1 &
	local cpid=$!
	echo "clamd $cpid" >>"$dir/pids"

	# spamd: arguments from spamd.args, one per line.
	local s=$dir/spamd sport line args=()
	rm -rf "$s"
	mkdir -p "$s/home"
	chmod 755 "$s"
	sport=$(free_port)
	# A port released by free_port can come back at once: clamd may not
	# have bound its own yet.
	while [ "$sport" = "$cport" ]; do
		sport=$(free_port)
	done
	while IFS= read -r line; do
		case "$line" in "" | \#*) continue ;; esac
		args+=("$(printf '%s\n' "$line" | sed -e "s|@DIR@|$s|g" -e "s|@PORT@|$sport|g")")
	done <"$daemons/spamd.args"
	if [ "$(id -u)" = 0 ]; then
		chown nobody "$s/home"
		args+=(--username=nobody)
	fi
	HOME=$s/home setsid spamd "${args[@]}" </dev/null >>"$s/spamd.stderr" 2>&1 &
	local spid=$!
	echo "spamd $spid" >>"$dir/pids"

	wait_for clamd "$cpid" "$cport" 'zPING\0' PONG "$c/clamd.stderr"
	echo "$prog: clamd ready after $((SECONDS - t0))s (pid $cpid)" >&2
	wait_for spamd "$spid" "$sport" 'PING SPAMC/1.5\r\n\r\n' 'SPAMD/1.5 0 PONG' "$s/spamd.stderr"
	echo "$prog: spamd ready after $((SECONDS - t0))s (pid $spid)" >&2

	cat >"$dir/env" <<EOF
CLAMD_UNIX=$c/clamd.sock
CLAMD_TCP=127.0.0.1:$cport
SPAMD_TCP=127.0.0.1:$sport
SPAMD_UNIX=$s/spamd.sock
EOF
	cat "$dir/env"
}

stop() {
	local dir=$1 name pid i
	if [ ! -s "$dir/pids" ]; then
		echo "$prog: no daemons recorded in $dir" >&2
		return 0
	fi
	while read -r name pid; do
		if ! is_ours "$pid" "$name"; then
			continue
		fi
		kill -TERM "$pid"
		for i in $(seq 200); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "$prog: $name (pid $pid) ignored SIGTERM; killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
		echo "$prog: stopped $name (pid $pid)" >&2
	done <"$dir/pids"
	: >"$dir/pids"
}

[ $# -eq 2 ] || usage
case "$1" in
start) start "$2" ;;
stop) stop "$2" ;;
*) usage ;;
esac
