package main

// TLS end to end: the real binary against the testenv servers as
// testenv.TLSUser, an account that REQUIREs SSL, so that every connection
// that works (upstream SQL, binlog stream, downstream) is encrypted.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/pem"
	"fmt"
	"math/big"
	mrand "math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/binflow/binflow/testenv"
)

// tlsSide is the tls keys of [upstream] or [downstream] and who connects.
type tlsSide struct {
	user, password string
	keys           map[string]string // tls, tls_ca, tls_cert, tls_key, tls_server_name
}

// tlsWorld is one TLS test's databases and config file.
type tlsWorld struct {
	t          *testing.T
	up, down   *sql.DB // plaintext, as testenv.User, for set-up and checks
	shop       string  // upstream database
	derived    string  // downstream database
	configPath string
	password   map[string]string // environment variable -> password
}

const tlsOrdersDDL = "CREATE TABLE `%s`.orders (" +
	"id BIGINT PRIMARY KEY AUTO_INCREMENT, customer_id BIGINT NOT NULL, amount DECIMAL(12,2) NOT NULL, " +
	"status VARCHAR(20) NOT NULL, created_at DATETIME(6) NOT NULL) ENGINE=InnoDB"

func newTLSWorld(t *testing.T, upstream, downstream tlsSide) *tlsWorld {
	t.Helper()
	w := &tlsWorld{t: t, up: testenv.Upstream(t), down: testenv.Downstream(t)}
	w.shop = testenv.FreshDatabase(t, w.up, "tls_shop")
	w.derived = testenv.FreshDatabase(t, w.down, "tls_derived")
	if _, err := w.up.Exec(fmt.Sprintf(tlsOrdersDDL, w.shop)); err != nil {
		t.Fatal(err)
	}
	w.password = map[string]string{
		"BINFLOW_TLS_TEST_UPSTREAM_PASSWORD":   upstream.password,
		"BINFLOW_TLS_TEST_DOWNSTREAM_PASSWORD": downstream.password,
	}
	downHost, downPort := testenv.DownstreamAddr()
	w.configPath = testConfig{
		upstream: upstreamKeys(upstream.user, "BINFLOW_TLS_TEST_UPSTREAM_PASSWORD", 5000+mrand.Intn(1000)).withTLS(upstream.keys),
		downstream: section{}.with("host", downHost).with("port", downPort).with("user", downstream.user).
			with("password_env", "BINFLOW_TLS_TEST_DOWNSTREAM_PASSWORD").with("database", w.derived).
			with("migrations", filepath.Join(repoRoot(t), "migrations")).withTLS(downstream.keys),
		batch:    section{}.with("max_delay", "50ms").with("retry_max", "1s"),
		debugLog: true,
		flows:    []string{ordersCopyFlow, customerTotalsFlow},
	}.write(t, w.shop)
	return w
}

func (w *tlsWorld) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, binary(w.t), append(args, "-c", w.configPath)...)
	cmd.Env = os.Environ()
	for k, v := range w.password {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// runToEnd runs a binflow command that must end within timeout and returns
// its output and exit code.
func (w *tlsWorld) runToEnd(timeout time.Duration, args ...string) (string, int) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := w.command(ctx, args...).CombinedOutput()
	if ctx.Err() != nil {
		w.t.Fatalf("binflow %s did not end within %s; output:\n%s", strings.Join(args, " "), timeout, tail(string(out), 4000))
	}
	code := 0
	if exitErr, ok := err.(*exec.ExitError); ok {
		code = exitErr.ExitCode()
	} else if err != nil {
		w.t.Fatalf("binflow %s: %v", strings.Join(args, " "), err)
	}
	return string(out), code
}

func (w *tlsWorld) waitFor(timeout time.Duration, what string, cond func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			w.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (w *tlsWorld) count(db *sql.DB, q string) int {
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		return -1
	}
	return n
}

// custom is tls = "custom" against the testenv CA, as testenv.TLSUser.
func customTLS(files testenv.TLSFiles, extra ...string) tlsSide {
	keys := map[string]string{"tls": "custom", "tls_ca": files.CA}
	for i := 0; i+1 < len(extra); i += 2 {
		keys[extra[i]] = extra[i+1]
	}
	return tlsSide{user: testenv.TLSUser, password: testenv.Password, keys: keys}
}

