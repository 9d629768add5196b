package postgres

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults of the Config fields left zero.
const (
	// DefaultPrefix starts the gid of every transaction this package
	// prepares.
	DefaultPrefix = "verdict"
	// DefaultMarkerTable is the table of marker rows.
	DefaultMarkerTable = "verdict_prepared_marker"
	// DefaultMarkerRetention is how long a marker row is kept. It must
	// outlast the time a transaction may stay prepared plus the time the
	// coordinator may keep redelivering its Commit (until its DONE).
	DefaultMarkerRetention = 24 * time.Hour
	// DefaultCleanInterval is how often Commit deletes a batch of markers
	// older than the retention.
	DefaultCleanInterval = time.Minute
)

// ErrInvalidConfig is wrapped by the errors of New for a bad Config.
var ErrInvalidConfig = errors.New("verdict/postgres: invalid config")

var (
	// branchRE is participant.Config.Name's rule: a Branch is that name.
	branchRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	prefixRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)
	// tableRE is an unquoted, lower-case SQL identifier.
	tableRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
)

// Config configures a Resource.
type Config struct {
	// Pool is the database the work runs in. Required. The Resource does
	// not close it.
	Pool *pgxpool.Pool
	// Branch names this participant in the gids it prepares: the
	// participant's name (participant.Config.Name), stable across
	// restarts and unique among the participants that share the
	// PostgreSQL cluster under one Prefix. Required: 1 to 64 of
	// [A-Za-z0-9_.-].
	Branch string
	// Prefix starts every gid; recovery lists only the prepared
	// transactions whose gid has it. 1 to 32 of [A-Za-z0-9_.-]. Default
	// DefaultPrefix.
	Prefix string
	// MarkerTable is the table of marker rows, created if missing: an
	// unquoted lower-case identifier, in the search path. Default
	// DefaultMarkerTable.
	MarkerTable string
	// MarkerRetention is how long a committed transaction's marker row is
	// kept. Commit of a transaction whose gid is gone and whose marker
	// is gone is reported as a heuristic rollback: keep markers longer
	// than a transaction may stay prepared plus the time the coordinator
	// may keep redelivering its Commit. Default DefaultMarkerRetention.
	MarkerRetention time.Duration
	// CleanInterval is how often a Commit also deletes a batch of markers
	// past MarkerRetention. Default DefaultCleanInterval.
	CleanInterval time.Duration
	// OnHeuristic, if set, is called once per transaction for each
	// heuristic outcome found (see HeuristicError), after it is logged
	// and counted. It must not block.
	OnHeuristic func(*HeuristicError)
	// Logger receives the Resource's logs. Default slog.Default().
	Logger *slog.Logger
}

// validate fills defaults into a copy of c and rejects bad values.
func (c Config) validate() (Config, error) {
	if c.Pool == nil {
		return c, fmt.Errorf("%w: Pool is nil", ErrInvalidConfig)
	}
	if !branchRE.MatchString(c.Branch) {
		return c, fmt.Errorf("%w: Branch %q must be 1 to 64 of [A-Za-z0-9_.-]", ErrInvalidConfig, c.Branch)
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if !prefixRE.MatchString(c.Prefix) {
		return c, fmt.Errorf("%w: Prefix %q must be 1 to 32 of [A-Za-z0-9_.-]", ErrInvalidConfig, c.Prefix)
	}
	if c.MarkerTable == "" {
		c.MarkerTable = DefaultMarkerTable
	}
	if err := CheckMarkerTable(c.MarkerTable); err != nil {
		return c, err
	}
	switch {
	case c.MarkerRetention < 0:
		return c, fmt.Errorf("%w: MarkerRetention %v is negative", ErrInvalidConfig, c.MarkerRetention)
	case c.MarkerRetention == 0:
		c.MarkerRetention = DefaultMarkerRetention
	}
	switch {
	case c.CleanInterval < 0:
		return c, fmt.Errorf("%w: CleanInterval %v is negative", ErrInvalidConfig, c.CleanInterval)
	case c.CleanInterval == 0:
		c.CleanInterval = DefaultCleanInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// CheckMarkerTable checks that name can be a marker table
// (Config.MarkerTable): a lower-case SQL identifier, which needs no
// quoting.
func CheckMarkerTable(name string) error {
	if !tableRE.MatchString(name) {
		return fmt.Errorf("%w: MarkerTable %q must be a lower-case identifier ([a-z_][a-z0-9_]*, at most 63)", ErrInvalidConfig, name)
	}
	return nil
}
