//go:build tools

// Package tools pins the command this module builds (crane, go-containerregistry's daemonless image
// tool), so `go mod tidy` keeps it. hack/image.sh builds it from here with the versions pinned in
// go.mod and go.sum.
package tools

import (
	_ "github.com/google/go-containerregistry/cmd/crane"
)
