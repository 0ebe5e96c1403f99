package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// pki is a throw-away CA with a server certificate for 127.0.0.1 and a
// client certificate, written as PEM files into dir.
type pki struct {
	dir                    string
	ca, caKey              string // CA certificate and its key
	server, serverKey      string // for 127.0.0.1 and "db.internal"
	client, clientKey      string
	otherKey               string // a key that goes with none of the certificates
	garbage, corruptCert   string // not PEM; a CERTIFICATE block of junk
	serverPair, clientPair tls.Certificate
	caCert                 *x509.Certificate
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	p := &pki{dir: dir}
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	newKey := func() (*ecdsa.PrivateKey, []byte) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return k, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	serial := int64(1)
	sign := func(tmpl, parent *x509.Certificate, pub, signer any) (*x509.Certificate, []byte) {
		serial++
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore = time.Now().Add(-time.Hour)
		tmpl.NotAfter = time.Now().Add(24 * time.Hour)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}

	caKey, caKeyPEM := newKey()
	caTmpl := &x509.Certificate{Subject: pkix.Name{CommonName: "binflow test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	caCert, caPEM := sign(caTmpl, caTmpl, &caKey.PublicKey, caKey)
	p.caCert = caCert
	p.ca, p.caKey = write("ca.pem", caPEM), write("ca-key.pem", caKeyPEM)

	serverKey, serverKeyPEM := newKey()
	_, serverPEM := sign(&x509.Certificate{Subject: pkix.Name{CommonName: "db.internal"},
		DNSNames: []string{"db.internal"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
		caCert, &serverKey.PublicKey, caKey)
	p.server, p.serverKey = write("server.pem", serverPEM), write("server-key.pem", serverKeyPEM)

	clientKey, clientKeyPEM := newKey()
	_, clientPEM := sign(&x509.Certificate{Subject: pkix.Name{CommonName: "binflow"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
		caCert, &clientKey.PublicKey, caKey)
	p.client, p.clientKey = write("client.pem", clientPEM), write("client-key.pem", clientKeyPEM)

	_, otherKeyPEM := newKey()
	p.otherKey = write("other-key.pem", otherKeyPEM)
	p.garbage = write("garbage.pem", []byte("not a certificate\n"))
	p.corruptCert = write("corrupt.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}))

	var err error
	if p.serverPair, err = tls.X509KeyPair(serverPEM, serverKeyPEM); err != nil {
		t.Fatal(err)
	}
	if p.clientPair, err = tls.X509KeyPair(clientPEM, clientKeyPEM); err != nil {
		t.Fatal(err)
	}
	return p
}

// tlsKeys renders tls keys for a section body.
func tlsKeys(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteString(kv[i] + " = " + quote(kv[i+1]) + "\n")
	}
	return b.String()
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `\`, `\\`) + `"` }

func TestTLSModes(t *testing.T) {
	p := newPKI(t)
	tests := []struct {
		name string
		keys string // added to [upstream] and [downstream]
		// want, checked on both sections' built config; nil wantNil.
		wantNil        bool
		wantServerName string
		wantSkip       bool
		wantRoots      bool
		wantCerts      int
	}{
		{name: "default is disabled", keys: "", wantNil: true},
		{name: "disabled", keys: tlsKeys("tls", "disabled"), wantNil: true},
		{name: "required verifies against system roots", keys: tlsKeys("tls", "required"), wantServerName: "127.0.0.1"},
		{name: "required with a server name", keys: tlsKeys("tls", "required", "tls_server_name", "db.internal"), wantServerName: "db.internal"},
		{name: "skip-verify", keys: tlsKeys("tls", "skip-verify"), wantServerName: "127.0.0.1", wantSkip: true},
		{name: "custom with a CA", keys: tlsKeys("tls", "custom", "tls_ca", p.ca), wantServerName: "127.0.0.1", wantRoots: true},
		{name: "custom with a client certificate", keys: tlsKeys("tls", "custom", "tls_ca", p.ca, "tls_cert", p.client, "tls_key", p.clientKey, "tls_server_name", "db.internal"),
			wantServerName: "db.internal", wantRoots: true, wantCerts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := doc{upstream: minimalUpstream + "\n" + tt.keys, downstream: minimalDownstream + "\n" + tt.keys}.String()
			cfg, err := parse("config.toml", text, envOf(nil))
			if err != nil {
				t.Fatalf("parse: %v\n%s", err, text)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Validate after Load: %v", err)
			}
			for _, side := range []struct {
				name  string
				build func() (*tls.Config, error)
			}{{"upstream", cfg.UpstreamTLS}, {"downstream", cfg.DownstreamTLS}} {
				got, err := side.build()
				if err != nil {
					t.Fatalf("%s: %v", side.name, err)
				}
				if tt.wantNil {
					if got != nil {
						t.Errorf("%s: got a TLS config for a disabled mode", side.name)
					}
					continue
				}
				if got == nil {
					t.Fatalf("%s: no TLS config", side.name)
				}
				if got.MinVersion != tls.VersionTLS12 {
					t.Errorf("%s: MinVersion = %x, want TLS 1.2", side.name, got.MinVersion)
				}
				if got.ServerName != tt.wantServerName {
					t.Errorf("%s: ServerName = %q, want %q", side.name, got.ServerName, tt.wantServerName)
				}
				if got.InsecureSkipVerify != tt.wantSkip {
					t.Errorf("%s: InsecureSkipVerify = %v, want %v", side.name, got.InsecureSkipVerify, tt.wantSkip)
				}
				if (got.RootCAs != nil) != tt.wantRoots {
					t.Errorf("%s: RootCAs set = %v, want %v (nil means the system roots)", side.name, got.RootCAs != nil, tt.wantRoots)
				}
				if len(got.Certificates) != tt.wantCerts {
					t.Errorf("%s: %d client certificates, want %d", side.name, len(got.Certificates), tt.wantCerts)
				}
			}
		})
	}
}

func TestTLSRejects(t *testing.T) {
	p := newPKI(t)
	absent := filepath.Join(p.dir, "absent.pem")
	const f = "config.toml: "
	const modes = "expected one of disabled, required, skip-verify, custom"
	tests := []struct {
		name       string
		upstream   string // tls keys of [upstream]
		downstream string // tls keys of [downstream]
		want       []string
	}{
		{"unknown mode", tlsKeys("tls", "on"), "",
			[]string{f + `upstream.tls: unknown tls mode "on"; ` + modes}},
		{"mysql's spelling is not a mode", "", tlsKeys("tls", "VERIFY_IDENTITY"),
			[]string{f + `downstream.tls: unknown tls mode "VERIFY_IDENTITY"; ` + modes}},
		{"explicit empty mode", tlsKeys("tls", ""), "",
			[]string{f + "upstream.tls: must not be empty; " + modes}},
		{"mode of the wrong type", "tls = true\n", "",
			[]string{f + "upstream.tls: must be a string, got boolean true"}},
		{"misspelt key", "tls_crt = \"x\"\n", "",
			[]string{f + `upstream.tls_crt: unknown key; did you mean "tls_cert"?`}},
		{"custom without a CA", "", tlsKeys("tls", "custom"),
			[]string{f + `downstream.tls_ca: required for tls = "custom": the PEM file of the CA certificate that signed the server's certificate`}},
		{"CA file missing", tlsKeys("tls", "custom", "tls_ca", absent), "",
			[]string{f + "upstream.tls_ca: cannot read " + absent + ": no such file or directory"}},
		{"CA is a folder", tlsKeys("tls", "custom", "tls_ca", p.dir), "",
			[]string{f + "upstream.tls_ca: cannot read " + p.dir + ": not a regular file"}},
		{"CA is an endless device", tlsKeys("tls", "custom", "tls_ca", "/dev/zero"), "",
			[]string{f + "upstream.tls_ca: cannot read /dev/zero: not a regular file"}},
		{"CA not PEM", tlsKeys("tls", "custom", "tls_ca", p.garbage), "",
			[]string{f + "upstream.tls_ca: " + p.garbage + ` is not a PEM certificate: it has no "-----BEGIN CERTIFICATE-----" block`}},
		{"CA is a key", tlsKeys("tls", "custom", "tls_ca", p.caKey), "",
			[]string{f + "upstream.tls_ca: " + p.caKey + ` is not a PEM certificate: it has no "-----BEGIN CERTIFICATE-----" block`}},
		{"CA block does not parse", tlsKeys("tls", "custom", "tls_ca", p.corruptCert), "",
			[]string{f + "upstream.tls_ca: " + p.corruptCert + ": certificate 1 does not parse: x509: malformed certificate"}},
		{"cert without key", tlsKeys("tls", "custom", "tls_ca", p.ca, "tls_cert", p.client), "",
			[]string{f + "upstream.tls_key: required with tls_cert: the PEM file of the client certificate's private key"}},
		{"key without cert", "", tlsKeys("tls", "custom", "tls_ca", p.ca, "tls_key", p.clientKey),
			[]string{f + "downstream.tls_cert: required with tls_key: the PEM file of the client certificate"}},
		{"cert file missing", tlsKeys("tls", "custom", "tls_ca", p.ca, "tls_cert", absent, "tls_key", p.clientKey), "",
			[]string{f + "upstream.tls_cert: cannot read " + absent + ": no such file or directory"}},
		{"cert is a key", tlsKeys("tls", "custom", "tls_ca", p.ca, "tls_cert", p.clientKey, "tls_key", p.clientKey), "",
			[]string{f + "upstream.tls_cert: " + p.clientKey + ` is not a PEM certificate: it has no "-----BEGIN CERTIFICATE-----" block`}},
		{"key file missing", tlsKeys("tls", "custom", "tls_ca", p.ca, "tls_cert", p.client, "tls_key", absent), "",
			[]string{f + "upstream.tls_key: cannot read " + absent + ": no such file or directory"}},
		{"key is a certificate", tlsKeys("tls", "custom", "tls_ca", p.ca, "tls_cert", p.client, "tls_key", p.client), "",
			[]string{f + "upstream.tls_key: " + p.client + ` is not a PEM private key: it has no "-----BEGIN ... PRIVATE KEY-----" block`}},
		{"key of another certificate", tlsKeys("tls", "custom", "tls_ca", p.ca, "tls_cert", p.client, "tls_key", p.otherKey), "",
			[]string{f + "upstream.tls_key: " + p.otherKey + " does not go with tls_cert " + p.client + ": tls: private key does not match public key"}},
		{"CA and key problems together", tlsKeys("tls", "custom", "tls_ca", absent, "tls_cert", p.client, "tls_key", p.otherKey), "", []string{
			f + "upstream.tls_ca: cannot read " + absent + ": no such file or directory",
			f + "upstream.tls_key: " + p.otherKey + " does not go with tls_cert " + p.client + ": tls: private key does not match public key",
		}},
		{"files with required", tlsKeys("tls", "required", "tls_ca", p.ca, "tls_cert", p.client, "tls_key", p.clientKey), "", []string{
			f + `upstream.tls_ca: does not apply to tls = "required" (only to "custom")`,
			f + `upstream.tls_cert: does not apply to tls = "required" (only to "custom")`,
			f + `upstream.tls_key: does not apply to tls = "required" (only to "custom")`,
		}},
		{"CA while disabled by default", "", tlsKeys("tls_ca", p.ca),
			[]string{f + `downstream.tls_ca: does not apply to tls = "disabled" (only to "custom")`}},
		{"server name with skip-verify", tlsKeys("tls", "skip-verify", "tls_server_name", "db.internal"), "",
			[]string{f + `upstream.tls_server_name: does not apply to tls = "skip-verify", which verifies no server name (only to "required" and "custom")`}},
		{"server name while disabled", "", tlsKeys("tls_server_name", "db.internal"),
			[]string{f + `downstream.tls_server_name: does not apply to tls = "disabled", which verifies no server name (only to "required" and "custom")`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := doc{upstream: minimalUpstream + "\n" + tt.upstream, downstream: minimalDownstream + "\n" + tt.downstream}.String()
			_, err := parse("config.toml", text, envOf(nil))
			var got Errors
			if !errors.As(err, &got) {
				t.Fatalf("error %v (%T) is not Errors\nfile:\n%s", err, err, text)
			}
			if gotLines := strings.Split(got.Error(), "\n"); !reflect.DeepEqual(gotLines, tt.want) {
				t.Errorf("problems:\n%s\nwant:\n%s\nfile:\n%s", strings.Join(gotLines, "\n"), strings.Join(tt.want, "\n"), text)
			}
			if code := ExitCode(err); code != ExitCodeInvalid {
				t.Errorf("ExitCode = %d, want %d", code, ExitCodeInvalid)
			}
			for _, key := range []string{p.caKey, p.clientKey, p.otherKey} {
				if line := quotedPEMLine(t, err.Error(), key); line != "" {
					t.Errorf("error quotes %s: %q", key, line)
				}
			}
		})
	}
}

// quotedPEMLine returns a line of the base64 body of a PEM file that msg
// contains, or "".
func quotedPEMLine(t *testing.T, msg, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") && strings.Contains(msg, line) {
			return line
		}
	}
	return ""
}

// TestTLSPathsRelativeToConfigFile: tls_ca, tls_cert and tls_key are read
// from the config file's folder, wherever binflow runs.
func TestTLSPathsRelativeToConfigFile(t *testing.T) {
	p := newPKI(t)
	path := filepath.Join(p.dir, "config.toml")
	keys := tlsKeys("tls", "custom", "tls_ca", "ca.pem", "tls_cert", "client.pem", "tls_key", "client-key.pem")
	text := doc{upstream: minimalUpstream + "\n" + keys, downstream: minimalDownstream + "\n" + keys}.String()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir()) // anywhere but the config's folder
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := cfg.Upstream.TLS(); got.CA != p.ca || got.Cert != p.client || got.Key != p.clientKey {
		t.Errorf("upstream paths = %+v, want %s, %s, %s", got, p.ca, p.client, p.clientKey)
	}
	if got := cfg.Downstream.TLS(); got.CA != p.ca {
		t.Errorf("downstream tls_ca = %q, want %q", got.CA, p.ca)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate after Load: %v", err)
	}
	if _, err := cfg.DownstreamTLS(); err != nil {
		t.Errorf("DownstreamTLS: %v", err)
	}

	// The rendered config names the resolved files and loads again.
	again := filepath.Join(t.TempDir(), "again.toml")
	if err := os.WriteFile(again, []byte(cfg.Redacted()), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(again); err != nil {
		t.Errorf("Load(Redacted()): %v", err)
	}
}

// TestTLSConfigBuiltInCode: a Config made in code without Load treats an
// empty mode as disabled and reports bad settings through Validate and the
// builders, naming file and key.
func TestTLSConfigBuiltInCode(t *testing.T) {
	c := &Config{Path: "app.toml", Upstream: Upstream{Host: "db1", TLSMode: TLSCustom, TLSCA: "/nonexistent/ca.pem"}}
	if got, err := c.DownstreamTLS(); got != nil || err != nil {
		t.Errorf("DownstreamTLS with no mode = %v, %v; want nil, nil", got, err)
	}
	_, err := c.UpstreamTLS()
	want := "app.toml: upstream.tls_ca: cannot read /nonexistent/ca.pem: no such file or directory"
	if err == nil || err.Error() != want {
		t.Errorf("UpstreamTLS error = %v, want %s", err, want)
	}
	if code := ExitCode(err); code != ExitCodeInvalid {
		t.Errorf("ExitCode = %d, want %d", code, ExitCodeInvalid)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Validate = %v, want it to contain %q", err, want)
	}
	_, err = c.Upstream.TLS().Build("db1")
	if want := "tls_ca: cannot read /nonexistent/ca.pem: no such file or directory"; err == nil || err.Error() != want {
		t.Errorf("Build error = %v, want %s", err, want)
	}
}

// TestTLSHandshake connects with the built configs to a local TLS server
// using the test CA's certificate: custom verifies it (and presents the
// client certificate), required and a wrong name fail verification,
// skip-verify connects anyway.
func TestTLSHandshake(t *testing.T) {
	p := newPKI(t)
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(p.caCert)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{p.serverPair},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    clientCAs,
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	clientNames := make(chan string, 16)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				tc := conn.(*tls.Conn)
				_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
				if tc.Handshake() == nil {
					name := ""
					if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
						name = certs[0].Subject.CommonName
					}
					clientNames <- name
				}
			}()
		}
	}()

	otherCA := newPKI(t).ca
	tests := []struct {
		name       string
		settings   TLS
		wantErr    string // substring; "" for success
		wantClient string // the client certificate's CN the server saw
	}{
		{"custom", TLS{Mode: TLSCustom, CA: p.ca}, "", ""},
		{"custom with client certificate", TLS{Mode: TLSCustom, CA: p.ca, Cert: p.client, Key: p.clientKey}, "", "binflow"},
		{"custom with the name in the certificate", TLS{Mode: TLSCustom, CA: p.ca, ServerName: "db.internal"}, "", ""},
		{"custom with another name", TLS{Mode: TLSCustom, CA: p.ca, ServerName: "db.elsewhere"}, "certificate is valid for db.internal", ""},
		{"custom with another CA", TLS{Mode: TLSCustom, CA: otherCA}, "certificate signed by unknown authority", ""},
		{"required: not in the system roots", TLS{Mode: TLSRequired}, "certificate signed by unknown authority", ""},
		{"skip-verify", TLS{Mode: TLSSkipVerify}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := tt.settings.Build("127.0.0.1")
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}
			conn, err := dialer.Dial("tcp", ln.Addr().String())
			if tt.wantErr != "" {
				if err == nil {
					conn.Close()
					t.Fatalf("handshake succeeded, want an error containing %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("handshake error %q does not contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			conn.Close()
			select {
			case got := <-clientNames:
				if got != tt.wantClient {
					t.Errorf("server saw client certificate %q, want %q", got, tt.wantClient)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("server did not complete the handshake")
			}
		})
	}
}
