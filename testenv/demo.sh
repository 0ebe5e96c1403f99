#!/usr/bin/env bash
# testenv/demo.sh - the body of `make demo` (which first starts the servers and
# builds bin/binflow): loads the sample schema, migrates the downstream, runs
# binflow and a live workload in the background, and every 2 seconds shows the
# derived tables next to the same numbers recomputed with SQL on the upstream.
#
# DEMO_SECONDS (default 60; 0 = until Ctrl-C), DEMO_CONFIG (default
# config.toml), BINFLOW (default bin/binflow). DEMO_FRESH (default 1) starts
# from empty shop.orders and derived tables (the flows snapshot the seeded
# customers, then stream); DEMO_FRESH=0 keeps both and lets binflow resume
# from its checkpoints. Stops binflow and the workload
# on exit; the servers keep running (make testenv-down stops them).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
ENV_SH="$REPO/testenv/env.sh"
CONFIG="${DEMO_CONFIG:-config.toml}"
BINFLOW="${BINFLOW:-bin/binflow}"
SECONDS_TOTAL="${DEMO_SECONDS:-60}"
STATE_DIR="${BINFLOW_TESTENV_DIR:-$REPO/.testenv}"
LOG="$STATE_DIR/demo-binflow.log"
LOAD_LOG="$STATE_DIR/demo-load.log"

[[ "$SECONDS_TOTAL" =~ ^[0-9]+$ ]] || {
	echo "demo: DEMO_SECONDS must be a number of seconds" >&2
	exit 2
}
[[ -x "$BINFLOW" ]] || {
	echo "demo: $BINFLOW not found; run: make build" >&2
	exit 1
}
[[ -f "$CONFIG" ]] || {
	echo "demo: $CONFIG not found" >&2
	exit 1
}
mkdir -p "$STATE_DIR"

up() { "$ENV_SH" sql upstream "$@"; }
down() { "$ENV_SH" sql downstream "$@"; }

binflow_pid=""
load_pid=""
cleaned=0
cleanup() {
	((cleaned)) && return
	cleaned=1
	if [[ -n "$load_pid" ]] && kill -0 "$load_pid" 2>/dev/null; then
		kill -TERM "$load_pid" 2>/dev/null || true
		wait "$load_pid" 2>/dev/null || true
	fi
	if [[ -n "$binflow_pid" ]] && kill -0 "$binflow_pid" 2>/dev/null; then
		echo "demo: stopping binflow (pid $binflow_pid)"
		kill -TERM "$binflow_pid" 2>/dev/null || true
		local i
		for ((i = 0; i < 100; i++)); do
			kill -0 "$binflow_pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$binflow_pid" 2>/dev/null; then
			echo "demo: binflow did not stop within 10s; killing it"
			kill -KILL "$binflow_pid" 2>/dev/null || true
		fi
		wait "$binflow_pid" 2>/dev/null || true
	fi
}
trap cleanup EXIT
trap 'exit 0' INT TERM

if [[ "${DEMO_FRESH:-1}" == 1 ]]; then
	echo "demo: fresh start: dropping shop on the upstream and derived on the downstream (DEMO_FRESH=0 keeps them)"
	up -e "DROP DATABASE IF EXISTS shop"
	down -e "DROP DATABASE IF EXISTS derived"
fi
echo "demo: creating database derived on the downstream"
down -e "CREATE DATABASE IF NOT EXISTS derived CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
echo "demo: loading testenv/sample/shop.sql on the upstream"
up <testenv/sample/shop.sql
echo "demo: $BINFLOW migrate -c $CONFIG"
"$BINFLOW" migrate -c "$CONFIG"

echo "demo: starting $BINFLOW run -c $CONFIG (log: ${LOG#"$REPO"/})"
"$BINFLOW" run -c "$CONFIG" >"$LOG" 2>&1 </dev/null &
binflow_pid=$!
# Give binflow time to connect and take its start position before the load.
sleep 2
if ! kill -0 "$binflow_pid" 2>/dev/null; then
	echo "demo: binflow exited at once; its log:" >&2
	tail -n 40 "$LOG" >&2 || true
	exit 1
fi

echo "demo: starting testenv/sample/load.sh (log: ${LOAD_LOG#"$REPO"/})"
testenv/sample/load.sh >"$LOAD_LOG" 2>&1 </dev/null &
load_pid=$!

# side_by_side LEFT_TITLE LEFT RIGHT_TITLE RIGHT: two text blocks in columns.
side_by_side() {
	awk -v lt="$1" -v rt="$3" -v left="$2" -v right="$4" 'BEGIN {
		nl = split(left, L, "\n"); nr = split(right, R, "\n")
		w = length(lt)
		for (i = 1; i <= nl; i++) if (length(L[i]) > w) w = length(L[i])
		n = (nl > nr ? nl : nr)
		printf "%-" w "s    %s\n", lt, rt
		for (i = 1; i <= n; i++) printf "%-" w "s    %s\n", (i <= nl ? L[i] : ""), (i <= nr ? R[i] : "")
	}'
}

