package canal

// Preflight checks of the upstream for `binflow check` and `binflow run`:
// everything binflow needs from the server, reported all at once with the
// exact setting to change.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// Problem is one thing wrong with the upstream, with how to fix it.
type Problem struct {
	Setting string // the variable, privilege or config key at fault
	Found   string // what the upstream has now
	Fix     string // what to run or change
	// Fatal problems stop `binflow run`; the others are warnings.
	Fatal bool
	// Table is the source table ("schema.table") that binflow may not read,
	// for a missing SELECT; empty for the other problems.
	Table string
}

func (p Problem) String() string {
	severity := "error"
	if !p.Fatal {
		severity = "warning"
	}
	return fmt.Sprintf("%s: %s: %s; fix: %s", severity, p.Setting, p.Found, p.Fix)
}

// Server error numbers the checks tell apart.
const (
	checkErrSpecificAccess    = 1227 // ER_SPECIFIC_ACCESS_DENIED_ERROR
	checkErrNoBinaryLogging   = 1381 // ER_NO_BINARY_LOGGING
	checkErrTableAccessDenied = 1142 // ER_TABLEACCESS_DENIED_ERROR
	checkErrDBAccessDenied    = 1044 // ER_DBACCESS_DENIED_ERROR
	checkErrAccessDenied      = 1045 // ER_ACCESS_DENIED_ERROR
	checkErrTableDoesNotExist = 1146 // ER_NO_SUCH_TABLE
	checkErrUnknownDatabase   = 1049 // ER_BAD_DB_ERROR
)

// Check inspects a live upstream over db and returns every problem found.
// flavor is "mariadb" or "mysql" (config's upstream.flavor); replicaServerID
// is the server_id binflow presents as a replica; tables are the flows'
// source tables ("schema.table"), whose databases need SELECT. An error
// means the checks themselves could not run (connection lost, say).
func Check(ctx context.Context, db *sql.DB, flavor string, replicaServerID uint32, tables []string) ([]Problem, error) {
	if flavor != "mariadb" && flavor != "mysql" {
		return nil, fmt.Errorf("check upstream: unknown flavor %q; expected mariadb or mysql", flavor)
	}
	vars, err := checkGlobalVariables(ctx, db)
	if err != nil {
		return nil, err
	}
	var problems []Problem
	problems = append(problems, checkFlavor(flavor, vars)...)
	problems = append(problems, checkBinlogSettings(vars)...)

	idProblems, err := checkServerIDs(ctx, db, flavor, replicaServerID, vars["server_id"])
	if err != nil {
		return nil, err
	}
	problems = append(problems, idProblems...)

	grantProblems, err := checkPrivileges(ctx, db, vars["version"], tables)
	if err != nil {
		return nil, err
	}
	return append(problems, grantProblems...), nil
}

// checkVariableNames are the global variables the checks read. Those a
// server lacks are simply absent from the result.
var checkVariableNames = []string{
	"version", "server_id", "log_bin", "binlog_format", "binlog_row_image", "binlog_row_metadata",
}

func checkGlobalVariables(ctx context.Context, db *sql.DB) (map[string]string, error) {
	query := "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('" + strings.Join(checkVariableNames, "','") + "')"
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("check upstream: read global variables: %w", err)
	}
	defer rows.Close()
	vars := map[string]string{}
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return nil, fmt.Errorf("check upstream: read global variables: %w", err)
		}
		vars[strings.ToLower(name)] = value
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("check upstream: read global variables: %w", err)
	}
	return vars, nil
}

// checkFlavor catches a config that names the wrong kind of server: the two
// speak different replication protocols (GTID events, capabilities).
func checkFlavor(flavor string, vars map[string]string) []Problem {
	isMariaDB := strings.Contains(strings.ToLower(vars["version"]), "mariadb")
	if (flavor == "mariadb") == isMariaDB {
		return nil
	}
	actual := "mysql"
	if isMariaDB {
		actual = "mariadb"
	}
	return []Problem{{
		Setting: "upstream.flavor (config.toml)",
		Found:   fmt.Sprintf("%q, but the server is %s (version %s)", flavor, actual, vars["version"]),
		Fix:     fmt.Sprintf("set flavor = %q under [upstream] in config.toml", actual),
		Fatal:   true,
	}}
}

