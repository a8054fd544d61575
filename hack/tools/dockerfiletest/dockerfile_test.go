// Package dockerfiletest checks the structure of the repository's Dockerfile with BuildKit's own
// parser: there is no container engine on the build machines, so this is what keeps the image's
// promises (static binary on distroless/scratch, non-root, no shell, --locked build) from
// silently eroding. hack/build-static.sh proves the binary itself builds and is static.
package dockerfiletest

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

const repoRoot = "../../.."

type instruction struct {
	cmd   string   // lower case: from, run, copy, user, ...
	args  []string // words after the instruction
	flags []string // --from=..., --mount=...
	json  bool     // exec (JSON array) form
	line  int
}

type stage struct {
	from   instruction
	name   string
	instrs []instruction
}

func parseStages(t *testing.T) []stage {
	t.Helper()
	src, err := os.ReadFile(repoRoot + "/Dockerfile")
	if err != nil {
		t.Fatalf("reading the Dockerfile: %v", err)
	}
	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		t.Fatalf("BuildKit cannot parse the Dockerfile: %v", err)
	}
	for _, w := range res.Warnings {
		t.Errorf("Dockerfile line %d: %s", w.Location.Start.Line, w.Short)
	}
	var stages []stage
	for _, n := range res.AST.Children {
		in := instruction{cmd: strings.ToLower(n.Value), flags: n.Flags, json: n.Attributes["json"], line: n.StartLine}
		for a := n.Next; a != nil; a = a.Next {
			in.args = append(in.args, a.Value)
		}
		if in.cmd == "from" {
			s := stage{from: in}
			if len(in.args) == 3 && strings.EqualFold(in.args[1], "as") {
				s.name = in.args[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			continue // ARG before the first FROM
		}
		stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, in)
	}
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build (build + final), got %d stage(s)", len(stages))
	}
	return stages
}

func find(s stage, cmd string) []instruction {
	var out []instruction
	for _, in := range s.instrs {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

func TestFinalImageIsMinimalAndNonRoot(t *testing.T) {
	stages := parseStages(t)
	final := stages[len(stages)-1]
	base := final.from.args[0]
	if base != "scratch" && !regexp.MustCompile(`^gcr\.io/distroless/static(-debian\d+)?(:[a-z0-9.-]+)?(@sha256:[0-9a-f]{64})?$`).MatchString(base) {
		t.Errorf("final stage is FROM %s; want distroless static or scratch", base)
	}
	if runs := find(final, "run"); len(runs) > 0 {
		t.Errorf("final stage has RUN at line %d: the image must not need (or contain) a shell", runs[0].line)
	}
	users := find(final, "user")
	if len(users) == 0 {
		t.Fatal("final stage sets no USER: the image would run as root")
	}
	if u := users[len(users)-1].args[0]; !regexp.MustCompile(`^65532(:65532)?$`).MatchString(u) {
		t.Errorf("final USER is %q; want the numeric non-root 65532 (runAsNonRoot needs a numeric UID)", u)
	}
	eps := find(final, "entrypoint")
	if len(eps) != 1 || !eps[0].json || len(eps[0].args) == 0 || eps[0].args[0] != "/usr/local/bin/natsguard" {
		t.Errorf("want exactly one exec-form ENTRYPOINT [\"/usr/local/bin/natsguard\"], got %+v", eps)
	}
	cmds := find(final, "cmd")
	if len(cmds) != 1 || !cmds[0].json || len(cmds[0].args) == 0 || cmds[0].args[0] != "run" {
		t.Errorf("want an exec-form CMD starting with \"run\", got %+v", cmds)
	}
	copies := find(final, "copy")
	if len(copies) != 1 {
		t.Fatalf("final stage should copy exactly one thing (the binary), got %d COPY", len(copies))
	}
	fromBuild := false
	for _, f := range copies[0].flags {
		if f == "--from="+stages[0].name {
			fromBuild = true
		}
	}
	if !fromBuild || copies[0].args[len(copies[0].args)-1] != "/usr/local/bin/natsguard" {
		t.Errorf("final COPY should take the binary from stage %q to /usr/local/bin/natsguard: %+v", stages[0].name, copies[0])
	}
}

func TestBuildStageUsesTheStaticLockedBuild(t *testing.T) {
	stages := parseStages(t)
	build := stages[0]
	usesScript := false
	for _, in := range find(build, "run") {
		if strings.Contains(strings.Join(in.args, " "), "hack/build-static.sh") {
			usesScript = true
		}
	}
	if !usesScript {
		t.Error("the build stage must run hack/build-static.sh (the same build CI proves)")
	}
	script, err := os.ReadFile(repoRoot + "/hack/build-static.sh")
	if err != nil {
		t.Fatal(err)
	}
	builds := regexp.MustCompile(`(?m)^\s*(?:[A-Z_]+=\S+\s+)*cargo build[^\n]*`).FindAllString(string(script), -1)
	if len(builds) == 0 {
		t.Fatal("hack/build-static.sh runs no cargo build")
	}
	for _, b := range builds {
		if !strings.Contains(b, "--locked") || !strings.Contains(b, "--release") {
			t.Errorf("hack/build-static.sh: %q must use --release --locked", strings.TrimSpace(b))
		}
	}
}

func TestDockerignoreKeepsTargetOut(t *testing.T) {
	b, err := os.ReadFile(repoRoot + "/.dockerignore")
	if err != nil {
		t.Fatalf(".dockerignore: %v", err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		lines[strings.TrimSuffix(strings.TrimSpace(l), "/")] = true
	}
	for _, want := range []string{"target", ".git"} {
		if !lines[want] {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
}
