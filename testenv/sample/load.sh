#!/usr/bin/env bash
# testenv/sample/load.sh [N] - a small live workload on the upstream's
# shop.orders for the demo: random inserts, updates (some moving an order to
# another customer and changing its amount), deletes, the odd multi-row
# transaction and customers moving country, a few per second, printing each
# one. Runs N operations, or until
# killed when N is not given.
#
# Needs testenv/sample/shop.sql loaded on the upstream. LOAD_INTERVAL sets the
# pause between operations in seconds (default 0.3).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ENV_SH="$HERE/../env.sh"
ITERATIONS="${1:-0}"
INTERVAL="${LOAD_INTERVAL:-0.3}"
CUSTOMERS=10
STATUSES=(new paid shipped cancelled)
COUNTRIES=(GB US NL CH PL FR DE JP)

[[ "$ITERATIONS" =~ ^[0-9]+$ ]] || {
	echo "usage: $0 [N]" >&2
	exit 2
}

done_ops=0
trap 'echo "load: stopped after $done_ops operations"; exit 0' INT TERM

sql() { "$ENV_SH" sql upstream --batch --skip-column-names -e "$1"; }

amount() { printf '%d.%02d' $((RANDOM % 900 + 5)) $((RANDOM % 100)); }
customer() { echo $((RANDOM % CUSTOMERS + 1)); }
status() { echo "${STATUSES[RANDOM % ${#STATUSES[@]}]}"; }
note() {
	if ((RANDOM % 3 == 0)); then echo NULL; else echo "'load.sh $RANDOM'"; fi
}

insert_sql() {
	echo "INSERT INTO shop.orders (customer_id, amount, status, note, created_at) VALUES ($(customer), $(amount), '$(status)', $(note), NOW(6))"
}

# pick prints "id customer_id amount" of a random order, or nothing.
pick() { sql "SELECT id, customer_id, amount FROM shop.orders ORDER BY RAND() LIMIT 1" | tr '\t' ' '; }

do_insert() {
	local q
	q="$(insert_sql)"
	sql "$q; SELECT CONCAT('insert order ', LAST_INSERT_ID(), ': customer ', customer_id, ', amount ', amount, ', ', status) FROM shop.orders WHERE id = LAST_INSERT_ID()"
}

do_transaction() {
	local n=$((RANDOM % 3 + 2)) q="START TRANSACTION;" i
	for ((i = 0; i < n; i++)); do q+="$(insert_sql);"; done
	q+="COMMIT"
	sql "$q"
	echo "transaction: insert $n orders"
}

do_update() {
	local id cust amt new_cust new_amt st
	read -r id cust amt < <(pick) || true
	if [[ -z "${id:-}" ]]; then
		do_insert
		return
	fi
	case $((RANDOM % 3)) in
	0)
		st="$(status)"
		sql "UPDATE shop.orders SET status = '$st' WHERE id = $id"
		echo "update order $id: status -> $st"
		;;
	1)
		new_amt="$(amount)"
		sql "UPDATE shop.orders SET amount = $new_amt WHERE id = $id"
		echo "update order $id: amount $amt -> $new_amt"
		;;
	2)
		new_cust="$(customer)"
		new_amt="$(amount)"
		sql "UPDATE shop.orders SET customer_id = $new_cust, amount = $new_amt WHERE id = $id"
		echo "update order $id: customer $cust -> $new_cust, amount $amt -> $new_amt"
		;;
	esac
}

# do_customer moves a customer to another country: the join flow's derived
# rows of that customer's orders change with it.
do_customer() {
	local cust country
	cust="$(customer)"
	country="${COUNTRIES[RANDOM % ${#COUNTRIES[@]}]}"
	sql "UPDATE shop.customers SET country = '$country' WHERE id = $cust"
	echo "update customer $cust: country -> $country"
}

do_delete() {
	local id cust amt
	read -r id cust amt < <(pick) || true
	if [[ -z "${id:-}" ]]; then
		do_insert
		return
	fi
	sql "DELETE FROM shop.orders WHERE id = $id"
	echo "delete order $id (customer $cust, amount $amt)"
}

while ((ITERATIONS == 0 || done_ops < ITERATIONS)); do
	r=$((RANDOM % 100))
	if ((r < 40)); then
		do_insert
	elif ((r < 50)); then
		do_transaction
	elif ((r < 76)); then
		do_update
	elif ((r < 82)); then
		do_customer
	else
		do_delete
	fi
	done_ops=$((done_ops + 1))
	sleep "$INTERVAL"
done
echo "load: done, $done_ops operations"