// checkBinlogSettings checks that the binlog carries whole rows with their
// column names, which is all binflow reads.
func checkBinlogSettings(vars map[string]string) []Problem {
	var problems []Problem
	if logBin := vars["log_bin"]; !strings.EqualFold(logBin, "ON") && logBin != "1" {
		problems = append(problems, Problem{
			Setting: "log_bin",
			Found:   checkShow(logBin),
			Fix:     "binary logging is off: set log_bin (e.g. log_bin = mysql-bin) under [mysqld] in my.cnf and restart the server; it cannot be turned on at run time",
			Fatal:   true,
		})
	}
	if format := vars["binlog_format"]; !strings.EqualFold(format, "ROW") {
		problems = append(problems, Problem{
			Setting: "binlog_format",
			Found:   checkShow(format),
			Fix: "run SET GLOBAL binlog_format = 'ROW' and set binlog_format = ROW under [mysqld] in my.cnf so it survives a restart; " +
				"sessions already connected keep their old format until they reconnect, so restart or reconnect the applications that write",
			Fatal: true,
		})
	}
	if image := vars["binlog_row_image"]; !strings.EqualFold(image, "FULL") {
		problems = append(problems, Problem{
			Setting: "binlog_row_image",
			Found:   checkShow(image),
			Fix: "run SET GLOBAL binlog_row_image = 'FULL' and set binlog_row_image = FULL under [mysqld] in my.cnf " +
				"(binflow needs every column of the before and after images); existing sessions keep the old value until they reconnect",
			Fatal: true,
		})
	}
	metadata, known := vars["binlog_row_metadata"]
	switch {
	case !known:
		problems = append(problems, Problem{
			Setting: "binlog_row_metadata",
			Found:   fmt.Sprintf("no such variable: server %s is too old", checkShow(vars["version"])),
			Fix:     "upgrade to MariaDB 10.5 or later, or MySQL 8.0.1 or later, and set binlog_row_metadata = FULL: binflow reads column names from the binlog",
			Fatal:   true,
		})
	case strings.EqualFold(metadata, "NO_LOG"):
		problems = append(problems, Problem{
			Setting: "binlog_row_metadata",
			Found:   checkShow(metadata),
			Fix: "run SET GLOBAL binlog_row_metadata = 'FULL' and set binlog_row_metadata = FULL under [mysqld] in my.cnf " +
				"(binflow reads column names, signedness and charsets from the binlog; MINIMAL works too, with the schema history of the DDL)",
			Fatal: true,
		})
	case !strings.EqualFold(metadata, "FULL"):
		// Not fatal: binflow then follows table schemas through the DDL in
		// the binlog (canal/history.go), which cannot tell the columns of
		// events older than a change it did not see, and says so.
		problems = append(problems, Problem{
			Setting: "binlog_row_metadata",
			Found:   checkShow(metadata),
			Fix: "binflow will follow table schemas through the DDL statements in the binlog, and stops when it cannot tell the columns of an event " +
				"(a table altered while binflow was not reading); run SET GLOBAL binlog_row_metadata = 'FULL' and set binlog_row_metadata = FULL " +
				"under [mysqld] in my.cnf so that every event names its columns; existing sessions keep the old value until they reconnect",
		})
	}
	return problems
}

// checkShow renders a variable's value for Found.
func checkShow(value string) string {
	if value == "" {
		return "nothing"
	}
	return value
}

