package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// TLS modes: the values of the tls key of [upstream] and [downstream].
const (
	// TLSDisabled connects in plaintext (the default).
	TLSDisabled = "disabled"
	// TLSRequired encrypts and verifies the server's certificate against the
	// system's root CAs and the host name (or tls_server_name).
	TLSRequired = "required"
	// TLSSkipVerify encrypts without verifying the server: for tests only,
	// as it does not stop a man in the middle.
	TLSSkipVerify = "skip-verify"
	// TLSCustom encrypts and verifies the server against tls_ca, presenting
	// the client certificate tls_cert/tls_key when they are set.
	TLSCustom = "custom"
)

// DefaultTLS is the tls mode when the key is left out.
const DefaultTLS = TLSDisabled

var tlsModes = []string{TLSDisabled, TLSRequired, TLSSkipVerify, TLSCustom}

// maxPEMFile bounds what is read of a CA, certificate or key file: a PEM
// file is a few kilobytes, and a path to something endless (/dev/zero) must
// not hang Load.
const maxPEMFile = 1 << 20

// TLS is the TLS settings of one connection, the tls keys of [upstream] or
// [downstream]. Load makes the file paths relative to the config file's
// folder absolute.
type TLS struct {
	Mode       string // TLSDisabled ("" too), TLSRequired, TLSSkipVerify or TLSCustom
	CA         string // PEM file of the CA certificate(s); custom only, required
	Cert       string // PEM file of a client certificate; custom only, with Key
	Key        string // PEM file of the client certificate's private key
	ServerName string // name to verify instead of the host; required and custom
}

// TLS returns the upstream's TLS settings.
func (u *Upstream) TLS() TLS {
	return TLS{Mode: u.TLSMode, CA: u.TLSCA, Cert: u.TLSCert, Key: u.TLSKey, ServerName: u.TLSServerName}
}

// TLS returns the downstream's TLS settings.
func (d *Downstream) TLS() TLS {
	return TLS{Mode: d.TLSMode, CA: d.TLSCA, Cert: d.TLSCert, Key: d.TLSKey, ServerName: d.TLSServerName}
}

// UpstreamTLS builds the *tls.Config of every upstream connection (the SQL
// connection and the binlog stream), or nil when tls is "disabled". A
// problem comes back as Errors naming the file and key, like Load's.
func (c *Config) UpstreamTLS() (*tls.Config, error) {
	return c.buildTLS("upstream", c.Upstream.TLS(), c.Upstream.Host)
}

// DownstreamTLS is UpstreamTLS for the downstream connections.
func (c *Config) DownstreamTLS() (*tls.Config, error) {
	return c.buildTLS("downstream", c.Downstream.TLS(), c.Downstream.Host)
}

func (c *Config) buildTLS(section string, t TLS, host string) (*tls.Config, error) {
	cfg, kps := t.build(host)
	if len(kps) == 0 {
		return cfg, nil
	}
	p := &problems{file: c.Path}
	for _, kp := range kps {
		p.add(section+"."+kp.key, "%s", kp.problem)
	}
	return nil, p.err()
}

// Build returns the *tls.Config for connections to host: nil for
// "disabled", and otherwise TLS 1.2 or later, verifying the server as the
// mode says. ServerName, when set, is the name verified instead of host.
// Errors name the key ("tls_ca: ...") and never quote a key file's content.
func (t TLS) Build(host string) (*tls.Config, error) {
	cfg, problems := t.build(host)
	if len(problems) == 0 {
		return cfg, nil
	}
	errs := make([]error, len(problems))
	for i, kp := range problems {
		errs[i] = fmt.Errorf("%s: %s", kp.key, kp.problem)
	}
	return nil, errors.Join(errs...)
}

// keyProblem is a problem with one tls key, named without its section.
type keyProblem struct{ key, problem string }