// TestTLSEndToEnd: migrate and run over TLS on both ends; rows inserted
// upstream reach the derived tables, so the upstream SQL connection, the
// binlog stream and the downstream connection all work over TLS, as
//   - testenv.TLSUser (REQUIRE SSL) with tls = "custom" (and a client
//     certificate downstream),
//   - testenv.X509User (REQUIRE SUBJECT and ISSUER of the test client
//     certificate) with tls = "custom", tls_cert and tls_key on both ends:
//     the server lets that account in only with the certificate, so binflow
//     presents it on every connection, binlog stream included,
//   - testenv.TLSUser with upstream tls = "skip-verify".
func TestTLSEndToEnd(t *testing.T) {
	files := testenv.TLSDir(t)
	withCert := func(s tlsSide) tlsSide {
		s.keys["tls_cert"], s.keys["tls_key"] = files.ClientCert, files.ClientKey
		return s
	}
	tests := []struct {
		name                 string
		upstream, downstream tlsSide
	}{
		{"REQUIRE SSL account, custom", customTLS(files),
			customTLS(files, "tls_cert", files.ClientCert, "tls_key", files.ClientKey, "tls_server_name", "localhost")},
		{"REQUIRE SUBJECT and ISSUER account, client certificate", withCert(asUser(customTLS(files), testenv.X509User)),
			withCert(asUser(customTLS(files, "tls_server_name", "localhost"), testenv.X509User))},
		{"upstream skip-verify", tlsSide{user: testenv.TLSUser, password: testenv.Password, keys: map[string]string{"tls": "skip-verify"}},
			customTLS(files)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tlsRunEndToEnd(t, newTLSWorld(t, tt.upstream, tt.downstream), tt.upstream.user)
		})
	}
}

// asUser is s as another account.
func asUser(s tlsSide, user string) tlsSide {
	s.user = user
	return s
}

