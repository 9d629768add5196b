package postgres

import (
	"testing"

	"github.com/verdict-tx/verdict/internal/apitest"
)

// Every type this package's API names can be named by its users: no type
// of an internal package and none of the wire protocol.
func TestAPINamesNoInternalType(t *testing.T) {
	apitest.NoInternalTypes(t, ".")
}
