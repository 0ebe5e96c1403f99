package cli

import (
	"crypto/tls"
	"errors"
	"testing"
)

// TestRefuseOnError: a TLS config that could not be built never turns into
// a plaintext connection; every handshake fails with the build error.
func TestRefuseOnError(t *testing.T) {
	built := &tls.Config{ServerName: "db1", MinVersion: tls.VersionTLS12}
	buildErr := errors.New("config.toml: upstream.tls_ca: cannot read /gone/ca.pem: no such file or directory")
	tests := []struct {
		name    string
		cfg     *tls.Config
		err     error
		wantErr error // from VerifyConnection; nil means cfg is passed on
	}{
		{"disabled", nil, nil, nil},
		{"built", built, nil, nil},
		{"not built", nil, buildErr, buildErr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := refuseOnError(tt.cfg, tt.err)
			if tt.wantErr == nil {
				if got != tt.cfg {
					t.Fatalf("refuseOnError changed a good config")
				}
				return
			}
			if got == nil || got.VerifyConnection == nil {
				t.Fatalf("refuseOnError(_, err) = %v: a nil config would connect in plaintext", got)
			}
			if err := got.VerifyConnection(tls.ConnectionState{}); !errors.Is(err, tt.wantErr) {
				t.Errorf("VerifyConnection = %v, want %v", err, tt.wantErr)
			}
		})
	}
}
