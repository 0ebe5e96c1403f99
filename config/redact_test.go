package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

const secret = "Hunter2-s3cr3t"

// TestErrorsNeverShowPasswords feeds files that get a password wrong in
// every way we can think of, alongside other mistakes, and checks that no
// message quotes it.
func TestErrorsNeverShowPasswords(t *testing.T) {
	tests := []struct {
		name string
		text string
		env  map[string]string
	}{
		{"bare password is a syntax error", "[upstream]\nuser = \"u\"\npassword = " + secret + "\n", nil},
		{"bare password in an inline table", "upstream = { user = \"u\", password = " + secret + " }\n", nil},
		{"unterminated password string", "[upstream]\nuser = \"u\"\npassword = \"" + secret + "\n", nil},
		{"password after a syntax error elsewhere", "[upstream]\npassword = \"" + secret + "\"\nport = = 1\n", nil},
		{"password of the wrong type", "[upstream]\nuser = \"u\"\npassword = [\"" + secret + "\"]\n", nil},
		{"quoted key password of the wrong type", "[upstream]\nuser = \"u\"\n\"password\" = { x = \"" + secret + "\" }\n", nil},
		{"password in an unknown section", "[upstreem]\npassword = \"" + secret + "\"\n", nil},
		{"password with password_env", "[upstream]\nuser = \"u\"\npassword = \"" + secret + "\"\npassword_env = \"PW\"\n",
			map[string]string{"PW": secret}},
		{"password from the environment with other errors", "[upstream]\npassword_env = \"PW\"\nport = -1\n[downstream]\npassword = \"" + secret + "\"\n",
			map[string]string{"PW": secret}},
		{"bad escape in a password", "[downstream]\npassword = \"" + secret + "\\q\"\n", nil},
		{"password as a bare number", "[upstream]\npassword = 12" + secret + "\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse("config.toml", tt.text, envOf(tt.env))
			if err == nil {
				t.Fatalf("parse accepted\n%s", tt.text)
			}
			if msg := err.Error(); strings.Contains(msg, secret) {
				t.Errorf("error shows the password:\n%s", msg)
			}
			for e := err; e != nil; {
				if es, ok := e.(Errors); ok {
					for _, one := range es {
						if one.Err != nil && strings.Contains(one.Err.Error(), secret) {
							t.Errorf("wrapped error shows the password: %v", one.Err)
						}
					}
				}
				break
			}
		})
	}
}

func TestPrintingNeverShowsPasswords(t *testing.T) {
	cfg, err := load(validFile, envOf(map[string]string{"BINFLOW_UPSTREAM_PASSWORD": secret}))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Downstream.Password = secret + "-down"
	renderings := map[string]string{
		"Redacted":           cfg.Redacted(),
		"%v of *Config":      fmt.Sprintf("%v", cfg),
		"%+v of Config":      fmt.Sprintf("%+v", *cfg),
		"%#v of Config":      fmt.Sprintf("%#v", *cfg),
		"%v of Upstream":     fmt.Sprintf("%v", cfg.Upstream),
		"%#v of Upstream":    fmt.Sprintf("%#v", cfg.Upstream),
		"%+v of Downstream":  fmt.Sprintf("%+v", cfg.Downstream),
		"%#v of *Downstream": fmt.Sprintf("%#v", &cfg.Downstream),
	}
	cfg.Upstream.PasswordEnv = "" // as if the password had been in the file
	renderings["Redacted, password from file"] = cfg.Redacted()
	for name, text := range renderings {
		if strings.Contains(text, secret) {
			t.Errorf("%s shows the password:\n%s", name, text)
		}
	}
	if !strings.Contains(renderings["Redacted"], `password_env = "BINFLOW_UPSTREAM_PASSWORD"`) {
		t.Errorf("Redacted does not name the password variable:\n%s", renderings["Redacted"])
	}
	if !strings.Contains(renderings["Redacted, password from file"], `password = "REDACTED"`) {
		t.Errorf("Redacted does not mark the password as set:\n%s", renderings["Redacted, password from file"])
	}
	if cfg.Upstream.Password != secret {
		t.Error("Redacted changed the config it rendered")
	}
}

// TestRedactedRoundTrips checks that the redacted rendering is itself the
// same valid config, so that users can start from it.
func TestRedactedRoundTrips(t *testing.T) {
	cfg, err := load(validFile, validEnv)
	if err != nil {
		t.Fatal(err)
	}
	again, err := parse(validFile, cfg.Redacted(), validEnv)
	if err != nil {
		t.Fatalf("reparse of Redacted: %v\n%s", err, cfg.Redacted())
	}
	again.Downstream.Password = cfg.Downstream.Password // the one Redacted hid
	if !reflect.DeepEqual(again, cfg) {
		t.Errorf("round trip changed the config:\n got %s\nwant %s", mustGoDump(again), mustGoDump(cfg))
	}
}