// tlsRunEndToEnd migrates, runs binflow, writes upstream and compares the
// derived tables with the upstream; upstreamUser must hold the binlog
// stream.
func tlsRunEndToEnd(t *testing.T, w *tlsWorld, upstreamUser string) {
	if out, code := w.runToEnd(60*time.Second, "migrate"); code != 0 {
		t.Fatalf("binflow migrate over TLS exited %d:\n%s", code, out)
	}

	out := &syncBuffer{}
	cmd := w.command(context.Background(), "run")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	exited := false
	t.Cleanup(func() {
		if !exited {
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("binflow output:\n%s", tail(out.String(), 6000))
		}
	})
	running := func() bool {
		select {
		case err := <-done:
			exited = true
			t.Fatalf("binflow run exited: %v\n%s", err, tail(out.String(), 4000))
		default:
		}
		return true
	}
	w.waitFor(30*time.Second, "binflow to write its checkpoints", func() bool {
		return running() && w.count(w.down, "SELECT COUNT(*) FROM `"+w.derived+"`.binflow_checkpoints") == 2
	})

	// The binlog stream is a connection of the account that requires TLS.
	w.waitFor(10*time.Second, "a Binlog Dump connection of "+upstreamUser, func() bool {
		return running() && w.count(w.up, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '"+upstreamUser+"' AND COMMAND LIKE 'Binlog Dump%'") > 0
	})

	const rows, customers = 200, 7
	for i := 0; i < rows; i += 20 {
		tx, err := w.up.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for j := i; j < i+20; j++ {
			if _, err := tx.Exec("INSERT INTO `"+w.shop+"`.orders (customer_id, amount, status, created_at) VALUES (?, ?, 'paid', ?)",
				j%customers+1, fmt.Sprintf("%d.%02d", j, j%100), time.Now().UTC().Truncate(time.Microsecond)); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.up.Exec("UPDATE `" + w.shop + "`.orders SET customer_id = 1 WHERE id <= 10"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.up.Exec("DELETE FROM `" + w.shop + "`.orders WHERE id > 190"); err != nil {
		t.Fatal(err)
	}
	const wantRows = rows - 10
	w.waitFor(60*time.Second, fmt.Sprintf("%d rows in orders_copy", wantRows), func() bool {
		return running() && w.count(w.down, "SELECT COUNT(*) FROM `"+w.derived+"`.orders_copy") == wantRows &&
			w.count(w.down, "SELECT COALESCE(SUM(order_count), 0) FROM `"+w.derived+"`.customer_totals") == wantRows
	})
	tlsSameRows(t, w.down, "SELECT id, customer_id, amount, status, created_at FROM `"+w.derived+"`.orders_copy",
		w.up, "SELECT id, customer_id, amount, status, created_at FROM `"+w.shop+"`.orders")
	tlsSameRows(t, w.down, "SELECT customer_id, order_count, total_amount FROM `"+w.derived+"`.customer_totals",
		w.up, "SELECT customer_id, COUNT(*), CAST(SUM(amount) AS DECIMAL(30,2)) FROM `"+w.shop+"`.orders GROUP BY customer_id")

	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		exited = true
		if err != nil {
			t.Fatalf("binflow did not exit cleanly on SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("binflow did not stop within 20s of SIGTERM")
	}
	if strings.Contains(out.String(), ":"+testenv.Password+"@") {
		t.Errorf("output contains a DSN with the password")
	}
	// verify reads the upstream over TLS too: a consistent view and the
	// binlog.
	for _, f := range []string{"orders_copy", "customer_totals"} {
		if out, code := w.runToEnd(60*time.Second, "verify", f); code != 0 || !strings.Contains(out, "match the recomputation") {
			t.Errorf("binflow verify %s over TLS exited %d:\n%s", f, code, tail(out, 3000))
		}
	}
}

// tlsSameRows compares two queries' rows as sorted text.
func tlsSameRows(t *testing.T, gotDB *sql.DB, gotQuery string, wantDB *sql.DB, wantQuery string) {
	t.Helper()
	e := &env{t: t}
	got, want := e.snapshot(gotDB, gotQuery), e.snapshot(wantDB, wantQuery)
	if diff := diffRows(got, want); diff != "" {
		t.Errorf("%s differs from %s (%d rows, want %d):\n%s", gotQuery, wantQuery, len(got), len(want), diff)
	}
}

// TestTLSFailures: each misconfiguration ends binflow quickly with exit 1
// and an error that says what is wrong, without the password.
func TestTLSFailures(t *testing.T) {
	files := testenv.TLSDir(t)
	otherCA := tlsOtherCA(t)
	// Where the TLS handshake fails the password is never sent, so these
	// cases use one that is easy to look for in the output.
	const secret = "Tls-Secret-Pw-9f2c"
	withSecret := func(s tlsSide) tlsSide { s.password = secret; return s }
	plainTLSUser := tlsSide{user: testenv.TLSUser, password: testenv.Password}
	good := customTLS(files)

	tests := []struct {
		name                 string
		upstream, downstream tlsSide
		command              string
		want                 []string
		secret               string // must not appear in the output
	}{
		{
			name: "upstream tls disabled for a REQUIRE SSL account", command: "run",
			upstream: plainTLSUser, downstream: good,
			want: []string{"Access denied for user '" + testenv.TLSUser + "'", `set tls in [upstream]`},
		},
		{
			name: "downstream tls disabled for a REQUIRE SSL account", command: "migrate",
			upstream: good, downstream: plainTLSUser,
			// The connector hides the password in errors, and the testenv
			// password is a prefix of the user name: match around it.
			want: []string{"Error 1045 (28000): Access denied for user '", `set tls in [downstream]`},
		},
		{
			name: "upstream custom without the client certificate a REQUIRE SUBJECT account needs", command: "run",
			upstream: asUser(customTLS(files), testenv.X509User), downstream: good,
			want: []string{"Access denied for user '" + testenv.X509User + "'", "TLS is on, without a client certificate",
				`set tls = "custom" with tls_cert and tls_key in [upstream]`},
		},
		{
			name: "downstream custom without the client certificate a REQUIRE SUBJECT account needs", command: "migrate",
			upstream: good, downstream: asUser(customTLS(files), testenv.X509User),
			want: []string{"Error 1045 (28000): Access denied for user '", "TLS is on, without a client certificate",
				`set tls = "custom" with tls_cert and tls_key in [downstream]`},
		},
		{
			name: "upstream custom with another CA", command: "run",
			upstream: withSecret(customTLS(files, "tls_ca", otherCA)), downstream: good,
			want:   []string{"upstream 127.0.0.1:", "certificate signed by unknown authority"},
			secret: secret,
		},
		{
			name: "downstream custom with another CA", command: "run",
			upstream: good, downstream: withSecret(customTLS(files, "tls_ca", otherCA)),
			want:   []string{"mysql connector: open 127.0.0.1:", "certificate signed by unknown authority"},
			secret: secret,
		},
		{
			name: "required checks the system roots, which lack the test CA", command: "run",
			upstream: withSecret(tlsSide{user: testenv.TLSUser, keys: map[string]string{"tls": "required"}}), downstream: good,
			want:   []string{"certificate signed by unknown authority"},
			secret: secret,
		},
		{
			name: "custom with a name the certificate does not have", command: "migrate",
			upstream: good, downstream: withSecret(customTLS(files, "tls_server_name", "db.example.com")),
			want:   []string{"certificate is valid for", "not db.example.com"},
			secret: secret,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newTLSWorld(t, tt.upstream, tt.downstream)
			out, code := w.runToEnd(30*time.Second, tt.command)
			if code != 1 { // failure
				t.Fatalf("binflow %s exited %d, want 1; output:\n%s", tt.command, code, tail(out, 4000))
			}
			for _, line := range strings.Split(out, "\n") {
				if strings.HasPrefix(line, "binflow "+tt.command+": ") {
					t.Log(line)
				}
			}
			for _, want := range tt.want {
				if !strings.Contains(out, want) {
					t.Errorf("output does not contain %q:\n%s", want, tail(out, 4000))
				}
			}
			if tt.secret != "" && strings.Contains(out, tt.secret) {
				t.Errorf("output contains the password:\n%s", out)
			}
		})
	}

	t.Run("skip-verify connects without checking", func(t *testing.T) {
		skip := tlsSide{user: testenv.TLSUser, password: testenv.Password, keys: map[string]string{"tls": "skip-verify"}}
		w := newTLSWorld(t, skip, skip)
		if out, code := w.runToEnd(60*time.Second, "migrate"); code != 0 {
			t.Fatalf("binflow migrate with skip-verify exited %d:\n%s", code, out)
		}
	})
}

// tlsOtherCA writes a CA certificate that signed nothing the testenv
// servers hold.
func tlsOtherCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "not the binflow testenv CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "other-ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
