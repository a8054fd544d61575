// Package luatest runs natsguard's Argo CD health checks (deploy/argocd/health-*.lua) the way Argo CD
// does and checks their verdicts on realistic objects.
//
// Each fixture under testdata/<kind>/ is a NatsTransportPolicy or NatsTransportIncident whose
// annotations say what the health check must return:
//
//	luatest.natsguard.io/expect-status:  Healthy | Progressing | Degraded | Suspended | Unknown
//	luatest.natsguard.io/expect-message: the exact message
package luatest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"
)

const (
	argocdDir        = "../../../deploy/argocd"
	annExpectStatus  = "luatest.natsguard.io/expect-status"
	annExpectMessage = "luatest.natsguard.io/expect-message"
)

// Argo CD accepts only these health statuses; anything else becomes Unknown with an error message.
var validStatuses = map[string]bool{
	"Healthy": true, "Progressing": true, "Degraded": true, "Suspended": true, "Missing": true, "Unknown": true,
}

// kinds maps a fixture directory to its script and the statuses its fixtures must cover, so that
// deleting fixtures cannot silently shrink the test.
var kinds = []struct {
	dir, kind, script string
	mustCover         []string
}{
	{"policy", "NatsTransportPolicy", "health-natstransportpolicy.lua",
		[]string{"Healthy", "Progressing", "Degraded", "Suspended"}},
	{"incident", "NatsTransportIncident", "health-natstransportincident.lua",
		[]string{"Healthy", "Progressing", "Degraded", "Unknown"}},
}

type health struct{ Status, Message string }

// runHealth executes script against obj in a sandbox like Argo CD's custom health checks
// (util/lua in Argo CD): standard libraries skipped, then only package, base and table opened,
// a one-second deadline, the object as the global `obj`, and the returned table read as
// {status, message}.
func runHealth(script string, obj map[string]any) (health, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return health{}, fmt.Errorf("opening %s: %w", lib.name, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return health{}, err
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return health{}, fmt.Errorf("script returned %s, want a table", l.Get(-1).Type())
	}
	var h health
	if s, ok := ret.RawGetString("status").(lua.LString); ok {
		h.Status = string(s)
	}
	if m, ok := ret.RawGetString("message").(lua.LString); ok {
		h.Message = string(m)
	}
	if !validStatuses[h.Status] {
		return h, fmt.Errorf("status %q is not a health status Argo CD accepts", h.Status)
	}
	return h, nil
}

// toLua converts a decoded object to Lua values as Argo CD does: maps to tables keyed by string,
// lists to arrays, numbers to LNumber (Argo CD sees int64 for integers; both are LNumber).
func toLua(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case json.Number:
		return lua.LString(v)
	case []any:
		t := l.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(toLua(l, item))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(v))
		for k, item := range v {
			t.RawSetH(lua.LString(k), toLua(l, item))
		}
		return t
	}
	return lua.LNil
}

func readScript(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(argocdDir, name))
	if err != nil {
		t.Fatalf("reading the health check: %v", err)
	}
	return string(b)
}

func readObject(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading fixture: %v", err)
	}
	var obj map[string]any
	if err := yaml.Unmarshal(b, &obj); err != nil {
		t.Fatalf("%s: not valid YAML: %v", path, err)
	}
	return obj
}

func annotation(obj map[string]any, key string) string {
	meta, _ := obj["metadata"].(map[string]any)
	anns, _ := meta["annotations"].(map[string]any)
	s, _ := anns[key].(string)
	return s
}

func TestHealthChecks(t *testing.T) {
	for _, k := range kinds {
		script := readScript(t, k.script)
		fixtures, err := filepath.Glob(filepath.Join("testdata", k.dir, "*.yaml"))
		if err != nil || len(fixtures) == 0 {
			t.Fatalf("no fixtures in testdata/%s (%v)", k.dir, err)
		}
		covered := map[string]bool{}
		for _, f := range fixtures {
			obj := readObject(t, f)
			wantStatus, wantMessage := annotation(obj, annExpectStatus), annotation(obj, annExpectMessage)
			if wantStatus == "" || wantMessage == "" {
				t.Fatalf("%s: missing the %s / %s annotations", f, annExpectStatus, annExpectMessage)
			}
			if got := obj["kind"]; got != k.kind {
				t.Fatalf("%s: kind %v in testdata/%s, want %s", f, got, k.dir, k.kind)
			}
			covered[wantStatus] = true
			t.Run(k.dir+"/"+strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
				got, err := runHealth(script, obj)
				if err != nil {
					t.Fatalf("health check failed: %v", err)
				}
				if got.Status != wantStatus || got.Message != wantMessage {
					t.Errorf("got %s %q\nwant %s %q", got.Status, got.Message, wantStatus, wantMessage)
				}
			})
		}
		for _, s := range k.mustCover {
			if !covered[s] {
				t.Errorf("%s: no fixture expects %s", k.kind, s)
			}
		}
	}
}

// The scripts must not depend on libraries Argo CD's sandbox leaves out (string, math, os, io).
// This object makes every branch that formats text run; a call into a missing library raises.
func TestNoUnavailableLibraries(t *testing.T) {
	for _, k := range kinds {
		script := readScript(t, k.script)
		for _, lib := range []string{"string.", "math.", "io.", "os.", "debug.", ":format(", ":sub(", ":find(", ":match("} {
			if strings.Contains(script, lib) {
				t.Errorf("%s uses %q, which Argo CD's health-check sandbox does not provide", k.script, lib)
			}
		}
	}
}

// deploy/argocd/argocd-cm.yaml must carry exactly the tested scripts.
func TestArgoCDConfigMapEmbedsScripts(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(argocdDir, "argocd-cm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Kind     string
		Metadata struct{ Name string }
		Data     map[string]string
	}
	if err := yaml.Unmarshal(b, &cm); err != nil {
		t.Fatalf("argocd-cm.yaml: %v", err)
	}
	if cm.Kind != "ConfigMap" || cm.Metadata.Name != "argocd-cm" {
		t.Fatalf("argocd-cm.yaml is a %s named %q, want the ConfigMap argocd-cm", cm.Kind, cm.Metadata.Name)
	}
	var keys []string
	for key := range cm.Data {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	if len(keys) != len(kinds) {
		t.Errorf("argocd-cm.yaml has keys %v, want one per kind", keys)
	}
	for _, k := range kinds {
		key := "resource.customizations.health.natsguard.io_" + k.kind
		got, ok := cm.Data[key]
		if !ok {
			t.Errorf("argocd-cm.yaml lacks %s", key)
			continue
		}
		if got != readScript(t, k.script) {
			t.Errorf("argocd-cm.yaml %s differs from %s: run deploy/argocd/gen-argocd-cm.sh", key, k.script)
		}
	}
}
