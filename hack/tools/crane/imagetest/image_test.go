// Package imagetest checks the natsguard OCI image layout that hack/image.sh builds, with
// go-containerregistry (the library crane is built on, pinned by the same go.mod): the config keeps
// the image's promises (numeric non-root user, the binary as entrypoint, the default command, OCI
// labels, linux/amd64), the one layer holds the static binary and nothing else (no shell, no libc),
// and the binary taken from the layer runs `natsguard version`.
//
// hack/test-image.sh runs it with NATSGUARD_IMAGE_LAYOUT (the layout directory),
// NATSGUARD_IMAGE_VERSION (the crate's version) and NATSGUARD_IMAGE_REVISION (the commit); without
// them the tests fail, they never skip.
package imagetest

import (
	"archive/tar"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const binaryPath = "usr/local/bin/natsguard"

func env(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set (run hack/test-image.sh)", name)
	}
	return v
}

// image opens the single image of the layout.
func image(t *testing.T) v1.Image {
	t.Helper()
	dir := env(t, "NATSGUARD_IMAGE_LAYOUT")
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("%s is not an OCI image layout: %v", dir, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatalf("reading %s/index.json: %v", dir, err)
	}
	if len(m.Manifests) != 1 {
		t.Fatalf("%s/index.json lists %d manifests, want exactly one image", dir, len(m.Manifests))
	}
	if mt := m.Manifests[0].MediaType; mt != types.OCIManifestSchema1 {
		t.Fatalf("the image manifest has media type %s, want %s", mt, types.OCIManifestSchema1)
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatalf("reading image %s: %v", m.Manifests[0].Digest, err)
	}
	return img
}

func TestConfig(t *testing.T) {
	img := image(t)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("reading the image config: %v", err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}
	c := cf.Config
	// Numeric, so Kubernetes can enforce runAsNonRoot without an /etc/passwd in the image.
	if c.User != "65532:65532" {
		t.Errorf("USER %q, want the numeric non-root 65532:65532", c.User)
	}
	if want := []string{"/usr/local/bin/natsguard"}; !slices.Equal(c.Entrypoint, want) {
		t.Errorf("ENTRYPOINT %q, want %q", c.Entrypoint, want)
	}
	if want := []string{"run", "--http-addr", "0.0.0.0:8080", "--log-format", "json"}; !slices.Equal(c.Cmd, want) {
		t.Errorf("CMD %q, want %q", c.Cmd, want)
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok || len(c.ExposedPorts) != 1 {
		t.Errorf("exposed ports %v, want only 8080/tcp", c.ExposedPorts)
	}
	for _, e := range c.Env {
		// An image carries no configuration that could hold a credential.
		t.Errorf("unexpected environment variable in the image: %s", strings.SplitN(e, "=", 2)[0])
	}
	want := map[string]string{
		"org.opencontainers.image.title":    "natsguard",
		"org.opencontainers.image.version":  env(t, "NATSGUARD_IMAGE_VERSION"),
		"org.opencontainers.image.revision": env(t, "NATSGUARD_IMAGE_REVISION"),
		"org.opencontainers.image.licenses": "Apache-2.0",
	}
	for k, v := range want {
		if got := c.Labels[k]; got != v {
			t.Errorf("label %s = %q, want %q", k, got, v)
		}
	}
	for _, k := range []string{"org.opencontainers.image.source", "org.opencontainers.image.description"} {
		if c.Labels[k] == "" {
			t.Errorf("label %s is missing", k)
		}
	}
}

// files lists the layer's entries and returns the binary's bytes.
func files(t *testing.T, l v1.Layer) (map[string]*tar.Header, []byte) {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatalf("opening the layer: %v", err)
	}
	defer rc.Close()
	entries := map[string]*tar.Header{}
	var bin []byte
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading the layer: %v", err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
		entries[name] = h
		if name == binaryPath {
			if bin, err = io.ReadAll(tr); err != nil {
				t.Fatalf("reading %s from the layer: %v", name, err)
			}
		}
	}
	return entries, bin
}

func TestLayerHoldsOnlyTheStaticBinary(t *testing.T) {
	img := image(t)
	layers, err := img.Layers()
	if err != nil {
		t.Fatalf("listing layers: %v", err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want exactly one (the binary)", len(layers))
	}
	if mt, _ := layers[0].MediaType(); mt != types.OCILayer {
		t.Errorf("layer media type %s, want %s", mt, types.OCILayer)
	}
	entries, bin := files(t, layers[0])
	var names []string
	for n := range entries {
		names = append(names, n)
	}
	slices.Sort(names)
	if want := []string{"usr", "usr/local", "usr/local/bin", binaryPath}; !slices.Equal(names, want) {
		// This is also the "no shell" check: no bin/sh, no busybox, nothing but the binary.
		t.Errorf("layer entries %q, want exactly %q", names, want)
	}
	for n, h := range entries {
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s is owned by %d:%d, want root (the non-root user must not be able to replace it)", n, h.Uid, h.Gid)
		}
	}
	h := entries[binaryPath]
	if h == nil || bin == nil {
		t.Fatalf("the layer has no %s", binaryPath)
	}
	if h.Typeflag != tar.TypeReg || h.Mode&0o777 != 0o555 {
		t.Errorf("%s: type %c mode %o, want a regular file with mode 555", binaryPath, h.Typeflag, h.Mode&0o777)
	}

	// Static: no ELF interpreter and no shared libraries, so it runs on an empty filesystem.
	path := filepath.Join(t.TempDir(), "natsguard")
	if err := os.WriteFile(path, bin, 0o555); err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("the layer's %s is not an ELF binary: %v", binaryPath, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		t.Errorf("ELF machine %v, want x86-64 (the image says amd64)", f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the binary names an ELF interpreter: it is not static")
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v (%v)", libs, err)
	}

	// And it runs, in an empty environment, as the image's user would run it.
	cmd := exec.Command(path, "version")
	cmd.Env = []string{}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("natsguard version (from the image's layer): %v", err)
	}
	if got, want := strings.TrimSpace(string(out)), "natsguard "+env(t, "NATSGUARD_IMAGE_VERSION"); got != want {
		t.Errorf("natsguard version printed %q, want %q", got, want)
	}
}