// checkServerIDs makes sure binflow's replica server_id is unique: the
// upstream drops one of two replicas that share an id, and ignores events
// carrying its own id.
func checkServerIDs(ctx context.Context, db *sql.DB, flavor string, replicaServerID uint32, upstreamID string) ([]Problem, error) {
	fix := "set server_id under [upstream] in config.toml to a number that no server or replica in the replication topology uses"
	if upstreamID == strconv.FormatUint(uint64(replicaServerID), 10) {
		return []Problem{{
			Setting: "upstream.server_id (config.toml)",
			Found:   fmt.Sprintf("%d, the upstream's own @@server_id", replicaServerID),
			Fix:     fix,
			Fatal:   true,
		}}, nil
	}
	replicas, err := checkConnectedReplicas(ctx, db, flavor)
	if err != nil {
		return nil, err
	}
	for _, r := range replicas {
		if r.serverID == replicaServerID {
			return []Problem{{
				Setting: "upstream.server_id (config.toml)",
				Found: fmt.Sprintf("%d, already used by a replica connected from %s (another binflow with the same id counts too)",
					replicaServerID, r.host),
				Fix: fix,
				// Not fatal: after a crash (kill -9) the upstream lists the
				// dead binflow's connection until it notices, and a replica
				// that registers with the same id replaces it. Refusing here
				// would make binflow unable to restart after a crash.
				Fatal: false,
			}}, nil
		}
	}
	return nil, nil
}

type checkReplica struct {
	serverID uint32
	host     string
}

// checkConnectedReplicas lists the replicas registered with the upstream,
// or nothing when binflow's user may not see them (MariaDB wants REPLICATION
// MASTER ADMIN for that, which binflow does not need otherwise).
func checkConnectedReplicas(ctx context.Context, db *sql.DB, flavor string) ([]checkReplica, error) {
	statements := []string{"SHOW SLAVE HOSTS"}
	if flavor == "mysql" {
		statements = []string{"SHOW REPLICAS", "SHOW SLAVE HOSTS"} // the first needs 8.0.22+
	}
	var lastErr error
	for _, statement := range statements {
		replicas, err := checkQueryReplicas(ctx, db, statement)
		if err == nil {
			return replicas, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("check upstream: %s: %w", statement, err)
		}
		lastErr = err
	}
	var me *mysql.MySQLError
	if errors.As(lastErr, &me) {
		return nil, nil // not allowed, or not supported: the upstream's own id was checked
	}
	return nil, fmt.Errorf("check upstream: list replicas: %w", lastErr)
}

func checkQueryReplicas(ctx context.Context, db *sql.DB, statement string) ([]checkReplica, error) {
	rows, err := db.QueryContext(ctx, statement)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	columns, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	idColumn, hostColumn := -1, -1
	for i, c := range columns {
		switch strings.ToLower(c) {
		case "server_id":
			idColumn = i
		case "host":
			hostColumn = i
		}
	}
	var replicas []checkReplica
	for rows.Next() {
		values := make([]sql.NullString, len(columns))
		dest := make([]any, len(columns))
		for i := range values {
			dest[i] = &values[i]
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if idColumn < 0 {
			continue
		}
		id, err := strconv.ParseUint(values[idColumn].String, 10, 32)
		if err != nil {
			continue
		}
		r := checkReplica{serverID: uint32(id), host: "an unknown host"}
		if hostColumn >= 0 && values[hostColumn].String != "" {
			r.host = values[hostColumn].String
		}
		replicas = append(replicas, r)
	}
	return replicas, rows.Err()
}

// checkPrivileges checks the grants of CURRENT_USER() (SHOW GRANTS, which on
// MariaDB includes the active role's): REPLICATION SLAVE to
// read the binlog, the right to list binlogs (REPLICATION CLIENT, called
// BINLOG MONITOR on MariaDB 10.5+), and SELECT on every source table.
// SHOW GRANTS decides; where it says no, a harmless probe statement gets the
// last word, so grants that reach the user another way (a role) still count.
func checkPrivileges(ctx context.Context, db *sql.DB, version string, tables []string) ([]Problem, error) {
	var account string
	if err := db.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&account); err != nil {
		return nil, fmt.Errorf("check upstream: CURRENT_USER(): %w", err)
	}
	grantee := checkQuoteAccount(account)
	grants, err := checkShowGrants(ctx, db)
	if err != nil {
		return nil, err
	}

	var problems []Problem
	if !grants.global("REPLICATION SLAVE", "REPLICATION REPLICA") {
		problems = append(problems, Problem{
			Setting: "privilege REPLICATION SLAVE",
			Found:   "not granted to " + grantee,
			Fix:     fmt.Sprintf("GRANT REPLICATION SLAVE ON *.* TO %s; binflow reads the binlog as a replica does", grantee),
			Fatal:   true,
		})
	}

	canList, err := checkCanListBinlogs(ctx, db, grants, version)
	if err != nil {
		return nil, err
	}
	if !canList {
		privilege := "REPLICATION CLIENT"
		if strings.Contains(strings.ToLower(version), "mariadb") {
			privilege = "BINLOG MONITOR" // REPLICATION CLIENT is its old name there
		}
		problems = append(problems, Problem{
			Setting: "privilege " + privilege,
			Found:   "not granted to " + grantee + " (SHOW BINARY LOGS is refused)",
			Fix:     fmt.Sprintf("GRANT %s ON *.* TO %s; binflow lists binlogs to find its position and to detect purged ones", privilege, grantee),
			Fatal:   true,
		})
	}

	for _, table := range checkSortedUnique(tables) {
		database, name, ok := strings.Cut(table, ".")
		if !ok || database == "" || name == "" {
			return nil, fmt.Errorf("check upstream: source table %q: expected schema.table", table)
		}
		if grants.onTable("SELECT", database, name) {
			continue
		}
		allowed, err := checkCanSelect(ctx, db, database, name)
		if err != nil {
			return nil, err
		}
		if !allowed {
			problems = append(problems, Problem{
				Setting: "privilege SELECT on " + table,
				Found:   "not granted to " + grantee,
				Fix: fmt.Sprintf("GRANT SELECT ON %s.* TO %s; binflow reads source tables to snapshot them and to learn their schema",
					checkQuoteIdentifier(database), grantee),
				Fatal: true,
				Table: table,
			})
		}
	}
	return problems, nil
}

