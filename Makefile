# natsguard — the two commands a newcomer runs:
#   make demo   the main job on the embedded default (for now: a real control plane with the CRDs)
#   make test   every test, against a real kube-apiserver + etcd built from Go modules
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
CP := hack/controlplane.sh

.PHONY: help test demo controlplane-up controlplane-down controlplane-status crds

help:
	@echo "make demo                 bring up a local control plane, install the CRDs, show them, stop it"
	@echo "make test                 build + start the control plane, run every Rust test, stop it (always)"
	@echo "make controlplane-up      start the control plane and keep it running (prints export KUBECONFIG=...)"
	@echo "make controlplane-down    stop it"
	@echo "make crds                 regenerate crds/ from the Rust types"

# The control plane is stopped whatever happens (test failure, Ctrl-C); the test exit code is kept.
# The Rust tests are compiled first: a compile error shows up before the (long, first time) Go build.
test:
	@start=$$SECONDS; cargo test --locked --no-run; echo "[make test] Rust tests compiled in $$((SECONDS - start)) s"
	@trap '$(CP) down' EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; \
	kubeconfig_line=$$($(CP) up); eval "$$kubeconfig_line"; \
	echo "[make test] running cargo test --locked --no-fail-fast against $$KUBECONFIG"; \
	start=$$SECONDS; \
	cargo test --locked --no-fail-fast; \
	echo "[make test] all Rust tests passed in $$((SECONDS - start)) s"

demo:
	@command -v kubectl >/dev/null || { echo "make demo needs kubectl (see README prerequisites)" >&2; exit 1; }
	@trap '$(CP) down' EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; \
	kubeconfig_line=$$($(CP) up); eval "$$kubeconfig_line"; \
	kubectl apply --server-side -f crds/natsguard.io.yaml; \
	kubectl wait --for=condition=Established --timeout=60s -f crds/natsguard.io.yaml; \
	kubectl get crd,ns

controlplane-up:
	@$(CP) up

controlplane-down:
	@$(CP) down

controlplane-status:
	@$(CP) status

crds:
	cargo run --locked --quiet -- crd > crds/natsguard.io.yaml.tmp
	mv crds/natsguard.io.yaml.tmp crds/natsguard.io.yaml
