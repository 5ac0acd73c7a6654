// Command operator_messages lists, from the Go sources of one trustyai-service-operator tree, every
// message the LM-Eval controller and driver can show a user: errors (fmt.Errorf, errors.New, which
// reach status.message through err.Error()), literal status messages, events, status reasons, and
// what the driver logs or prints. It reads the syntax tree (go/ast), so a message split over lines
// or built with fmt.Sprintf is still one record with its format string.
//
// Usage: go run ./tools/operator_messages ROOT   (ROOT holds controllers/lmes, cmd/lmes_driver, api/lmes)
// Output: a JSON array of {kind, file, line, text, reason} on stdout. Standard library only.
package main

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Message is one user-visible string and where the source produces it.
type Message struct {
	Kind   string `json:"kind"` // error | status | event | reason | driver-log | driver-print
	File   string `json:"file"`
	Line   int    `json:"line"`
	Text   string `json:"text"`
	Reason string `json:"reason,omitempty"` // an event's reason
}

// The directories whose code runs in the LM-Eval controller or in the driver inside the job pod.
var sourceDirs = []string{"controllers/lmes", "cmd/lmes_driver", "api/lmes"}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: operator_messages ROOT")
		os.Exit(2)
	}
	root := os.Args[1]
	var out []Message
	for _, dir := range sourceDirs {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) {
					return nil
				}
				return err
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			rel, _ := filepath.Rel(root, path)
			msgs, perr := fileMessages(path, filepath.ToSlash(rel))
			out = append(out, msgs...)
			return perr
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "operator_messages:", err)
			os.Exit(1)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].File != out[j].File {
			return out[i].File < out[j].File
		}
		return out[i].Line < out[j].Line
	})
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		os.Exit(1)
	}
}

func fileMessages(path, rel string) ([]Message, error) {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	isDriver := strings.HasPrefix(rel, "cmd/lmes_driver") || strings.HasPrefix(rel, "controllers/lmes/driver")
	isAPI := strings.HasPrefix(rel, "api/")
	var out []Message
	add := func(kind string, pos token.Pos, text, reason string) {
		out = append(out, Message{kind, rel, fset.Position(pos).Line, text, reason})
	}
	ast.Inspect(file, func(n ast.Node) bool {
		switch node := n.(type) {
		case *ast.ValueSpec:
			// const FailedReason Reason = "Failed": the values status.reason can take.
			if id, ok := node.Type.(*ast.Ident); ok && id.Name == "Reason" && isAPI {
				for _, v := range node.Values {
					if s, ok := literal(v); ok {
						add("reason", v.Pos(), s, "")
					}
				}
			}
		case *ast.AssignStmt:
			if isAPI {
				return true
			}
			for i, lhs := range node.Lhs {
				if i < len(node.Rhs) && isStatusMessage(lhs) {
					if s, ok := messageText(node.Rhs[i]); ok {
						add("status", node.Rhs[i].Pos(), s, "")
					}
				}
			}
		case *ast.CallExpr:
			if isAPI {
				return true
			}
			callMessages(node, isDriver, add)
		}
		return true
	})
	return out, nil
}

func callMessages(call *ast.CallExpr, isDriver bool, add func(string, token.Pos, string, string)) {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return
	}
	recv := exprName(sel.X)
	name := sel.Sel.Name
	arg := func(i int) (string, bool) {
		if i < len(call.Args) {
			return messageText(call.Args[i])
		}
		return "", false
	}
	switch {
	case (recv == "fmt" && name == "Errorf") || (recv == "errors" && name == "New"):
		if s, ok := arg(0); ok {
			add("error", call.Pos(), s, "")
		}
	case strings.HasSuffix(recv, "Recorder") && (name == "Event" || name == "Eventf"):
		// Event(object, eventtype, reason, message)
		reason, _ := arg(2)
		if s, ok := arg(3); ok {
			add("event", call.Pos(), s, reason)
		}
	case name == "updateStatus" && len(call.Args) == 3:
		if s, ok := arg(2); ok {
			add("status", call.Pos(), s, "")
		}
	case isDriver && name == "Error" && len(call.Args) >= 2 && recv != "fmt":
		// a logr logger: Error(err, msg, keysAndValues...)
		if s, ok := arg(1); ok {
			add("driver-log", call.Pos(), s, "")
		}
	case isDriver && recv == "fmt" && strings.HasPrefix(name, "Print"):
		if s, ok := arg(0); ok {
			add("driver-print", call.Pos(), s, "")
		}
	case isDriver && recv == "fmt" && strings.HasPrefix(name, "Fprint"):
		if s, ok := arg(1); ok {
			add("driver-print", call.Pos(), s, "")
		}
	}
}

// isStatusMessage: x.Status.Message = ..., d.status.Message = ...
func isStatusMessage(e ast.Expr) bool {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "Message" {
		return false
	}
	return strings.EqualFold(lastName(sel.X), "status")
}

func lastName(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.SelectorExpr:
		return x.Sel.Name
	case *ast.Ident:
		return x.Name
	}
	return ""
}

func exprName(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return exprName(x.X) + "." + x.Sel.Name
	}
	return ""
}

// messageText is a literal's value, a fmt.Sprintf's format, or a concatenation of them (a
// non-literal part is written %v); anything else (err.Error(), a variable) is not a new message:
// its text comes from an error recorded where it was created.
func messageText(e ast.Expr) (string, bool) {
	if s, ok := literal(e); ok {
		return s, true
	}
	switch x := e.(type) {
	case *ast.CallExpr:
		if sel, ok := x.Fun.(*ast.SelectorExpr); ok && exprName(sel.X) == "fmt" && sel.Sel.Name == "Sprintf" && len(x.Args) > 0 {
			return messageText(x.Args[0])
		}
	case *ast.BinaryExpr:
		if x.Op == token.ADD {
			l, lok := messageText(x.X)
			r, rok := messageText(x.Y)
			if !lok && !rok {
				return "", false
			}
			if !lok {
				l = "%v"
			}
			if !rok {
				r = "%v"
			}
			return l + r, true
		}
	case *ast.ParenExpr:
		return messageText(x.X)
	}
	return "", false
}

func literal(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}
