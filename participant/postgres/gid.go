package postgres

import (
	"errors"
	"fmt"
	"strings"

	"github.com/verdict-tx/verdict/internal/txid"
)

// maxGIDLen is PostgreSQL's limit on a gid (GIDSIZE, 200 bytes with its
// terminating zero).
const maxGIDLen = 199

// ErrBadGID is returned for a gid that cannot be built from its parts.
var ErrBadGID = errors.New("verdict/postgres: bad gid")

// gidSep separates the parts of a gid; no part may hold it.
const gidSep = ":"

// makeGID returns the gid of txid at branch under prefix:
// "<prefix>:<txid>:<branch>". A gid cannot be a bind parameter of PREPARE
// TRANSACTION, COMMIT PREPARED or ROLLBACK PREPARED, so it is spliced into
// SQL text: every part is checked here against a character set that needs
// no quoting ([A-Za-z0-9_.-] and the canonical txid), and the result is
// checked again as a whole.
func makeGID(prefix, id, branch string) (string, error) {
	if err := txid.Validate(id); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadGID, err)
	}
	if !prefixRE.MatchString(prefix) {
		return "", fmt.Errorf("%w: prefix %q", ErrBadGID, prefix)
	}
	if !branchRE.MatchString(branch) {
		return "", fmt.Errorf("%w: branch %q", ErrBadGID, branch)
	}
	gid := prefix + gidSep + id + gidSep + branch
	if err := checkGID(gid); err != nil {
		return "", err
	}
	return gid, nil
}

// checkGID checks that gid can be quoted as a SQL literal by enclosing it
// in single quotes: short enough, and made of safe characters only.
func checkGID(gid string) error {
	if gid == "" || len(gid) > maxGIDLen {
		return fmt.Errorf("%w: %d bytes (1 to %d)", ErrBadGID, len(gid), maxGIDLen)
	}
	for i := 0; i < len(gid); i++ {
		c := gid[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '_', c == '.', c == '-', c == ':':
		default:
			return fmt.Errorf("%w: unsafe byte %q in %q", ErrBadGID, c, gid)
		}
	}
	return nil
}

// QuoteGID returns gid as a SQL string literal for COMMIT PREPARED or
// ROLLBACK PREPARED, checked: a gid made of anything but [A-Za-z0-9_.-:],
// or longer than PostgreSQL allows, is refused with ErrBadGID.
func QuoteGID(gid string) (string, error) {
	if err := checkGID(gid); err != nil {
		return "", err
	}
	return "'" + gid + "'", nil
}

// ParseGID splits a gid made under prefix, "<prefix>:<txid>:<branch>",
// into its txid and branch; ok is false for any other gid.
func ParseGID(gid, prefix string) (id, branch string, ok bool) {
	rest, ok := strings.CutPrefix(gid, prefix+gidSep)
	if !ok {
		return "", "", false
	}
	id, branch, ok = strings.Cut(rest, gidSep)
	if !ok || txid.Validate(id) != nil || !branchRE.MatchString(branch) {
		return "", "", false
	}
	return id, branch, true
}

// parseGID returns the txid of a gid made by makeGID with prefix and
// branch; ok is false for any other gid.
func parseGID(gid, prefix, branch string) (id string, ok bool) {
	id, b, ok := ParseGID(gid, prefix)
	if !ok || b != branch {
		return "", false
	}
	return id, true
}
