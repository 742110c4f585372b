package edge

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// protocolPackages are the folders of the protocol packages below edge.
var protocolPackages = []string{"npm", "pypi", "cargo", "maven", "composer", "rubygems", "oci"}

// TestProtocolsLeaveSharedWork reads the protocol packages' sources and
// holds them to what the pipeline owns (DESIGN.md, "The request path as
// code"): no protocol reads credentials (the Authorization header, or
// auth's credential checks), none writes its own upstream fetch (a
// conditional GET, or a copy of an upstream body into a writer), and
// every cache key comes from edge/mirror's keys.go.
func TestProtocolsLeaveSharedWork(t *testing.T) {
	for _, dir := range protocolPackages {
		t.Run(dir, func(t *testing.T) {
			fset := token.NewFileSet()
			files, err := filepath.Glob(filepath.Join(dir, "*.go"))
			if err != nil || len(files) == 0 {
				t.Fatalf("no sources in %s (%v)", dir, err)
			}
			keys := &keyParams{}
			for _, name := range files {
				if strings.HasSuffix(name, "_test.go") {
					continue
				}
				src, err := os.ReadFile(name)
				if err != nil {
					t.Fatal(err)
				}
				f, err := parser.ParseFile(fset, name, src, 0)
				if err != nil {
					t.Fatal(err)
				}
				checkLayers(t, fset, f, keys)
			}
			keys.check(t, fset)
		})
	}
}

// keyParams follows cache keys a function takes as parameters to the
// calls that pass them.
type keyParams struct {
	params map[string]int // function name → index of its key parameter
	calls  []keyCall
}

type keyCall struct {
	decl   ast.Decl
	call   *ast.CallExpr
	name   string
	mirror string
}

func (k *keyParams) check(t *testing.T, fset *token.FileSet) {
	t.Helper()
	for _, c := range k.calls {
		i, ok := k.params[c.name]
		if !ok || i >= len(c.call.Args) {
			continue
		}
		if !fromMirror(c.decl, c.call.Args[i], c.mirror) {
			t.Errorf("%s: %s is given a cache key not built by edge/mirror's keys.go", fset.Position(c.call.Pos()), c.name)
		}
	}
}

// param returns the index of e among decl's parameters, or -1.
func param(decl ast.Decl, e ast.Expr) int {
	fn, ok := decl.(*ast.FuncDecl)
	id, isID := e.(*ast.Ident)
	if !ok || !isID {
		return -1
	}
	i := 0
	for _, f := range fn.Type.Params.List {
		for _, n := range f.Names {
			if n.Name == id.Name {
				return i
			}
			i++
		}
		if len(f.Names) == 0 {
			i++
		}
	}
	return -1
}

// credentialCalls are auth's methods that take credentials apart: only
// edge's Who and WhoRegistry call them.
var credentialCalls = map[string]bool{"Authenticate": true, "VerifyRegistryToken": true, "BasicAuth": true}

func checkLayers(t *testing.T, fset *token.FileSet, f *ast.File, keys *keyParams) {
	t.Helper()
	mirror := importName(f, "entrepot/edge/mirror")
	at := func(n ast.Node) string { return fset.Position(n.Pos()).String() }
	for _, decl := range f.Decls {
		ast.Inspect(decl, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BasicLit:
				if s, err := strconv.Unquote(n.Value); err == nil && strings.EqualFold(s, "Authorization") {
					t.Errorf("%s: a protocol reads the Authorization header", at(n))
				}
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok {
					if credentialCalls[sel.Sel.Name] {
						t.Errorf("%s: a protocol checks credentials (%s)", at(n), sel.Sel.Name)
					}
					keys.calls = append(keys.calls, keyCall{decl: decl, call: n, name: sel.Sel.Name, mirror: mirror})
					checkKeyArgs(t, fset, decl, n, sel, mirror)
				}
			case *ast.CompositeLit:
				switch typeName(n.Type) {
				case "upstream.Request":
					for _, kv := range fields(n) {
						if k := kv.Key.(*ast.Ident).Name; k == "IfNoneMatch" || k == "IfModifiedSince" {
							t.Errorf("%s: a protocol makes its own conditional request (%s); mirror.Document does", at(kv), k)
						}
					}
				case "cache.Request":
					for _, kv := range fields(n) {
						if k := kv.Key.(*ast.Ident).Name; k == "Key" || k == "Legacy" {
							if i := param(decl, kv.Value); i >= 0 {
								if keys.params == nil {
									keys.params = map[string]int{}
								}
								keys.params[decl.(*ast.FuncDecl).Name.Name] = i
							} else if !fromMirror(decl, kv.Value, mirror) {
								t.Errorf("%s: a cache %s not built by edge/mirror's keys.go", at(kv), k)
							}
						}
					}
				}
			}
			return true
		})
		if fn, ok := decl.(*ast.FuncDecl); ok && copiesUpstream(fn) {
			t.Errorf("%s: %s copies an upstream body itself; mirror.Artifact does", at(fn), fn.Name.Name)
		}
	}
}

