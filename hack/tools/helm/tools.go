//go:build tools

// Package tools pins the command this module builds (helm.sh/helm/v3/cmd/helm), so `go mod tidy`
// keeps it. hack/helm.sh builds it from here with the versions pinned in go.mod and go.sum.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
