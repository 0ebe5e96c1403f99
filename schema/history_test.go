package schema

import "testing"

// INET6 and UUID print as MariaDB's SELECT does (the server is the oracle
// in canal's and cmd/binflow's every-type tests; these pin the rules).
func TestFormatFixed(t *testing.T) {
	tests := []struct {
		format Format
		stored string // as the binlog logs it: trailing zero bytes left out
		want   string
	}{
		{FormatInet6, "", "::"},
		{FormatInet6, "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01", "::1"},
		{FormatInet6, "\x00\x01", "1::"},
		{FormatInet6, "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x01\x02\x03\x04", "::ffff:1.2.3.4"},
		{FormatInet6, "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x02\x03\x04", "::1.2.3.4"},
		{FormatInet6, "\x20\x01\x0d\xb8\x00\x00\x00\x01\x00\x01\x00\x01\x00\x01\x00\x01", "2001:db8::1:1:1:1:1"},
		{FormatInet6, "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x01", "2001:db8::1:0:0:1"},
		{FormatInet6, "\xfe\x80\x00\x00\x00\x00\x00\x00\x02\x00\x5e\xff\xfe\x00\x53\x00", "fe80::200:5eff:fe00:5300"},
		{FormatUUID, "\x12\x3e\x45\x67\xe8\x9b\x12\xd3\xa4\x56\x42\x66\x55\x44", "123e4567-e89b-12d3-a456-426655440000"},
		{FormatUUID, "", "00000000-0000-0000-0000-000000000000"},
	}
	for _, tt := range tests {
		c := Column{Format: tt.format}
		got, err := c.formatFixed(tt.stored)
		if err != nil || got != tt.want {
			t.Errorf("%s %x: %q, %v; want %q", tt.format, tt.stored, got, err, tt.want)
		}
	}
	if _, err := (&Column{Format: FormatUUID}).formatFixed(string(make([]byte, 17))); err == nil {
		t.Error("17 bytes accepted as a UUID")
	}
}
