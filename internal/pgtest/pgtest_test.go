package pgtest

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestUniqueName(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		n := UniqueName("verdict_x")
		if !strings.HasPrefix(n, "verdict_x_") || len(n) != len("verdict_x_")+16 || seen[n] {
			t.Fatalf("UniqueName = %q (seen before: %v)", n, seen[n])
		}
		seen[n] = true
	}
	for _, bad := range []string{"", "Upper", "1digit", "semi;colon", strings.Repeat("x", 41)} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("UniqueName(%q) did not panic", bad)
				}
			}()
			UniqueName(bad)
		}()
	}
}

// Two databases of one prefix are apart, usable, and gone once their test
// ends.
func TestNewDatabase(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var names []string
	t.Run("create", func(t *testing.T) {
		for range 2 {
			pool := NewDatabase(t, ctx, "verdict_pgtest", 2)
			if _, err := pool.Exec(ctx, "CREATE TABLE t (k int)"); err != nil {
				t.Fatal(err)
			}
			names = append(names, pool.Config().ConnConfig.Database)
		}
	})
	if t.Skipped() || len(names) != 2 {
		return
	}
	if names[0] == names[1] {
		t.Fatalf("two databases named %s", names[0])
	}
	admin := connect(t)
	defer admin.Close()
	var n int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = ANY($1)", names).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d of %v left after their test, %v", n, names, err)
	}
}
