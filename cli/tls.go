package cli

import "crypto/tls"

// refuseOnError passes on a built TLS config. config.Load has already read
// and checked the CA, certificate and key files, so an error here means one
// changed since: the returned config then fails every handshake with that
// error instead of falling back to plaintext.
func refuseOnError(c *tls.Config, err error) *tls.Config {
	if err == nil {
		return c
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Skips only the default verification, so that the handshake reaches
		// VerifyConnection, which always fails.
		InsecureSkipVerify: true, //nolint:gosec // no handshake can succeed
		VerifyConnection:   func(tls.ConnectionState) error { return err },
	}
}