func checkShowGrants(ctx context.Context, db *sql.DB) (checkGrantSet, error) {
	rows, err := db.QueryContext(ctx, "SHOW GRANTS")
	if err != nil {
		return nil, fmt.Errorf("check upstream: SHOW GRANTS: %w", err)
	}
	defer rows.Close()
	var grants checkGrantSet
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, fmt.Errorf("check upstream: SHOW GRANTS: %w", err)
		}
		// Lines may hold a password hash: they are parsed, never shown.
		if g, ok := checkParseGrant(line); ok {
			grants = append(grants, g)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("check upstream: SHOW GRANTS: %w", err)
	}
	return grants, nil
}

// checkCanListBinlogs tries SHOW BINARY LOGS; when binary logging is off the
// server refuses it for that reason, and the grants decide instead.
func checkCanListBinlogs(ctx context.Context, db *sql.DB, grants checkGrantSet, version string) (bool, error) {
	rows, err := db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err == nil {
		rows.Close()
		return true, nil
	}
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return false, fmt.Errorf("check upstream: SHOW BINARY LOGS: %w", err)
	}
	switch me.Number {
	case checkErrSpecificAccess, checkErrAccessDenied:
		return false, nil
	case checkErrNoBinaryLogging:
		names := []string{"REPLICATION CLIENT", "BINLOG MONITOR"}
		if !strings.Contains(strings.ToLower(version), "mariadb") {
			names = append(names, "SUPER") // MySQL still lets SUPER list binlogs
		}
		return grants.global(names...), nil
	}
	return false, fmt.Errorf("check upstream: SHOW BINARY LOGS: %w", err)
}

// checkCanSelect probes SELECT on a table without reading a row.
func checkCanSelect(ctx context.Context, db *sql.DB, database, table string) (bool, error) {
	query := "SELECT 1 FROM " + checkQuoteIdentifier(database) + "." + checkQuoteIdentifier(table) + " LIMIT 0"
	rows, err := db.QueryContext(ctx, query)
	if err == nil {
		rows.Close()
		return true, nil
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case checkErrTableAccessDenied, checkErrDBAccessDenied, checkErrAccessDenied, checkErrSpecificAccess:
			return false, nil
		case checkErrTableDoesNotExist, checkErrUnknownDatabase:
			// Whether the table exists is checked elsewhere; without a
			// grant that covers it, SELECT is missing either way.
			return false, nil
		}
	}
	return false, fmt.Errorf("check upstream: probe SELECT on %s.%s: %w", database, table, err)
}

