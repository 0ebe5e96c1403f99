package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Defaults for keys config.toml may leave out.
const (
	DefaultFlavor          = FlavorMariaDB
	DefaultHost            = "127.0.0.1"
	DefaultPort            = 3306
	DefaultServerID uint32 = 1001
	// MaxServerID bounds upstream.server_id: binflow's secondary binlog
	// connections (a flow catching up, a snapshot's window, verify) present
	// random server_ids above it (canal.EphemeralServerID).
	MaxServerID         uint32 = 1<<31 - 1
	DefaultStart               = StartSnapshot
	DefaultDriver              = DriverMySQL // when a server key is set; DriverSQLite otherwise
	DefaultPostgresPort        = 5432
	DefaultSQLitePath          = "binflow.db"
	DefaultMigrations          = "migrations"
	DefaultMaxRows             = 5000
	DefaultMaxDelay            = "200ms"
	DefaultQueueTxns           = 256
	DefaultRetryMax            = "30s"
	DefaultLogLevel            = "info"
	DefaultLogFormat           = LogFormatAuto
	DefaultHTTPListen          = "" // serve nothing
	DefaultMaxLag              = "30s"
	DefaultStallAfter          = "15s"
	MinStallAfter              = 3 * time.Second // heartbeats every second
	DefaultSinkMode            = ModeUpsert
)

// Load reads, decodes and validates the config file at path: unknown keys
// and values of the wrong type are errors, defaults fill the keys the file
// leaves out, password_env is resolved from the environment. A non-nil error
// is an Errors value listing every problem (ExitCode maps it to 2).
func Load(path string) (*Config, error) {
	return load(path, os.LookupEnv)
}

// load is Load with the environment passed in.
func load(path string, lookupEnv func(string) (string, bool)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Errors{{File: path, Problem: fmt.Sprintf("cannot read the config file: %v", err), Err: err}}
	}
	return parse(path, string(data), lookupEnv)
}