// build is the one place a *tls.Config is made; validation runs it too, so
// that what Load accepts is what connects.
func (t TLS) build(host string) (*tls.Config, []keyProblem) {
	var problems []keyProblem
	add := func(key, format string, args ...any) {
		problems = append(problems, keyProblem{key, fmt.Sprintf(format, args...)})
	}
	mode := t.Mode
	if mode == "" {
		mode = TLSDisabled
	}
	switch mode {
	case TLSDisabled, TLSRequired, TLSSkipVerify, TLSCustom:
	default:
		add("tls", "unknown tls mode %q; expected one of %s", t.Mode, strings.Join(tlsModes, ", "))
		return nil, problems
	}

	// Keys that mean nothing in this mode are mistakes, not silently ignored.
	if mode != TLSCustom {
		for _, k := range []struct{ key, value string }{{"tls_ca", t.CA}, {"tls_cert", t.Cert}, {"tls_key", t.Key}} {
			if k.value != "" {
				add(k.key, "does not apply to tls = %q (only to %q)", mode, TLSCustom)
			}
		}
	}
	if t.ServerName != "" && (mode == TLSDisabled || mode == TLSSkipVerify) {
		add("tls_server_name", "does not apply to tls = %q, which verifies no server name (only to %q and %q)", mode, TLSRequired, TLSCustom)
	}
	if len(problems) > 0 || mode == TLSDisabled {
		return nil, problems
	}

	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if t.ServerName != "" {
		cfg.ServerName = t.ServerName
	}
	switch mode {
	case TLSSkipVerify:
		cfg.InsecureSkipVerify = true //nolint:gosec // the documented "skip-verify" mode, for tests
	case TLSCustom:
		if t.CA == "" {
			add("tls_ca", "required for tls = %q: the PEM file of the CA certificate that signed the server's certificate", TLSCustom)
		} else if pool, problem := loadCA(t.CA); problem != "" {
			add("tls_ca", "%s", problem)
		} else {
			cfg.RootCAs = pool
		}
		switch {
		case t.Cert != "" && t.Key == "":
			add("tls_key", "required with tls_cert: the PEM file of the client certificate's private key")
		case t.Cert == "" && t.Key != "":
			add("tls_cert", "required with tls_key: the PEM file of the client certificate")
		case t.Cert != "":
			cert, key, problem := loadKeyPair(t.Cert, t.Key)
			if problem != "" {
				add(key, "%s", problem)
			} else {
				cfg.Certificates = []tls.Certificate{cert}
			}
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return cfg, nil
}

// loadCA reads a pool of CA certificates from a PEM file, or says what is
// wrong with it.
func loadCA(path string) (*x509.CertPool, string) {
	data, problem := readPEMFile(path)
	if problem != "" {
		return nil, problem
	}
	certs, problem := parseCertificates(path, data)
	if problem != "" {
		return nil, problem
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, ""
}

// loadKeyPair reads a client certificate and its key; a problem comes with
// the key it is about ("tls_cert" or "tls_key").
func loadKeyPair(certPath, keyPath string) (tls.Certificate, string, string) {
	certPEM, problem := readPEMFile(certPath)
	if problem != "" {
		return tls.Certificate{}, "tls_cert", problem
	}
	if _, problem := parseCertificates(certPath, certPEM); problem != "" {
		return tls.Certificate{}, "tls_cert", problem
	}
	keyPEM, problem := readPEMFile(keyPath)
	if problem != "" {
		return tls.Certificate{}, "tls_key", problem
	}
	if !hasPrivateKeyBlock(keyPEM) {
		return tls.Certificate{}, "tls_key", fmt.Sprintf(`%s is not a PEM private key: it has no "-----BEGIN ... PRIVATE KEY-----" block`, keyPath)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// The crypto/tls errors describe the mismatch, never the key bytes.
		return tls.Certificate{}, "tls_key", fmt.Sprintf("%s does not go with tls_cert %s: %v", keyPath, certPath, err)
	}
	return cert, "", ""
}

// readPEMFile reads a small regular file, or says why it cannot.
func readPEMFile(path string) ([]byte, string) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Sprintf("cannot read %s: %v", path, pathErrorCause(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Sprintf("cannot read %s: not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Sprintf("cannot read %s: %v", path, pathErrorCause(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPEMFile+1))
	if err != nil {
		return nil, fmt.Sprintf("cannot read %s: %v", path, pathErrorCause(err))
	}
	if len(data) > maxPEMFile {
		return nil, fmt.Sprintf("%s is larger than %d bytes; expected a PEM file", path, maxPEMFile)
	}
	return data, ""
}

// pathErrorCause drops the path from an *fs.PathError, which the message
// already names.
func pathErrorCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// parseCertificates returns every CERTIFICATE block of a PEM file; other
// blocks are skipped, as OpenSSL does.
func parseCertificates(path string, data []byte) ([]*x509.Certificate, string) {
	var certs []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Sprintf("%s: certificate %d does not parse: %v", path, len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Sprintf(`%s is not a PEM certificate: it has no "-----BEGIN CERTIFICATE-----" block`, path)
	}
	return certs, ""
}

func hasPrivateKeyBlock(data []byte) bool {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return false
		}
		if block.Type == "PRIVATE KEY" || strings.HasSuffix(block.Type, " PRIVATE KEY") {
			return true
		}
	}
}

// resolveTLSPaths makes relative tls file paths relative to the folder of
// the config file rather than to the working directory.
func (c *Config) resolveTLSPaths() {
	dir := filepath.Dir(c.Path)
	for _, p := range []*string{
		&c.Upstream.TLSCA, &c.Upstream.TLSCert, &c.Upstream.TLSKey,
		&c.Downstream.TLSCA, &c.Downstream.TLSCert, &c.Downstream.TLSKey,
		&c.Downstream.Path, // the SQLite file, not TLS, but resolved alike
	} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}

// tls validates the tls keys of a section ("upstream" or "downstream").
func (v *validator) tls(section string, t TLS) {
	if t.Mode == "" && v.isSet != nil && v.isSet(section+".tls") {
		v.add(section+".tls", "must not be empty; expected one of %s", strings.Join(tlsModes, ", "))
		return
	}
	// The host only sets ServerName, which validation does not look at.
	_, problems := t.build("")
	for _, kp := range problems {
		v.add(section+"."+kp.key, "%s", kp.problem)
	}
}
