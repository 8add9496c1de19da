package telegram

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Polling must not use telegram-bot-api's GetUpdatesChan: it confirms each
// update (moves the offset past it) before the update is handled, so an
// update is lost when the process dies between the two. The poller
// confirms an update only once the store holds it. This keeps any call or
// reference out of the package's code, whatever it is called through.
func TestPollingDoesNotUseGetUpdatesChan(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
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
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "GetUpdatesChan" {
				t.Errorf("%s: GetUpdatesChan confirms updates before they are stored; use the package's own poller", fset.Position(sel.Pos()))
			}
			return true
		})
	}
	if checked == 0 {
		t.Fatal("no Go files found in the package")
	}
}
