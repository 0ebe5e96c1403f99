package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// lookupFlow enriches orders with their customer's name and country read
// from the upstream, and the country's label read from a downstream table.
const lookupFlow = `
[[flows]]
name = "orders_named"
tables = ["SHOP.orders"]
  [[flows.functions]]
  kind = "lookup"
  table = "SHOP.customers"
  on = { customer_id = "id" }
  columns = ["name", "country"]
  cache_rows = 1000
  cache_ttl = "200ms"
  [[flows.functions]]
  kind = "lookup"
  from = "downstream"
  table = "DERIVED.country_names"
  on = { country = "code" }
  columns = ["label"]
  [[flows.functions]]
  kind = "project"
  columns = ["id", "customer_id", "amount", "name", "label"]
  [[flows.functions]]
  kind = "sink"
  table = "orders_named"
  key = ["id"]
`

// Lookups enrich orders from the upstream and the downstream: while the
// looked-up tables hold still, the derived table equals the join computed
// from both; a customer renamed later changes the orders processed after
// the cache expires, not those written before (the documented semantics).
func TestLookupEnrichesFromUpstreamAndDownstream(t *testing.T) {
	e := newEnv(t, envOptions{extraFlow: lookupFlow})
	cfg := replaceShop(readFile(t, e.configPath), e.shop)
	writeFile(t, e.configPath, strings.ReplaceAll(cfg, "DERIVED.", e.derived+"."))
	d := "`" + e.derived + "`."
	e.exec(e.down, "CREATE TABLE "+d+"orders_named (id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL, amount DECIMAL(12,2) NOT NULL, name VARCHAR(100) NULL, label VARCHAR(40) NULL)")
	e.exec(e.down, "CREATE TABLE "+d+"country_names (code CHAR(2) PRIMARY KEY, label VARCHAR(40) NOT NULL)")
	labels := map[string]string{"FR": "France", "DE": "Germany", "JP": "Japan"} // BR and US have none
	for code, label := range labels {
		e.exec(e.down, "INSERT INTO "+d+"country_names VALUES (?, ?)", code, label)
	}
	e.seedCustomers(10)
	e.writeOrders(60)
	p := e.start()
	e.writeOrders(120)
	e.kill9(p)
	e.writeOrders(60)
	p = e.start()
	e.writeOrders(60)
	e.caughtUp(60 * time.Second)

	expected := func() []string {
		rows := e.snapshot(e.up, "SELECT o.id, o.customer_id, o.amount, c.name, c.country FROM `"+e.shop+"`.orders o LEFT JOIN `"+e.shop+"`.customers c ON c.id = o.customer_id")
		for i, r := range rows {
			// The last column is the country: replace it by its label.
			cut := strings.LastIndex(r, "|")
			label := "NULL"
			if l, ok := labels[r[cut+1:]]; ok {
				label = l
			}
			rows[i] = r[:cut+1] + label
		}
		return rows
	}
	derived := "SELECT id, customer_id, amount, name, IFNULL(label, 'NULL') FROM " + d + "orders_named"
	want := expected()
	if diff := diffRows(e.snapshot(e.down, derived), want); diff != "" {
		t.Fatalf("orders_named differs from the join computed on the upstream and downstream:\n%s\n(rows: %q)", diff, want[:min(3, len(want))])
	}
	var named, unnamed int
	if err := e.down.QueryRow("SELECT COUNT(name), COUNT(*) - COUNT(name) FROM "+d+"orders_named").Scan(&named, &unnamed); err != nil {
		t.Fatal(err)
	}
	if named == 0 || unnamed == 0 {
		t.Errorf("want orders with and without a customer; got %d and %d", named, unnamed)
	}

	// Customer 1 renamed: orders written before keep the old name; an order
	// processed after the cache's TTL gets the new one.
	e.exec(e.up, "UPDATE `"+e.shop+"`.customers SET name = 'renamed' WHERE id = 1")
	time.Sleep(300 * time.Millisecond)
	e.exec(e.up, "INSERT INTO `"+e.shop+"`.orders (id, customer_id, amount, status, created_at) VALUES (1000000, 1, 1.00, 'new', NOW(6))")
	e.caughtUp(30 * time.Second)
	var newName string
	if err := e.down.QueryRow("SELECT name FROM " + d + "orders_named WHERE id = 1000000").Scan(&newName); err != nil || newName != "renamed" {
		t.Errorf("order processed after the rename: name %q (%v), want renamed", newName, err)
	}
	var stale int
	if err := e.down.QueryRow("SELECT COUNT(*) FROM " + d + "orders_named WHERE customer_id = 1 AND name = 'customer 1'").Scan(&stale); err != nil {
		t.Fatal(err)
	}
	var before int
	if err := e.up.QueryRow("SELECT COUNT(*) FROM `" + e.shop + "`.orders WHERE customer_id = 1 AND id <> 1000000").Scan(&before); err != nil {
		t.Fatal(err)
	}
	if stale != before {
		t.Errorf("%d orders of customer 1 written before the rename keep the old name; want all %d (a lookup does not rewrite rows)", stale, before)
	}
	e.stop(p)
}

