// Structural test of the repository's Dockerfile (there is no container engine to build it here):
// parsed with BuildKit's own Dockerfile parser. Run: go test ./... (in this dir).
module natsguard.local/tools/dockerfiletest

go 1.26.0

require github.com/moby/buildkit v0.30.0

require (
	github.com/containerd/typeurl/v2 v2.3.0 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	github.com/planetscale/vtprotobuf v0.6.1-0.20240319094008-0393e58bdf10 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
