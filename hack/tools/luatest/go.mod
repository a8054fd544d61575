// Tests the Argo CD health checks in deploy/argocd/ with gopher-lua, the Lua engine Argo CD embeds,
// sandboxed the way Argo CD runs resource.customizations scripts. Run: go test ./... (in this dir).
module natsguard.local/tools/luatest

go 1.26.0

require (
	github.com/yuin/gopher-lua v1.1.2
	sigs.k8s.io/yaml v1.6.0
)

require go.yaml.in/yaml/v2 v2.4.2 // indirect
