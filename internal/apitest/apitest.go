// Package apitest checks, in the tests of a public package, that its
// exported API names no type of an internal package (a user could call such
// a function but not declare a variable of what it returns) and no type of
// Verdict's wire protocol under proto/ (the SDKs hand out their own small
// types, so the wire format can change without breaking their users).
package apitest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"testing"
)

// NoInternalTypes fails t for every exported function, method, type
// definition, struct field, interface method, variable or constant of the
// package in dir (its non-test files) whose type names a type of an internal
// package or of Verdict's protocol packages.
func NoInternalTypes(t testing.TB, dir string) {
	t.Helper()
	fset := token.NewFileSet()
	notTest := func(fi fs.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }
	pkgs, err := parser.ParseDir(fset, dir, notTest, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			for _, bad := range internalUses(f) {
				t.Errorf("%s: exported %s names %s, a type of %s", fset.Position(bad.pos), bad.decl, bad.typ, bad.kind)
			}
		}
	}
}

type use struct {
	pos  token.Pos
	decl string // the exported declaration
	typ  string // the hidden type it names
	kind string // "an internal package" or "the wire protocol"
}

// protoPrefix is the import path prefix of Verdict's generated protocol
// packages.
const protoPrefix = "github.com/verdict-tx/verdict/proto/"

// hiddenKind says why the package at import path p must not appear in an
// SDK's API, or "" when it may.
func hiddenKind(p string) string {
	switch {
	case strings.Contains(p, "/internal/") || strings.HasPrefix(p, "internal/"):
		return "an internal package"
	case strings.HasPrefix(p, protoPrefix):
		return "the wire protocol"
	}
	return ""
}

// internalUses lists the internal and protocol types named by the exported
// API in f.
func internalUses(f *ast.File) []use {
	internal := map[string]string{} // local name → why it is hidden
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		kind := hiddenKind(p)
		if kind == "" {
			continue
		}
		name := path.Base(p)
		if imp.Name != nil {
			name = imp.Name.Name
		}
		internal[name] = kind
	}
	if len(internal) == 0 {
		return nil
	}
	var out []use
	check := func(decl string, expr ast.Expr) {
		ast.Inspect(expr, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); ok && internal[x.Name] != "" {
				out = append(out, use{pos: sel.Pos(), decl: decl, typ: x.Name + "." + sel.Sel.Name, kind: internal[x.Name]})
			}
			return false
		})
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Name.IsExported() && (d.Recv == nil || exportedReceiver(d.Recv)) {
				check(d.Name.Name, d.Type)
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					if s.Name.IsExported() {
						checkFields(s.Name.Name, s.Type, check)
					}
				case *ast.ValueSpec:
					for _, n := range s.Names {
						if n.IsExported() && s.Type != nil {
							check(n.Name, s.Type)
						}
					}
				}
			}
		}
	}
	return out
}

// checkFields checks the exported fields of a struct type, the methods of
// an interface type, or any other type definition as a whole.
func checkFields(typeName string, t ast.Expr, check func(string, ast.Expr)) {
	var fields *ast.FieldList
	switch t := t.(type) {
	case *ast.StructType:
		fields = t.Fields
	case *ast.InterfaceType:
		fields = t.Methods
	default: // type T other.T, type T = other.T, type T func(other.T), …
		check(typeName, t)
		return
	}
	for _, f := range fields.List {
		if len(f.Names) == 0 { // embedded: exported with the type's name
			check(typeName, f.Type)
			continue
		}
		for _, n := range f.Names {
			if n.IsExported() {
				check(typeName+"."+n.Name, f.Type)
			}
		}
	}
}

func exportedReceiver(recv *ast.FieldList) bool {
	if len(recv.List) == 0 {
		return false
	}
	t := recv.List[0].Type
	if star, ok := t.(*ast.StarExpr); ok {
		t = star.X
	}
	if idx, ok := t.(*ast.IndexExpr); ok { // a generic receiver
		t = idx.X
	}
	id, ok := t.(*ast.Ident)
	return ok && id.IsExported()
}
