package cli

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/rs/zerolog"

	"github.com/binflow/binflow/canal"
	"github.com/binflow/binflow/config"
	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/schema"
)

// refuseReset is `binflow reset` without --yes: it checks the arguments,
// says what --yes would do, and exits 2.
func refuseReset(ctx context.Context, cfg *config.Config, name, to string, stderr io.Writer) int {
	if _, err := findFlow(cfg, name); err != nil {
		fmt.Fprintln(stderr, "binflow reset:", err)
		return exitConfig
	}
	if to == "" {
		fmt.Fprintf(stderr, "binflow reset: --to is required: a binlog position FILE:POS or a GTID set\nusage: %s\n", flowCommands["reset"])
		return exitConfig
	}
	fmt.Fprintf(stderr, "binflow reset: refusing without --yes: this would set flow %s's checkpoint to %s.\n"+
		"Its derived tables are not changed: they must already reflect the upstream up to there (else run `binflow rebuild %s`).\n"+
		"A binflow running the flow picks the new checkpoint up within seconds. Add --yes to do it.\n", name, to, name)
	return exitConfig
}

// reset sets a flow's checkpoint to a binlog position or GTID set of the
// upstream, after checking that the upstream has it and that it is a
// transaction boundary.
func reset(ctx context.Context, cfg *config.Config, name, to string, out io.Writer) error {
	if _, err := findFlow(cfg, name); err != nil {
		return err
	}
	if to == "" {
		return fmt.Errorf("--to is required: a binlog position FILE:POS or a GTID set")
	}
	src, err := canal.NewSource(ctx, upstreamOptions(cfg, zerolog.Nop()))
	if err != nil {
		return err
	}
	defer src.Close()
	pos, err := resetTarget(ctx, src, cfg.Upstream.Flavor, to)
	if err != nil {
		return fmt.Errorf("flow %s: --to %s: %w", name, to, err)
	}
	gtid, err := src.GTIDSetAt(ctx, pos)
	if err != nil {
		return err
	}
	serverID, serverUUID := src.Identity()
	store, _, err := dialStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	old, had, err := store.SetCheckpoint(ctx, connectors.Checkpoint{Flow: name, Pos: pos, GTID: gtid, ServerID: serverID, ServerUUID: serverUUID})
	if err != nil {
		return err
	}
	from := "none"
	if had {
		from = old.Pos.String()
	}
	fmt.Fprintf(out, "flow %s: checkpoint moved from %s to %s (GTID set %q); derived tables unchanged.\n", name, from, pos, gtid)
	return nil
}

// resetTarget resolves --to: "FILE:POS" (or "FILE", its start) or a GTID
// set, to a binlog position the upstream has, at a transaction boundary.
func resetTarget(ctx context.Context, src *canal.Source, flavor, to string) (schema.Position, error) {
	if looksLikePosition(to) {
		file, pos, noPos, err := config.ParseStart(to)
		if err != nil || noPos {
			return schema.Position{}, fmt.Errorf(`expected FILE:POS (e.g. "mysql-bin.000042:1234") or a GTID set`)
		}
		p := schema.Position{File: file, Pos: max(pos, 4)}
		return p, checkBoundary(ctx, src, p)
	}
	if flavor == gomysql.MySQLFlavor {
		return schema.Position{}, errors.New("a GTID set can only be resolved to a position on MariaDB; give FILE:POS")
	}
	set, err := canal.ParseGTIDSet(flavor, to)
	if err != nil {
		return schema.Position{}, err
	}
	pos, err := gtidPosition(ctx, src, strings.Split(set.String(), ","))
	if err != nil {
		return schema.Position{}, err
	}
	at, err := src.GTIDSetAt(ctx, pos)
	if err != nil {
		return schema.Position{}, err
	}
	got, err := canal.ParseGTIDSet(flavor, at)
	if err != nil || got.String() != set.String() {
		return schema.Position{}, fmt.Errorf("the GTID set is no single binlog position of this upstream: at %s, after its last transaction, the upstream's set is %q", pos, at)
	}
	return pos, nil
}

// looksLikePosition tells a binlog file name (with a dot: "mysql-bin.000042")
// from a GTID set ("0-1-42", "uuid:1-42").
func looksLikePosition(s string) bool {
	file, _, _ := strings.Cut(s, ":")
	return strings.Contains(file, ".")
}

