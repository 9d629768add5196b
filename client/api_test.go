package client

import (
	"testing"

	"github.com/verdict-tx/verdict/internal/apitest"
)

// Every type the client SDK's API names can be named by its users: no type
// of an internal package.
func TestAPINamesNoInternalType(t *testing.T) {
	apitest.NoInternalTypes(t, ".")
}