// CheckPurged returns a non-nil error, wrapping ErrPurged, when file is no
// longer on the upstream or is newer than its newest file, saying how to
// recover: the flows reading from there must be re-snapshotted or their
// checkpoints reset. binflow never skips ahead.
func CheckPurged(ctx context.Context, db *sql.DB, file string) error {
	if file == "" {
		return fmt.Errorf("check binlog position: no binlog file given")
	}
	files, err := checkBinaryLogs(ctx, db)
	if err != nil {
		return err
	}
	for _, f := range files {
		if f == file {
			return nil
		}
	}
	const recover = "binflow never skips events: rebuild the derived tables of the flows that start there from a fresh snapshot " +
		"and reset their checkpoints (or point them at a position the upstream still has), " +
		"and keep binlogs longer (binlog_expire_logs_seconds, expire_logs_days) than binflow may fall behind"
	if len(files) == 0 {
		return fmt.Errorf("%w: binlog file %s: the upstream lists no binlog files at all (is log_bin on?); %s", ErrPurged, file, recover)
	}
	oldest, newest := files[0], files[len(files)-1]
	base, _ := checkSplitBinlogName(file)
	newestBase, _ := checkSplitBinlogName(newest)
	switch {
	case base != newestBase:
		return fmt.Errorf("%w: binlog file %s is not on the upstream, whose binlogs are %s to %s: the checkpoint belongs to another server "+
			"or the binlog base name (log_bin, log_basename) changed; %s", ErrPurged, file, oldest, newest, recover)
	case checkBinlogLess(newest, file):
		return fmt.Errorf("%w: binlog file %s is newer than the upstream's newest, %s: the checkpoint belongs to another server "+
			"or the upstream's binlogs were reset (RESET MASTER); %s", ErrPurged, file, newest, recover)
	case checkBinlogLess(file, oldest):
		return fmt.Errorf("%w: binlog file %s was purged from the upstream, whose oldest is now %s; %s", ErrPurged, file, oldest, recover)
	default:
		return fmt.Errorf("%w: binlog file %s is missing from the upstream, which has %s to %s; %s", ErrPurged, file, oldest, newest, recover)
	}
}

// checkBinaryLogs lists the upstream's binlog files, oldest first.
func checkBinaryLogs(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		var me *mysql.MySQLError
		if errors.As(err, &me) && me.Number == checkErrNoBinaryLogging {
			return nil, nil
		}
		return nil, fmt.Errorf("check binlog position: SHOW BINARY LOGS (needs REPLICATION CLIENT, or BINLOG MONITOR on MariaDB): %w", err)
	}
	defer rows.Close()
	columns, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("check binlog position: SHOW BINARY LOGS: %w", err)
	}
	var files []string
	for rows.Next() {
		// Log_name, File_size, and on MySQL 8 Encrypted.
		values := make([]sql.RawBytes, len(columns))
		dest := make([]any, len(columns))
		for i := range values {
			dest[i] = &values[i]
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("check binlog position: SHOW BINARY LOGS: %w", err)
		}
		files = append(files, string(values[0]))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("check binlog position: SHOW BINARY LOGS: %w", err)
	}
	return files, nil
}

// checkBinlogLess orders binlog file names "base.000123" by base, then by
// sequence number (which may outgrow its zero padding).
func checkBinlogLess(a, b string) bool {
	baseA, seqA := checkSplitBinlogName(a)
	baseB, seqB := checkSplitBinlogName(b)
	if baseA != baseB {
		return a < b
	}
	return seqA < seqB
}

func checkSplitBinlogName(name string) (string, uint64) {
	dot := strings.LastIndexByte(name, '.')
	if dot < 0 {
		return name, 0
	}
	seq, err := strconv.ParseUint(name[dot+1:], 10, 64)
	if err != nil {
		return name, 0
	}
	return name[:dot], seq
}

