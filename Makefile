# natsguard — the two commands a newcomer runs:
#   make demo   the main job on the embedded default: an incident's whole life on a local control plane
#   make test   every test, against a real kube-apiserver + etcd built from Go modules
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
CP := hack/controlplane.sh

.PHONY: help test demo controlplane-up controlplane-down controlplane-status crds

help:
	@echo "make demo                 local control plane + operator: watch an override incident go Active, Overdue, Resolved"
	@echo "make test                 build + start the control plane, run every Rust test, stop it (always)"
	@echo "make controlplane-up      start the control plane and keep it running (prints export KUBECONFIG=...)"
	@echo "make controlplane-down    stop it"
	@echo "make crds                 regenerate crds/ from the Rust types"

# The control plane is stopped whatever happens (test failure, Ctrl-C); the test exit code is kept.
test:
	@trap '$(CP) down' EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; \
	kubeconfig_line=$$($(CP) up); eval "$$kubeconfig_line"; \
	echo "running cargo test --locked --no-fail-fast against $$KUBECONFIG"; \
	start=$$SECONDS; \
	cargo test --locked --no-fail-fast; \
	echo "cargo test passed in $$((SECONDS - start)) s"

demo:
	@hack/demo.sh

controlplane-up:
	@$(CP) up

controlplane-down:
	@$(CP) down

controlplane-status:
	@$(CP) status

crds:
	cargo run --locked --quiet -- crd > crds/natsguard.io.yaml.tmp
	mv crds/natsguard.io.yaml.tmp crds/natsguard.io.yaml