// checkKeyArgs checks the keys given to the cache's Peek and Invalidate,
// and the legacy key Registry.Cached is given a function to build.
func checkKeyArgs(t *testing.T, fset *token.FileSet, decl ast.Decl, call *ast.CallExpr, sel *ast.SelectorExpr, mirror string) {
	t.Helper()
	switch sel.Sel.Name {
	case "Peek", "Invalidate":
		if x, ok := sel.X.(*ast.SelectorExpr); ok && x.Sel.Name == "Cache" && len(call.Args) == 2 && !fromMirror(decl, call.Args[1], mirror) && param(decl, call.Args[1]) < 0 {
			t.Errorf("%s: a cache key not built by edge/mirror's keys.go", fset.Position(call.Pos()))
		}
	case "Cached":
		if len(call.Args) != 3 {
			return
		}
		if lit, ok := call.Args[2].(*ast.FuncLit); ok {
			ast.Inspect(lit.Body, func(n ast.Node) bool {
				if r, ok := n.(*ast.ReturnStmt); ok && (len(r.Results) != 1 || !isMirrorCall(r.Results[0], mirror)) {
					t.Errorf("%s: a legacy cache key not built by edge/mirror's keys.go", fset.Position(r.Pos()))
				}
				return true
			})
		}
	}
}

// fromMirror reports whether e is a call of a mirror function, or a
// variable that decl sets to one.
func fromMirror(decl ast.Decl, e ast.Expr, mirror string) bool {
	if isMirrorCall(e, mirror) {
		return true
	}
	id, ok := e.(*ast.Ident)
	if !ok || mirror == "" {
		return false
	}
	found := false
	ast.Inspect(decl, func(n ast.Node) bool {
		if as, ok := n.(*ast.AssignStmt); ok {
			for i, l := range as.Lhs {
				if li, ok := l.(*ast.Ident); ok && li.Name == id.Name && i < len(as.Rhs) && isMirrorCall(as.Rhs[i], mirror) {
					found = true
				}
			}
		}
		return !found
	})
	return found
}

func isMirrorCall(e ast.Expr, mirror string) bool {
	call, ok := e.(*ast.CallExpr)
	if !ok {
		return false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return ok && mirror != "" && pkg.Name == mirror
}

// copiesUpstream reports whether fn both asks an upstream client (a Get
// on a field or variable named up) and copies a body with io.Copy: the
// copy-into-writer fetch the mirror toolkit owns.
func copiesUpstream(fn *ast.FuncDecl) bool {
	var get, cp bool
	ast.Inspect(fn, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		switch x := sel.X.(type) {
		case *ast.SelectorExpr:
			get = get || sel.Sel.Name == "Get" && x.Sel.Name == "up"
		case *ast.Ident:
			get = get || sel.Sel.Name == "Get" && x.Name == "up"
			cp = cp || x.Name == "io" && sel.Sel.Name == "Copy"
		}
		return true
	})
	return get && cp
}

func fields(c *ast.CompositeLit) []*ast.KeyValueExpr {
	var out []*ast.KeyValueExpr
	for _, e := range c.Elts {
		if kv, ok := e.(*ast.KeyValueExpr); ok {
			if _, ok := kv.Key.(*ast.Ident); ok {
				out = append(out, kv)
			}
		}
	}
	return out
}

func typeName(e ast.Expr) string {
	if sel, ok := e.(*ast.SelectorExpr); ok {
		if pkg, ok := sel.X.(*ast.Ident); ok {
			return pkg.Name + "." + sel.Sel.Name
		}
	}
	return ""
}

// importName is the name f imports path under, "" when it does not.
func importName(f *ast.File, path string) string {
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == path {
			if imp.Name != nil {
				return imp.Name.Name
			}
			return path[strings.LastIndexByte(path, '/')+1:]
		}
	}
	return ""
}
