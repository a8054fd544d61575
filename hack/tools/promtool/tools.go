//go:build tools

// Package tools pins the command this module builds (promtool, Prometheus's rule checker and rule
// unit-test runner), so `go mod tidy` keeps it. hack/promtool.sh builds it from here with the
// versions pinned in go.mod and go.sum.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