DERIVED_TOTALS="SELECT * FROM derived.customer_totals ORDER BY customer_id LIMIT 20"
DERIVED_JOIN="SELECT id, customer_id, amount, customer_name, country FROM derived.orders_enriched ORDER BY id"
UPSTREAM_JOIN="SELECT o.id, o.customer_id, o.amount, c.name, c.country FROM shop.orders o LEFT JOIN shop.customers c ON c.id = o.customer_id ORDER BY o.id"
UPSTREAM_TOTALS="SELECT customer_id, COUNT(*), SUM(amount) FROM shop.orders GROUP BY customer_id ORDER BY customer_id LIMIT 20"

sync_status() {
	local d u dc uc dj uj
	d="$(down -N -B -e "SELECT customer_id, order_count, total_amount FROM derived.customer_totals ORDER BY customer_id" 2>&1 || true)"
	u="$(up -N -B -e "SELECT customer_id, COUNT(*), SUM(amount) FROM shop.orders GROUP BY customer_id ORDER BY customer_id" 2>&1 || true)"
	dc="$(down -N -B -e "SELECT COUNT(*) FROM derived.orders_copy" 2>&1 || true)"
	uc="$(up -N -B -e "SELECT COUNT(*) FROM shop.orders" 2>&1 || true)"
	dj="$(down -N -B -e "$DERIVED_JOIN" 2>&1 || true)"
	uj="$(up -N -B -e "$UPSTREAM_JOIN" 2>&1 || true)"
	if [[ "$d" == "$u" && "$dc" == "$uc" && "$dj" == "$uj" ]]; then
		echo "customer_totals, orders_copy and orders_enriched match upstream"
	else
		echo "derived differs from upstream (binflow lagging, or a bug): orders_copy $dc rows, shop.orders $uc rows"
	fi
}

render() {
	local elapsed="$1" state
	if kill -0 "$binflow_pid" 2>/dev/null; then state="running (pid $binflow_pid)"; else state="EXITED"; fi
	echo "binflow demo - ${elapsed}s$( ((SECONDS_TOTAL)) && echo " of ${SECONDS_TOTAL}s") - binflow $state - Ctrl-C to stop"
	echo
	side_by_side "downstream: derived.customer_totals" \
		"$(down -t -e "$DERIVED_TOTALS" 2>&1 || true)" \
		"upstream: SQL recomputation from shop.orders" \
		"$(up -t -e "$UPSTREAM_TOTALS" 2>&1 || true)"
	echo
	side_by_side "downstream: derived.orders_copy" \
		"$(down -t -e "SELECT COUNT(*) FROM derived.orders_copy" 2>&1 || true)" \
		"upstream: shop.orders" \
		"$(up -t -e "SELECT COUNT(*) FROM shop.orders" 2>&1 || true)"
	echo
	echo "downstream: derived.big_orders (latest 10)"
	down -t -e "SELECT * FROM derived.big_orders ORDER BY id DESC LIMIT 10" 2>&1 || true
	echo
	side_by_side "downstream: derived.orders_enriched (join, latest 8)" \
		"$(down -t -e "SELECT id, customer_id AS cust, customer_name, country FROM derived.orders_enriched ORDER BY id DESC LIMIT 8" 2>&1 || true)" \
		"upstream: orders LEFT JOIN customers" \
		"$(up -t -e "SELECT o.id, o.customer_id AS cust, c.name AS customer_name, c.country FROM shop.orders o LEFT JOIN shop.customers c ON c.id = o.customer_id ORDER BY o.id DESC LIMIT 8" 2>&1 || true)"
	echo
	echo "status: $(sync_status)"
	echo
	echo "workload (testenv/sample/load.sh):"
	tail -n 5 "$LOAD_LOG" 2>/dev/null | sed 's/^/  /' || true
	if [[ "$state" == EXITED ]]; then
		echo
		echo "binflow log (${LOG#"$REPO"/}):"
		tail -n 15 "$LOG" 2>/dev/null | sed 's/^/  /' || true
	fi
}

start=$SECONDS
while :; do
	elapsed=$((SECONDS - start))
	if ((SECONDS_TOTAL && elapsed > SECONDS_TOTAL)); then
		elapsed=$SECONDS_TOTAL
	fi
	frame="$(render "$elapsed")"
	if [[ -t 1 ]]; then
		printf '\033[H\033[2J%s\n' "$frame"
	else
		printf '%s\n%s\n' "----------------------------------------------------------------" "$frame"
	fi
	if ((SECONDS_TOTAL && elapsed >= SECONDS_TOTAL)); then
		break
	fi
	if ! kill -0 "$binflow_pid" 2>/dev/null; then
		echo "demo: binflow exited; see ${LOG#"$REPO"/}" >&2
		exit 1
	fi
	sleep 2
done

# Stop the workload, give binflow a moment to catch up, and say whether the
# derived tables ended equal to the upstream recomputation.
kill -TERM "$load_pid" 2>/dev/null || true
wait "$load_pid" 2>/dev/null || true
load_pid=""
result=""
for ((i = 0; i < 10; i++)); do
	result="$(sync_status)"
	[[ "$result" == *match* ]] && break
	sleep 1
done
echo
echo "demo: final check: $result"
echo "demo: binflow log in ${LOG#"$REPO"/}; servers keep running (make testenv-down stops them)"