// parse turns the text of file into a valid Config.
func parse(file, text string, lookupEnv func(string) (string, bool)) (*Config, error) {
	cfg, d, err := decodeText(file, text)
	if err != nil {
		return nil, err
	}
	isSet := func(key string) bool { return d.defined[key] }
	cfg.applyDefaults(isSet)
	cfg.resolveTLSPaths()
	cfg.resolvePasswords(d.p, isSet, lookupEnv)
	// Validation problems about keys that failed to decode would only repeat
	// the decoding problem (a string max_rows also "must be positive").
	for _, e := range cfg.validate(isSet) {
		if !d.covers(e.Key) {
			d.p.errs = append(d.p.errs, e)
		}
	}
	if err := d.p.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// decodeText parses the TOML text and decodes it into a Config as far as the
// types allow; the returned decoder holds the problems found and which keys
// the file set. A syntax error returns Errors instead.
func decodeText(file, text string) (*Config, *decoder, error) {
	var tree map[string]any
	if _, err := toml.Decode(text, &tree); err != nil {
		return nil, nil, Errors{syntaxError(file, text, err)}
	}
	d := &decoder{p: &problems{file: file}, defined: map[string]bool{}}
	cfg := &Config{Path: file}
	d.decode("", tree, reflect.ValueOf(cfg).Elem())
	delete(d.defined, "") // the root is not a key
	return cfg, d, nil
}

// syntaxError turns a TOML parse error into an *Error with its position,
// making sure the message does not quote a password from the file.
func syntaxError(file, text string, err error) *Error {
	e := &Error{File: file, Problem: strings.TrimPrefix(err.Error(), "toml: "), Err: err}
	var pe toml.ParseError
	if errors.As(err, &pe) {
		e.Line, e.Column = pe.Position.Line, pe.Position.Col
		e.Problem = pe.Message
	}
	if mentionsSecret(e.Problem, text, e.Line) {
		e.Problem = "invalid TOML in a password value (not shown, so that the password is not)"
		e.Err = nil // the toml error quotes the same text
	}
	return e
}

// passwordAssignment finds `password =` (not password_env) anywhere on a
// line, inline tables included; the value follows the match.
var passwordAssignment = regexp.MustCompile(`\bpassword["']?[ \t]*=[ \t]*`)

// mentionsSecret reports whether msg is about a line that sets a password
// (line is 1-based, 0 for unknown) or quotes the value of any password the
// file sets.
func mentionsSecret(msg, text string, line int) bool {
	lines := strings.Split(text, "\n")
	if line > 0 && line <= len(lines) && passwordAssignment.MatchString(lines[line-1]) {
		return true
	}
	for _, l := range lines {
		for _, loc := range passwordAssignment.FindAllStringIndex(l, -1) {
			if value := leadingValue(l[loc[1]:]); value != "" && strings.Contains(msg, value) {
				return true
			}
		}
	}
	return false
}

// leadingValue returns the text of the TOML value at the start of s, without
// its quotes: up to the closing quote, or up to the first separator when bare.
func leadingValue(s string) string {
	if s == "" {
		return ""
	}
	if quote := s[0]; quote == '"' || quote == '\'' {
		rest := s[1:]
		if end := strings.IndexByte(rest, quote); end >= 0 {
			return rest[:end]
		}
		return rest
	}
	if end := strings.IndexAny(s, " \t,}]#"); end >= 0 {
		return s[:end]
	}
	return s
}

// applyDefaults fills the keys the file left out. isSet reports whether the
// file set a key, so that an explicit zero is validated, not replaced.
func (c *Config) applyDefaults(isSet func(key string) bool) {
	setString := func(key string, field *string, value string) {
		if !isSet(key) {
			*field = value
		}
	}
	setInt := func(key string, field *int, value int) {
		if !isSet(key) {
			*field = value
		}
	}
	setDuration := func(key string, field *Duration, value string) {
		if !isSet(key) {
			// The defaults are constants known to parse.
			_ = field.UnmarshalText([]byte(value))
		}
	}

	setString("upstream.flavor", &c.Upstream.Flavor, DefaultFlavor)
	setString("upstream.host", &c.Upstream.Host, DefaultHost)
	setInt("upstream.port", &c.Upstream.Port, DefaultPort)
	if !isSet("upstream.server_id") {
		c.Upstream.ServerID = DefaultServerID
	}
	setString("upstream.start", &c.Upstream.Start, DefaultStart)
	setString("upstream.server_change", &c.Upstream.ServerChange, ServerChangeRefuse)
	setString("upstream.tls", &c.Upstream.TLSMode, DefaultTLS)

	c.Downstream.applyDefaults(isSet, setString, setInt)
	setString("downstream.migrations", &c.Downstream.Migrations, DefaultMigrations)
	setString("downstream.tls", &c.Downstream.TLSMode, DefaultTLS)

	setInt("batch.max_rows", &c.Batch.MaxRows, DefaultMaxRows)
	setDuration("batch.max_delay", &c.Batch.MaxDelay, DefaultMaxDelay)
	setInt("batch.queue_txns", &c.Batch.QueueTxns, DefaultQueueTxns)
	setDuration("batch.retry_max", &c.Batch.RetryMax, DefaultRetryMax)

	setString("log.level", &c.Log.Level, DefaultLogLevel)
	setString("log.format", &c.Log.Format, DefaultLogFormat)

	setString("http.listen", &c.HTTP.Listen, DefaultHTTPListen)
	setDuration("health.max_lag", &c.Health.MaxLag, DefaultMaxLag)
	setDuration("health.stall_after", &c.Health.StallAfter, DefaultStallAfter)
	c.Snapshot.applyDefaults(setString, setInt, setDuration)

	for i := range c.Flows {
		functions := c.Flows[i].Functions
		for j := range functions {
			fn := &functions[j]
			if fn.Kind != KindSink {
				continue
			}
			key := functionKey(i, j)
			setString(key+".mode", &fn.Mode, DefaultSinkMode)
			// An aggregate's rows are identified by its group; writing them
			// under any other key would split or merge groups.
			if !isSet(key+".key") && j > 0 && functions[j-1].Kind == KindAggregate {
				fn.Key = functions[j-1].AggregateKey()
			}
			// An append sink's rows are identified by where they came from.
			if !isSet(key+".key") && fn.Mode == ModeAppend {
				fn.Key = AppendKey()
			}
		}
	}
}

// downstreamServerKeys are the keys of [downstream] that name a server:
// any of them set makes the driver default to mysql rather than sqlite.
var downstreamServerKeys = []string{"host", "port", "user", "password", "password_env", "database",
	"tls", "tls_ca", "tls_cert", "tls_key", "tls_server_name"}

// applyDefaults picks the driver (see Downstream), then that driver's
// defaults.
func (d *Downstream) applyDefaults(isSet func(string) bool, setString func(string, *string, string), setInt func(string, *int, int)) {
	if !isSet("downstream.driver") {
		d.Driver = DriverSQLite
		for _, k := range downstreamServerKeys {
			if isSet("downstream." + k) {
				d.Driver = DefaultDriver
				break
			}
		}
	}
	switch d.Driver {
	case DriverSQLite:
		setString("downstream.path", &d.Path, DefaultSQLitePath)
	case DriverPostgres:
		setString("downstream.host", &d.Host, DefaultHost)
		setInt("downstream.port", &d.Port, DefaultPostgresPort)
	default:
		setString("downstream.host", &d.Host, DefaultHost)
		setInt("downstream.port", &d.Port, DefaultPort)
	}
}

// resolvePasswords replaces password_env with the password it names.
func (c *Config) resolvePasswords(p *problems, isSet func(key string) bool, lookupEnv func(string) (string, bool)) {
	resolve := func(section string, password *string, env string) {
		if !isSet(section + ".password_env") {
			return
		}
		key := section + ".password_env"
		switch {
		case isSet(section + ".password"):
			p.add(key, "set either password or password_env, not both")
		case env == "":
			p.add(key, "must name an environment variable that holds the password")
		default:
			value, ok := lookupEnv(env)
			if !ok || value == "" {
				p.add(key, "environment variable %q is not set or is empty; export it or remove password_env", env)
				return
			}
			*password = value
		}
	}
	resolve("upstream", &c.Upstream.Password, c.Upstream.PasswordEnv)
	resolve("downstream", &c.Downstream.Password, c.Downstream.PasswordEnv)
}

func functionKey(flow, function int) string {
	return fmt.Sprintf("flows[%d].functions[%d]", flow, function)
}