// ServerIdentity returns @@server_id and, where the server has one,
// @@server_uuid (MySQL); MariaDB has no server_uuid and gets "".
func ServerIdentity(ctx context.Context, db *sql.DB) (id uint32, uuid string, err error) {
	var idText string
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.server_id").Scan(&idText); err != nil {
		return 0, "", fmt.Errorf("upstream identity: @@server_id: %w", err)
	}
	n, err := strconv.ParseUint(idText, 10, 32)
	if err != nil {
		return 0, "", fmt.Errorf("upstream identity: @@server_id %q is not a 32-bit number", idText)
	}
	// SHOW VARIABLES returns no row for a variable the server lacks, where
	// SELECT @@server_uuid would fail on MariaDB.
	var name string
	err = db.QueryRowContext(ctx, "SHOW GLOBAL VARIABLES LIKE 'server\\_uuid'").Scan(&name, &uuid)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return uint32(n), "", nil
	case err != nil:
		return 0, "", fmt.Errorf("upstream identity: @@server_uuid: %w", err)
	}
	return uint32(n), uuid, nil
}

// checkGrant is one parsed line of SHOW GRANTS.
type checkGrant struct {
	privileges map[string]bool // upper case, single spaces: "SELECT", "REPLICATION SLAVE"
	database   string          // "*" for every database
	table      string          // "*" for every table
}

type checkGrantSet []checkGrant

// global reports whether any of the privileges is granted ON *.*.
func (gs checkGrantSet) global(privileges ...string) bool {
	for _, g := range gs {
		if g.database == "*" && g.table == "*" && g.hasAny(privileges) {
			return true
		}
	}
	return false
}

// onTable reports whether privilege applies to database.table through a
// global, database or table grant.
func (gs checkGrantSet) onTable(privilege, database, table string) bool {
	for _, g := range gs {
		if !g.hasAny([]string{privilege}) {
			continue
		}
		switch {
		case g.database == "*":
			return true
		case g.table == "*":
			// Database-level grants match names as LIKE patterns.
			if checkLikeMatch(g.database, database) {
				return true
			}
		case g.database == database && g.table == table:
			return true
		}
	}
	return false
}

func (g checkGrant) hasAny(privileges []string) bool {
	if g.privileges["ALL PRIVILEGES"] || g.privileges["ALL"] {
		return true
	}
	for _, p := range privileges {
		if g.privileges[p] {
			return true
		}
	}
	return false
}

// checkParseGrant parses one SHOW GRANTS line of MariaDB or MySQL, e.g.
//
//	GRANT SELECT, REPLICATION SLAVE ON *.* TO `binflow`@`%` IDENTIFIED BY PASSWORD '*AB…'
//	GRANT SELECT (`id`, `total`), INSERT ON `shop`.`orders` TO 'app'@'localhost'
//
// ok is false for lines that grant no object privileges (roles, PROXY,
// routines) or that it cannot read. Column privileges are left out: they do
// not let binflow read whole rows.
func checkParseGrant(line string) (grant checkGrant, ok bool) {
	line = strings.TrimSpace(line)
	if len(line) < 6 || !strings.EqualFold(line[:6], "GRANT ") {
		return checkGrant{}, false
	}
	rest := line[6:]
	on := checkIndexTopLevel(rest, " ON ")
	if on < 0 {
		return checkGrant{}, false // GRANT `role` TO `user`
	}
	privilegeList, afterOn := rest[:on], rest[on+len(" ON "):]
	to := checkIndexTopLevel(afterOn, " TO ")
	if to < 0 {
		return checkGrant{}, false
	}
	target := strings.TrimSpace(afterOn[:to])

	upperTarget := strings.ToUpper(target)
	switch {
	case strings.HasPrefix(upperTarget, "TABLE "):
		target = strings.TrimSpace(target[len("TABLE "):])
	case strings.HasPrefix(upperTarget, "FUNCTION "), strings.HasPrefix(upperTarget, "PROCEDURE "),
		strings.HasPrefix(upperTarget, "PACKAGE "):
		return checkGrant{}, false
	}
	database, afterDatabase, ok := checkParseIdentifier(target)
	if !ok || !strings.HasPrefix(afterDatabase, ".") {
		return checkGrant{}, false // PROXY ON ''@'%', or a name we cannot read
	}
	table, afterTable, ok := checkParseIdentifier(afterDatabase[1:])
	if !ok || strings.TrimSpace(afterTable) != "" {
		return checkGrant{}, false
	}

	privileges := map[string]bool{}
	for _, p := range checkSplitTopLevel(privilegeList, ',') {
		p = strings.Join(strings.Fields(strings.ToUpper(p)), " ")
		if p == "" || strings.Contains(p, "(") {
			continue // a column privilege
		}
		privileges[p] = true
	}
	return checkGrant{privileges: privileges, database: database, table: table}, true
}

