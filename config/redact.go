package config

import (
	"bytes"
	"fmt"

	"github.com/BurntSushi/toml"
)

// redactedPassword stands in for a password in anything printed.
const redactedPassword = "REDACTED"

// MarshalText writes the duration the way config.toml spells it ("200ms").
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.Duration.String()), nil
}

// Redacted renders the effective config (defaults applied) as TOML, with
// every password from the file replaced by REDACTED (one from password_env
// left out), so that it can be logged or shown.
func (c *Config) Redacted() string {
	safe := *c
	safe.Upstream.Password = redact(c.Upstream.Password, c.Upstream.PasswordEnv)
	safe.Downstream.Password = redact(c.Downstream.Password, c.Downstream.PasswordEnv)
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(safe); err != nil {
		// Every field type of Config encodes; this only guards future fields.
		return fmt.Sprintf("# config %s cannot be shown: %v\n", c.Path, err)
	}
	return b.String()
}

// String is Redacted, so that printing a Config with %v never shows a password.
func (c Config) String() string { return c.Redacted() }

// GoString keeps %#v from showing passwords too.
func (c Config) GoString() string { return c.Redacted() }

// String shows the upstream without its password.
func (u Upstream) String() string {
	return fmt.Sprintf("%s://%s@%s:%d (server_id %d, start %q, password %s)",
		u.Flavor, u.User, u.Host, u.Port, u.ServerID, u.Start, redactState(u.Password, u.PasswordEnv))
}

// GoString keeps %#v from showing the password.
func (u Upstream) GoString() string { return u.String() }

// String shows the downstream without its password.
func (d Downstream) String() string {
	return fmt.Sprintf("%s://%s@%s:%d/%s (password %s)",
		d.Driver, d.User, d.Host, d.Port, d.Database, redactState(d.Password, d.PasswordEnv))
}

// GoString keeps %#v from showing the password.
func (d Downstream) GoString() string { return d.String() }

// redact hides a password; one read from the environment is left out, as
// in the file, so that the rendering loads again.
func redact(password, env string) string {
	if password == "" || env != "" {
		return ""
	}
	return redactedPassword
}

// redactState says where a password comes from without showing it.
func redactState(password, env string) string {
	switch {
	case env != "":
		return fmt.Sprintf("from $%s", env)
	case password != "":
		return redactedPassword
	default:
		return "none"
	}
}
