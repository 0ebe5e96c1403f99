package testenv

import (
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/go-sql-driver/mysql"
)

func TestTLSDirFollowsTestenvDir(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(DirEnv, dir)
	files, err := tlsFiles()
	if err != nil {
		t.Fatal(err)
	}
	want := TLSFiles{
		Dir:        filepath.Join(dir, "tls"),
		CA:         filepath.Join(dir, "tls", "ca.pem"),
		ServerCert: filepath.Join(dir, "tls", "server-cert.pem"),
		ServerKey:  filepath.Join(dir, "tls", "server-key.pem"),
		ClientCert: filepath.Join(dir, "tls", "client-cert.pem"),
		ClientKey:  filepath.Join(dir, "tls", "client-key.pem"),
	}
	if files != want {
		t.Errorf("tlsFiles() = %+v, want %+v", files, want)
	}
}

// TestServersServeTLS: upstream and downstream accept TLSUser over TLS
// verified against the test CA, and refuse it without TLS.
func TestServersServeTLS(t *testing.T) {
	for _, name := range []string{UpstreamName, DownstreamName} {
		t.Run(name, func(t *testing.T) {
			db := OpenTLS(t, name)
			var variable, cipher string
			if err := db.QueryRow("SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&variable, &cipher); err != nil {
				t.Fatal(err)
			}
			if cipher == "" {
				t.Errorf("%s: connected as %s but Ssl_cipher is empty: not encrypted", name, TLSUser)
			}

			plain, err := sql.Open("mysql", TLSUser+":"+Password+"@tcp("+HostPort(name)+")/?timeout=5s")
			if err != nil {
				t.Fatal(err)
			}
			defer plain.Close()
			err = plain.Ping()
			var me *mysql.MySQLError
			if !errors.As(err, &me) || me.Number != 1045 {
				t.Errorf("%s: %s without TLS: got %v, want access denied (1045): the account must REQUIRE SSL", name, TLSUser, err)
			}
		})
	}
}