// checkParseIdentifier reads `quoted`, * or a bare name from the start of s.
func checkParseIdentifier(s string) (name, rest string, ok bool) {
	s = strings.TrimLeft(s, " ")
	switch {
	case s == "":
		return "", "", false
	case s[0] == '*':
		return "*", s[1:], true
	case s[0] == '`':
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			if s[i] != '`' {
				b.WriteByte(s[i])
				continue
			}
			if i+1 < len(s) && s[i+1] == '`' { // a doubled backtick is one backtick
				b.WriteByte('`')
				i++
				continue
			}
			return b.String(), s[i+1:], true
		}
		return "", "", false
	case s[0] == '\'' || s[0] == '"':
		return "", "", false
	}
	end := strings.IndexAny(s, ". ")
	if end < 0 {
		end = len(s)
	}
	return s[:end], s[end:], end > 0
}

// checkIndexTopLevel finds sep (ASCII, matched case-insensitively) in s
// outside quotes and parentheses, or returns -1.
func checkIndexTopLevel(s, sep string) int {
	var quote byte
	depth := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0 // a doubled quote reopens at once, which is the same
			}
		case c == '`' || c == '\'' || c == '"':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
		case depth == 0 && len(s)-i >= len(sep) && strings.EqualFold(s[i:i+len(sep)], sep):
			return i
		}
	}
	return -1
}

// checkSplitTopLevel splits s at sep outside quotes and parentheses.
func checkSplitTopLevel(s string, sep byte) []string {
	var parts []string
	var quote byte
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '`' || c == '\'' || c == '"':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == sep && depth == 0:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// checkLikeMatch matches name against a database-level grant pattern, where
// % and _ are wildcards and \ escapes them (as in `shop\_db`.*).
func checkLikeMatch(pattern, name string) bool {
	var expr strings.Builder
	expr.WriteString("^")
	escaped := false
	for _, r := range pattern {
		switch {
		case escaped:
			expr.WriteString(regexp.QuoteMeta(string(r)))
			escaped = false
		case r == '\\':
			escaped = true
		case r == '%':
			expr.WriteString("(?s:.*)")
		case r == '_':
			expr.WriteString("(?s:.)")
		default:
			expr.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	if escaped {
		expr.WriteString(regexp.QuoteMeta("\\"))
	}
	expr.WriteString("$")
	re, err := regexp.Compile(expr.String())
	return err == nil && re.MatchString(name)
}

// checkQuoteAccount turns CURRENT_USER()'s "user@host" into 'user'@'host'
// for a GRANT statement.
func checkQuoteAccount(account string) string {
	user, host := account, ""
	if at := strings.LastIndexByte(account, '@'); at >= 0 {
		user, host = account[:at], account[at+1:]
	}
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	return quote(user) + "@" + quote(host)
}

// checkQuoteIdentifier quotes a MySQL identifier with backticks.
func checkQuoteIdentifier(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

func checkSortedUnique(items []string) []string {
	set := map[string]bool{}
	for _, item := range items {
		set[item] = true
	}
	unique := make([]string, 0, len(set))
	for item := range set {
		unique = append(unique, item)
	}
	sort.Strings(unique)
	return unique
}
