# The version stamping of Kubernetes binaries built from hack/tools/kubernetes (kube-apiserver in
# hack/controlplane.sh, kubectl in hack/kubectl.sh), so both report the pinned release and never
# "v0.0.0-master". Kubernetes' own build (hack/lib/version.sh in k8s.io/kubernetes) stamps the same
# variables in both k8s.io/client-go/pkg/version (client User-Agent) and k8s.io/component-base/version
# (`--version`, `kubectl version`).
#
#   source hack/lib/k8s-version.sh
#   ldflags=$(k8s_version_ldflags v1.36.3)

# k8s_version_ldflags VERSION -> linker flags (-s -w plus the -X stamps) for a vMAJOR.MINOR.PATCH release.
k8s_version_ldflags() {
  local version=$1 major minor pkg out="-s -w"
  major=${version#v}
  major=${major%%.*}
  minor=${version#v"$major".}
  minor=${minor%%.*}
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    out+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    out+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  printf '%s\n' "$out"
}
