package participant

import (
	"reflect"
	"strings"
	"testing"

	"github.com/verdict-tx/verdict/internal/apitest"
)

// Every type the participant SDK's API names can be named by its users: no
// type of an internal package.
func TestAPINamesNoInternalType(t *testing.T) {
	apitest.NoInternalTypes(t, ".")
	for _, fn := range []any{TxFromContext} {
		ft := reflect.TypeOf(fn)
		for i := range ft.NumOut() {
			if p := ft.Out(i).PkgPath(); strings.Contains(p, "/internal/") {
				t.Errorf("%v returns %v, of the internal package %s", ft, ft.Out(i), p)
			}
		}
	}
}
