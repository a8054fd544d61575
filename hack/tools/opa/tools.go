//go:build tools

// Package tools pins the command this module builds (github.com/open-policy-agent/opa, the opa
// CLI), so `go mod tidy` keeps it. hack/bench-check.sh builds it from here with the versions pinned
// in go.mod and go.sum, to compare `natsguard check` with `opa eval` on the same objects.
package tools

import (
	_ "github.com/open-policy-agent/opa"
)
