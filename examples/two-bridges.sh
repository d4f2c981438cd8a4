#!/usr/bin/env bash
# Two mail2fax bridges sharing one PostgreSQL queue, on this host, for trying it out.
#
# Starts a throw-away PostgreSQL server (initdb + pg_ctl from the installed server programs,
# listening only on a unix socket in a temporary directory) and two bridges in dry-run mode on
# SMTP ports 2525 and 2526, each with its own data directory. Mail either port; either bridge
# sends the fax. Kill one (kill -9 its pid, printed at start) and the other takes over its work
# after the lease (MAIL2FAX_LEASE, 60 s by default); the script prints the command that restarts
# it. Ctrl-C stops everything and removes the temporary files.
#
#   . .venv/bin/activate && examples/two-bridges.sh   # from the repository, after `pip install .`
#   examples/send-test-fax.sh 14155551212 document.pdf 127.0.0.1 2526
#
# MAIL2FAX_* variables set when it starts (MAIL2FAX_FAX_DOMAINS, MAIL2FAX_RELAY__PORT …) apply
# to both bridges, and go into bridges.env in the temporary directory with the database URL, so
# `mail2fax --env-file …/bridges.env queue list` from another terminal sees the shared queue.
set -euo pipefail

MAIL2FAX=${MAIL2FAX:-mail2fax}
PORTS=${PORTS:-2525 2526}  # SMTP ports of the two bridges (0: any free port, logged at start)
if ! command -v "$MAIL2FAX" >/dev/null; then
    echo "two-bridges.sh: $MAIL2FAX is not installed here: activate the virtualenv it is in" \
        "(. .venv/bin/activate) or set MAIL2FAX=/path/to/bin/mail2fax" >&2
    exit 1
fi
MAIL2FAX=$(command -v "$MAIL2FAX")
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
    for pid in "${PIDS[@]}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    "${AS_POSTGRES[@]}" "$BINDIR/pg_ctl" -D "$WORK/pg" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"${AS_POSTGRES[@]}" "$BINDIR/initdb" -D "$WORK/pg" -U postgres -A trust -E UTF8 >/dev/null
"${AS_POSTGRES[@]}" "$BINDIR/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w \
    -o "-k $WORK -c listen_addresses=''" start >/dev/null

export MAIL2FAX_BACKEND=dry-run
export MAIL2FAX_DATABASE_URL="postgresql:///postgres?host=$WORK&user=postgres"
export MAIL2FAX_RELAY__PORT=${MAIL2FAX_RELAY__PORT:-25}
ENV_FILE="$WORK/bridges.env"
env | grep '^MAIL2FAX_' | grep -v '^MAIL2FAX_\(DATA_DIR\|SMTP__PORT\)=' \
    | sed "s/=\(.*\)/='\1'/" >"$ENV_FILE"

n=0
RESTART=()
for port in $PORTS; do
    n=$((n + 1))
    mkdir -p "$WORK/bridge$n"
    MAIL2FAX_DATA_DIR="$WORK/bridge$n" MAIL2FAX_SMTP__PORT=$port "$MAIL2FAX" --env-file "$ENV_FILE" serve &
    PIDS+=($!)
    RESTART+=("MAIL2FAX_DATA_DIR=$WORK/bridge$n MAIL2FAX_SMTP__PORT=$port $MAIL2FAX --env-file $ENV_FILE serve")
    echo "bridge $n: pid $!, SMTP port $port, data directory $WORK/bridge$n" >&2
done
echo "bridges on ports $PORTS; queue in $MAIL2FAX_DATABASE_URL; Ctrl-C stops" >&2
echo "the shared queue: $MAIL2FAX --env-file $ENV_FILE queue list --all" >&2

# Report each bridge that ends (killed, or failed to start); stop when none is left.
while :; do
    alive=0
    for i in "${!PIDS[@]}"; do
        pid=${PIDS[$i]}
        [ -n "$pid" ] || continue
        if kill -0 "$pid" 2>/dev/null; then
            alive=$((alive + 1))
            continue
        fi
        status=0
        wait "$pid" || status=$?
        PIDS[i]=""
        echo "bridge $((i + 1)) (pid $pid) ended with status $status; to start it again, in another" \
            "terminal (stop it there before stopping this script): ${RESTART[$i]}" >&2
    done
    if [ "$alive" = 0 ]; then
        echo "no bridge left running" >&2
        exit 1
    fi
    sleep 1
done
