#!/usr/bin/env bash
# Two mail2fax bridges sharing one PostgreSQL queue, on this host, for trying it out.
#
# Starts a throw-away PostgreSQL server (initdb + pg_ctl from the installed server programs,
# listening only on a unix socket in a temporary directory) and two bridges in dry-run mode on
# SMTP ports 2525 and 2526, each with its own data directory. Mail either port; either bridge
# sends the fax. Kill one (kill -9 its pid) and the other takes over its work after the lease
# (MAIL2FAX_LEASE, 60 s by default). Ctrl-C stops everything and removes the temporary files.
#
#   examples/two-bridges.sh                      # from the repository, after `pip install .`
#   examples/send-test-fax.sh 14155551212 document.pdf 127.0.0.1 2526
set -euo pipefail

MAIL2FAX=${MAIL2FAX:-mail2fax}
PORTS=${PORTS:-2525 2526}  # SMTP ports of the two bridges (0: any free port, logged at start)
BINDIR=${PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
if [ -z "$BINDIR" ] || [ ! -x "$BINDIR/initdb" ]; then
    echo "PostgreSQL's server programs are needed: apt-get install postgresql (or set PG_BINDIR)" >&2
    exit 1
fi

WORK=$(mktemp -d /tmp/mail2fax-bridges.XXXXXX)
AS_POSTGRES=()
if [ "$(id -u)" = 0 ]; then
    chown postgres: "$WORK"  # PostgreSQL refuses to run as root
    AS_POSTGRES=(runuser -u postgres --)
fi
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    "${AS_POSTGRES[@]}" "$BINDIR/pg_ctl" -D "$WORK/pg" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

"${AS_POSTGRES[@]}" "$BINDIR/initdb" -D "$WORK/pg" -U postgres -A trust -E UTF8 >/dev/null
"${AS_POSTGRES[@]}" "$BINDIR/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w \
    -o "-k $WORK -c listen_addresses=''" start >/dev/null

export MAIL2FAX_BACKEND=dry-run
export MAIL2FAX_DATABASE_URL="postgresql:///postgres?host=$WORK&user=postgres"
export MAIL2FAX_RELAY__PORT=${MAIL2FAX_RELAY__PORT:-25}

n=0
for port in $PORTS; do
    n=$((n + 1))
    mkdir -p "$WORK/bridge$n"
    MAIL2FAX_DATA_DIR="$WORK/bridge$n" MAIL2FAX_SMTP__PORT=$port "$MAIL2FAX" serve &
    PIDS+=($!)
done
echo "bridges on ports $PORTS; queue in $MAIL2FAX_DATABASE_URL; Ctrl-C stops" >&2
wait