// seedCustomers inserts customers 1..n, named "customer N".
func (e *env) seedCustomers(n int) {
	e.t.Helper()
	for i := 1; i <= n; i++ {
		e.exec(e.up, "INSERT INTO `"+e.shop+"`.customers (id, name, country) VALUES (?, ?, ?)", i, fmt.Sprintf("customer %d", i), countries[i%len(countries)])
	}
}

// writeOrders writes n changes of orders only, for customers 1..12 (seed 10:
// some orders have none): inserts, updates moving orders between customers,
// deletes.
func (e *env) writeOrders(n int) {
	e.t.Helper()
	for i := 0; i < n; i++ {
		switch r := e.rng.Intn(10); {
		case r < 6 || e.nextID < 5:
			e.exec(e.up, "INSERT INTO `"+e.shop+"`.orders (customer_id, amount, status, created_at) VALUES (?, ?, 'new', NOW(6))", e.rng.Intn(12)+1, e.randomAmount())
			e.nextID++
		case r < 9:
			e.exec(e.up, "UPDATE `"+e.shop+"`.orders SET customer_id = ?, amount = ? WHERE id = ?", e.rng.Intn(12)+1, e.randomAmount(), e.rng.Int63n(e.nextID)+1)
		default:
			e.exec(e.up, "DELETE FROM `"+e.shop+"`.orders WHERE id = ?", e.rng.Int63n(e.nextID)+1)
		}
	}
}

// upstreamLookupFlow looks each order's customer up on the upstream.
const upstreamLookupFlow = `
[[flows]]
name = "orders_named"
tables = ["SHOP.orders"]
  [[flows.functions]]
  kind = "lookup"
  table = "SHOP.customers"
  on = { customer_id = "id" }
  columns = ["name", "country"]
  cache_rows = 100
  [[flows.functions]]
  kind = "project"
  columns = ["id", "customer_id", "amount", "name", "country"]
  [[flows.functions]]
  kind = "sink"
  table = "orders_named"
  key = ["id"]
`

// A lookup from the upstream writes into every store, through a kill -9:
// while customers hold still, the derived table equals orders LEFT JOIN
// customers on the upstream.
func TestLookupFromUpstreamIntoEveryStore(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, envOptions{store: store, extraFlow: upstreamLookupFlow})
		e.createTables(storeDDL{
			mysql:    "CREATE TABLE D.orders_named (id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL, amount DECIMAL(12,2) NOT NULL, name VARCHAR(100) NULL, country CHAR(2) NULL)",
			postgres: "CREATE TABLE orders_named (id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL, amount NUMERIC(12,2) NOT NULL, name VARCHAR(100) NULL, country CHAR(2) NULL)",
			sqlite:   "CREATE TABLE orders_named (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, amount TEXT NOT NULL, name TEXT NULL, country TEXT NULL) STRICT",
		})
		writeFile(t, e.configPath, replaceShop(readFile(t, e.configPath), e.shop))
		e.seedCustomers(10)
		e.writeOrders(40)
		p := e.start()
		e.writeOrders(80)
		e.kill9(p)
		e.writeOrders(40)
		p = e.start()
		e.writeOrders(40)
		e.caughtUp(60 * time.Second)
		got := e.snapshot(e.down, "SELECT id, customer_id, amount, name, country FROM "+e.tbl("orders_named"))
		want := e.snapshot(e.up, "SELECT o.id, o.customer_id, o.amount, c.name, c.country FROM `"+e.shop+"`.orders o LEFT JOIN `"+e.shop+"`.customers c ON c.id = o.customer_id")
		if diff := diffRows(got, want); diff != "" {
			t.Errorf("orders_named in %s differs from orders LEFT JOIN customers (%d rows, %d expected):\n%s", store, len(got), len(want), diff)
		}
		if len(want) < 20 {
			t.Errorf("only %d orders; the workload proves little", len(want))
		}
		e.stop(p)
	})
}