// binlogEvent is a row of SHOW BINLOG EVENTS.
type binlogEvent struct {
	pos, end uint64
	typ      string
	info     string
}

// binlogEvents lists the events of file from pos (0: all), at most limit
// (0: no limit).
func binlogEvents(ctx context.Context, db *sql.DB, file string, pos uint64, limit int) ([]binlogEvent, error) {
	q := "SHOW BINLOG EVENTS IN '" + strings.ReplaceAll(file, "'", "''") + "'"
	if pos > 0 {
		q += " FROM " + strconv.FormatUint(pos, 10)
	}
	if limit > 0 {
		q += " LIMIT " + strconv.Itoa(limit)
	}
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil || len(cols) < 6 {
		return nil, fmt.Errorf("%s: unexpected columns %v (%v)", q, cols, err)
	}
	var out []binlogEvent
	for rows.Next() {
		var name string
		var serverID uint64
		var ev binlogEvent
		if err := rows.Scan(&name, &ev.pos, &ev.typ, &serverID, &ev.end, &ev.info); err != nil {
			return nil, fmt.Errorf("%s: %w", q, err)
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

// checkBoundary checks that the upstream has p and that no transaction is
// open there.
func checkBoundary(ctx context.Context, src *canal.Source, p schema.Position) error {
	logs, err := src.BinaryLogs(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(logs, func(f canal.BinlogFile) bool { return f.Name == p.File })
	if i < 0 {
		return fmt.Errorf("the upstream has no binlog %s (it has %s to %s)", p.File, logs.Oldest(), logs.Newest())
	}
	if uint64(p.Pos) > logs[i].Size {
		return fmt.Errorf("%s is only %d bytes long", p.File, logs[i].Size)
	}
	if uint64(p.Pos) == logs[i].Size || p.Pos == 4 {
		return nil
	}
	events, err := binlogEvents(ctx, src.DB(), p.File, uint64(p.Pos), 1)
	if err != nil {
		return fmt.Errorf("no event starts at %s: %w", p, err)
	}
	if len(events) == 0 {
		return nil
	}
	switch events[0].typ {
	case "Gtid", "Format_desc", "Gtid_list", "Binlog_checkpoint", "Rotate", "Stop", "Start_encryption", "Anonymous_Gtid", "Previous_gtids":
		return nil
	case "Query":
		if !strings.EqualFold(strings.TrimSpace(events[0].info), "COMMIT") {
			return nil
		}
	}
	return fmt.Errorf("%s is inside a transaction (the event there is %s); give the position after a transaction's commit", p, events[0].typ)
}

// gtidPosition finds the binlog position just after the latest of the
// transactions gtids ("domain-server-seq") names, searching the newest
// binlogs first.
func gtidPosition(ctx context.Context, src *canal.Source, gtids []string) (schema.Position, error) {
	logs, err := src.BinaryLogs(ctx)
	if err != nil {
		return schema.Position{}, err
	}
	want := map[string]bool{}
	for _, g := range gtids {
		if g = strings.TrimSpace(g); g != "" {
			want[g] = true
		}
	}
	var best schema.Position
	for i := len(logs) - 1; i >= 0 && len(want) > 0; i-- {
		events, err := binlogEvents(ctx, src.DB(), logs[i].Name, 0, 0)
		if err != nil {
			return schema.Position{}, err
		}
		for j := 0; j < len(events); j++ {
			if events[j].typ != "Gtid" {
				continue
			}
			fields := strings.Fields(events[j].info) // "BEGIN GTID 0-1-42" or "GTID 0-1-42" (DDL)
			if len(fields) == 0 || !want[fields[len(fields)-1]] {
				continue
			}
			delete(want, fields[len(fields)-1])
			ddl := fields[0] != "BEGIN"
			for k := j + 1; k < len(events); k++ {
				e := events[k]
				if e.typ == "Xid" || (e.typ == "Query" && (ddl || strings.EqualFold(strings.TrimSpace(e.info), "COMMIT"))) {
					if p := (schema.Position{File: logs[i].Name, Pos: uint32(e.end)}); p.Compare(best) > 0 {
						best = p
					}
					break
				}
			}
		}
	}
	if len(want) > 0 {
		var missing []string
		for g := range want {
			missing = append(missing, g)
		}
		slices.Sort(missing)
		return schema.Position{}, fmt.Errorf("the upstream's binlogs do not hold transaction(s) %s", strings.Join(missing, ", "))
	}
	return best, nil
}
