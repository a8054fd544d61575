# natsguard — the two commands a newcomer runs:
#   make demo   the main job on the embedded default: an incident's whole life on a local control plane
#   make test   every test, against a real kube-apiserver + etcd built from Go modules
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
CP := hack/controlplane.sh
# Stops whatever control plane an interrupted fault-suite run left behind (by pid, per state dir).
FAULTS_DOWN := for d in target/tmp/faults-cp/*/; do [[ -d $$d ]] && NATSGUARD_CP_DIR=$${d%/} $(CP) down >/dev/null 2>&1; done; true

.PHONY: help test demo controlplane-up controlplane-down controlplane-status crds bench-check bench-operator bench-admission

help:
	@echo "make demo                 local control plane + operator: watch an override incident go Active, Overdue, Resolved"
	@echo "make test                 build + start the control plane, run every Rust test, stop it (always)"
	@echo "make controlplane-up      start the control plane and keep it running (prints export KUBECONFIG=...)"
	@echo "make controlplane-down    stop it"
	@echo "make crds                 regenerate crds/ from the Rust types"

# The control plane is stopped whatever happens (test failure, Ctrl-C); every suite runs and the
# first failure's exit code is kept. The Rust tests are compiled first: a compile error shows up
# before the (long, first time) Go build. cargo test runs last so its summary closes the output.
# The Go-built tools (etcd, kube-apiserver, then kubectl, helm, promtool, crane) are built up front, each
# with its own progress lines and timing, and cached outside the repository (hack/lib/gotool.sh).
# Every suite uses the kubectl built from the control plane's own Kubernetes module (KUBECTL).
test:
	@start=$$SECONDS; cargo test --locked --no-run; echo "[make test] Rust tests compiled in $$((SECONDS - start)) s"
	@echo "[make test] static release binary (hack/build-static.sh)"; hack/build-static.sh
	@echo "[make test] etcd and kube-apiserver (hack/controlplane.sh build)"; start=$$SECONDS; \
	$(CP) build; echo "[make test] control plane binaries ready in $$((SECONDS - start)) s"
	@for t in kubectl helm promtool crane; do \
	  echo "[make test] $$t (hack/$$t.sh)"; start=$$SECONDS; \
	  hack/$$t.sh --print-path >/dev/null; echo "[make test] $$t ready in $$((SECONDS - start)) s"; \
	done
	@echo "[make test] the demo, to the end and interrupted (hack/test-demo.sh)"; start=$$SECONDS; \
	KUBECTL=$$(hack/kubectl.sh --print-path) hack/test-demo.sh; echo "[make test] demo test finished in $$((SECONDS - start)) s"
	@trap '$(CP) down; $(FAULTS_DOWN)' EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; \
	kubeconfig_line=$$($(CP) up); eval "$$kubeconfig_line"; rc=0; \
	export KUBECTL=$$(hack/kubectl.sh --print-path); \
	echo "[make test] alerts, chart, Argo CD health checks, examples, kubectl experience, image (hack/test-ship.sh)"; \
	start=$$SECONDS; NATSGUARD_BIN=$$PWD/target/debug/natsguard hack/test-ship.sh || rc=$$?; \
	echo "[make test] hack/test-ship.sh finished in $$((SECONDS - start)) s"; \
	echo "[make test] fault-injection suite on control planes of its own (tests/e2e_faults.rs, a few minutes)"; \
	start=$$SECONDS; \
	cargo test --locked --test e2e_faults -- --nocapture --test-threads=1 || rc=$$?; \
	echo "[make test] fault-injection suite finished in $$((SECONDS - start)) s"; \
	echo "[make test] running cargo test --locked --no-fail-fast against $$KUBECONFIG (the fault suite above excepted)"; \
	start=$$SECONDS; \
	cargo test --locked --no-fail-fast -- --skip fault_injection:: || rc=$$?; \
	echo "[make test] cargo test finished in $$((SECONDS - start)) s"; \
	exit $$rc

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
	cp crds/natsguard.io.yaml charts/natsguard/files/crds/natsguard.io.yaml

bench-check:
	hack/bench-check.sh

bench-operator:
	hack/bench-operator.sh

bench-admission:
	hack/bench-admission.sh
