package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// TLSUser is the account env.sh creates on upstream and downstream with
// REQUIRE SSL: password Password, the same privileges as User.
const TLSUser = "binflow_tls"

// X509User is the account env.sh creates on upstream and downstream that
// REQUIREs the SUBJECT of TLSFiles.ClientCert (CN binflow_tls) and the
// ISSUER of the test CA: password Password, the same privileges as User.
const X509User = "binflow_x509"

// DirEnv overrides where env.sh keeps the servers (default: .testenv in the
// repository).
const DirEnv = "BINFLOW_TESTENV_DIR"

// TLSFiles are the PEM files env.sh generates once per testenv directory.
// Upstream and downstream serve ServerCert; ClientCert is signed by the same
// CA for tests of client certificates (CN binflow_tls).
type TLSFiles struct {
	Dir                   string
	CA                    string // the test CA's certificate: what tls_ca names
	ServerCert, ServerKey string // for 127.0.0.1 and localhost
	ClientCert, ClientKey string
}

// TLSDir returns the testenv's TLS files. It skips the test (or fails it,
// see Required) when env.sh has not generated them yet.
func TLSDir(t testing.TB) TLSFiles {
	t.Helper()
	files, err := tlsFiles()
	if err == nil {
		for _, f := range []string{files.CA, files.ServerCert, files.ClientCert, files.ClientKey} {
			if _, err = os.Stat(f); err != nil {
				break
			}
		}
	}
	if err != nil {
		msg := fmt.Sprintf("testenv: TLS files are missing (%v); run `make testenv-up` (or `testenv/env.sh start`) first", err)
		if Required() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return files
}

func tlsFiles() (TLSFiles, error) {
	root := os.Getenv(DirEnv)
	if root == "" {
		repo, err := RepoRoot()
		if err != nil {
			return TLSFiles{}, err
		}
		root = filepath.Join(repo, ".testenv")
	}
	dir := filepath.Join(root, "tls")
	return TLSFiles{
		Dir:        dir,
		CA:         filepath.Join(dir, "ca.pem"),
		ServerCert: filepath.Join(dir, "server-cert.pem"),
		ServerKey:  filepath.Join(dir, "server-key.pem"),
		ClientCert: filepath.Join(dir, "client-cert.pem"),
		ClientKey:  filepath.Join(dir, "client-key.pem"),
	}, nil
}

// TLSConfig verifies the testenv servers against the test CA (server name
// 127.0.0.1), as binflow's tls = "custom" with tls_ca does.
func TLSConfig(t testing.TB) *tls.Config {
	t.Helper()
	files := TLSDir(t)
	pem, err := os.ReadFile(files.CA)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("testenv: %s holds no certificate", files.CA)
	}
	return &tls.Config{RootCAs: pool, ServerName: Host, MinVersion: tls.VersionTLS12}
}

// OpenTLS opens a pool to the named server as TLSUser over TLS verified
// against the test CA, closed when the test ends. It skips (or fails, see
// Required) when the server is unreachable.
func OpenTLS(t testing.TB, name string) *sql.DB {
	t.Helper()
	host, port := addr(name)
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd = TLSUser, Password
	cfg.Net, cfg.Addr = "tcp", net.JoinHostPort(host, strconv.Itoa(port))
	cfg.TLS = TLSConfig(t)
	cfg.ParseTime, cfg.Loc = true, time.UTC
	cfg.Timeout = 5 * time.Second
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatalf("testenv: open %s over TLS: %v", name, err)
	}
	db := sql.OpenDB(connector)
	ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		msg := unreachableMessage(name, err) + " (as " + TLSUser + " over TLS: a server started before TLS support is restarted by `testenv/env.sh start`)"
		if Required() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
