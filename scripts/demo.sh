#!/usr/bin/env bash
# make demo: run the built simscan, exactly as qmail-smtpd runs it, on the
# sample messages in testdata/demo. Built-in defaults apply, except that the
# work directory and qmail-queue (a recording stand-in) live in a temporary
# directory, and ssattach bans .exe, .scr, .com, .pif and .bat. No daemons
# are needed.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x bin/simscan ] || { echo "demo: run make build first" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/simscan-demo.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/control" "$tmp/work" "$tmp/queued"
go build -o "$tmp/qmail-queue" ./testdata/qmail-queue-recorder
cp testdata/demo/ssattach "$tmp/control/ssattach"
cat > "$tmp/control/simscan.conf" <<CONF
workdir=$tmp/work
qmailqueue=$tmp/qmail-queue
CONF

echo "simscan $(bin/simscan -v | cut -d' ' -f2), control directory $tmp/control"
echo "banned extensions: $(tr '\n' ' ' < "$tmp/control/ssattach")"
echo
queued=0 refused=0
for msg in testdata/demo/*.eml; do
	name=$(basename "$msg")
	# fd 1 carries the envelope; fd 4 is the custom-error pipe of a patched
	# qmail-smtpd.
	mkfifo "$tmp/err4"
	cat "$tmp/err4" > "$tmp/err4.txt" &
	reader=$!
	set +e
	SIMSCAN_CONTROLDIR="$tmp/control" TCPREMOTEIP=192.0.2.25 RECORDER_DIR="$tmp/queued" \
		bin/simscan < "$msg" 1< <(printf 'Falice@example.org\0Tbob@example.com\0\0') \
		2> "$tmp/log" 4> "$tmp/err4"
	code=$?
	set -e
	wait $reader
	rm -f "$tmp/err4"
	case $code in
	0)  reply="250 ok"; queued=$((queued + 1)) ;;
	31) reply="554 mail server permanently rejected message (#5.3.0)"; refused=$((refused + 1)) ;;
	82) text=$(cat "$tmp/err4.txt"); reply="$([ "${text:0:1}" = D ] && echo 554 || echo 451) ${text:1}"; refused=$((refused + 1)) ;;
	*)  reply="451 (exit $code)"; refused=$((refused + 1)) ;;
	esac
	printf '%-28s exit %-3s %s\n' "$name" "$code" "$reply"
	sed 's/^/    /' "$tmp/log"
done
echo
echo "$queued queued (see the recording qmail-queue), $refused refused; work directory now holds $(ls "$tmp/work" | wc -l) entries"
