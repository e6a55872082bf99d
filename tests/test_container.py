"""The image really builds and really runs as the pod spec says: podman build + `podman kube play`, offline.

Slow (minutes; marked `slow` and `container`). A default project is baked, set up and trained; then
1. podman and every package it relies on (support/system_packages.py names the recommended ones too) are installed
   with apt-get when missing (as root), and podman runs with a private containers.conf, registries.conf and
   storage root in tmp: nothing under /etc changes;
2. the base image that the bento's Dockerfile names in its FROM (python:3.11-slim) cannot be pulled here:
   a stand-in is built from Debian packages (mmdebstrap), with Python where that image has it, and cached
   under build/test-cache/container/ keyed by the FROM line and the recipe;
3. `make container` builds the real image from the bento's Dockerfile, unchanged, with podman;
4. the staging overlay, rendered by kustomize, runs under `podman kube play` with only the image replaced
   by the local tag and the port published on 127.0.0.1 (hostPort + hostIP), so the pod's securityContext,
   volumes, env and command are the manifest's own;
5. /readyz answers within the startup probe's budget, /predict gives the pipeline model's answers and
   model version, /metrics answers;
6. the pod stops on SIGTERM within terminationGracePeriodSeconds.
The figures (image size, build times, time to ready, memory) go to build/test-cache/container-figures.json.
What differs from GitHub and a cluster: the base image is a Debian-built stand-in; kubelet and containerd
are replaced by podman (probes, requests, sizeLimit and fsGroup are not enforced by `kube play`), and the
pod's network is podman's user-mode network (slirp4netns), not a cluster network.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.bake import bake_into
from support.paths import TEST_CACHE
from support.process import free_port, run
from support.system import apt_install
from support.system_packages import PACKAGES

BASE_CACHE = TEST_CACHE / "container"
FIGURES = TEST_CACHE / "container-figures.json"
SLUG, PACKAGE = "my-ml-project", "my_ml_project"
# Behind a TLS-intercepting proxy the build needs the host's CA bundle (CONTAINER_BUILD_FLAGS' purpose). The
# build's RUN steps use the host's network: under netavark a container's DNS queries to the host's resolver (a
# private address, no NAT) time out, so `pip install uv` in the bento's Dockerfile could not resolve PyPI.
BUILD_FLAGS = "--network=host --volume /etc/ssl/certs:/etc/ssl/certs:ro"
# Debian suites whose python3 is the version a python:X-slim image carries.
DEBIAN_PYTHON = {"3.11": "bookworm"}

# The stand-in for python:X-slim: Debian's minimal system with python3 and the CA bundle, without docs,
# man pages and locales. Debian keeps Python in /usr/bin and marks it externally managed; the real image
# has it in /usr/local/bin and lets pip install system-wide (the bento's Dockerfile runs `pip install uv`).
MMDEBSTRAP_ARGS = [
    "--variant=minbase",
    "--include=python3,python3-venv,ca-certificates",
    "--aptopt=Acquire::Languages none",
    *(f"--dpkgopt=path-exclude=/usr/share/{folder}/*" for folder in ("man", "doc", "locale", "info")),
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
]
BASE_CONTAINERFILE = """\
FROM scratch
ADD rootfs.tar /
RUN ln -s /usr/bin/python3 /usr/local/bin/python3 && ln -s /usr/bin/python3 /usr/local/bin/python \\
 && rm -f /usr/lib/python3.*/EXTERNALLY-MANAGED \\
 && wheel="$(echo /usr/share/python-wheels/pip-*.whl)" \\
 && python3 "$wheel/pip" install --no-index --no-cache-dir --no-compile "$wheel" \\
 && pip --version
ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin \\
    LANG=C.UTF-8 \\
    UV_NATIVE_TLS=1 \\
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \\
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt
CMD ["python3"]
"""

# What the project's venv says the pipeline model answers for the holdout rows.
EXPECTED_ANSWERS = """\
import json, sys
import joblib, pandas as pd
from my_ml_project.params import MODEL_FILE, TEST_DATA, load_params

params = load_params()
holdout = pd.read_parquet(TEST_DATA)
features = holdout.drop(columns=[c for c in (params.data.target, params.data.id_column) if c])
model = joblib.load(MODEL_FILE)
records = [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in features.to_dict(orient="records")]
answer = {"records": records, "predictions": [str(p) for p in model.predict(features)]}
if hasattr(model, "predict_proba"):
    classes = [str(c) for c in model.classes_]
    answer["probabilities"] = [dict(zip(classes, row.tolist())) for row in model.predict_proba(features)]
json.dump(answer, sys.stdout)
"""

figures: dict[str, Any] = {}


def mib(quantity: str) -> float:
    """A Kubernetes memory quantity (512Mi, 1Gi) in MiB."""
    match = re.fullmatch(r"(\d+)(Mi|Gi)", quantity)
    assert match, quantity
    number, unit = match.groups()
    return int(number) * (1024 if unit == "Gi" else 1)


# ------------------------------------------------------------------------------ fast: the script's contract
def load_container_script(project: Path):
    spec = importlib.util.spec_from_file_location("container_script", project / "scripts/container.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_container_run_applies_the_constraints_of_the_pod_spec(tmp_path):
    """`make container-run` keeps its own copy of the pod's constraints: it must agree with the manifest."""
    project = bake_into(tmp_path)
    script = load_container_script(project)
    pod = yaml.safe_load((project / "deploy/k8s/base/deployment.yaml").read_text())["spec"]["template"]["spec"]
    [container] = pod["containers"]
    security = pod["securityContext"]
    assert f"{security['runAsUser']}:{security['runAsGroup']}" == script.RUN_AS
    sizes = {volume["name"]: volume["emptyDir"]["sizeLimit"] for volume in pod["volumes"]}
    mounts = {mount["mountPath"]: f"{mib(sizes[mount['name']]):.0f}m" for mount in container["volumeMounts"]}
    assert mounts == script.WRITABLE
    assert {item["name"]: item["value"] for item in container["env"]} == script.ENV
    assert f"{mib(container['resources']['limits']['memory']) / 1024:.0f}g" == script.MEMORY_LIMIT
    assert pod["terminationGracePeriodSeconds"] == script.GRACE_SECONDS
    assert container["ports"][0]["containerPort"] == script.CONTAINER_PORT
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    command = script.run_command("podman", "img:tag", 3100)
    assert "--read-only" in command and "--cap-drop=ALL" in command
    assert command[-3:] == ["--publish", "127.0.0.1:3100:3000", "img:tag"]


def test_image_tag_is_the_version_of_the_bentos_model_or_dev(tmp_path):
    script = load_container_script(bake_into(tmp_path))
    bento: dict[str, Any] = {"name": PACKAGE, "version": "b1", "models": []}
    bento["services"] = [{"models": [{"tag": "other:0"}, {"tag": f"{PACKAGE}:5d83ad246e245674"}]}]
    (tmp_path / "bento.yaml").write_text(yaml.safe_dump(bento))
    assert script.model_version(tmp_path / "bento.yaml") == (f"{PACKAGE}:b1", "5d83ad246e245674")
    bento["services"] = [{"models": []}]
    (tmp_path / "bento.yaml").write_text(yaml.safe_dump(bento))
    assert script.model_version(tmp_path / "bento.yaml") == (f"{PACKAGE}:b1", "dev")


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["build", SLUG], {"CONTAINER_ENGINE": "rkt"}, "CONTAINER_ENGINE='rkt': use docker or podman"),
        (["run", "http"], {}, "PORT='http' is not a port number"),
        (["run", "3000"], {"IMAGE": ""}, "no image: run `make container` first"),
        (["push"], {}, "usage: container.py build NAME | run PORT"),
    ],
)
def test_container_script_refuses_bad_input_with_one_line(tmp_path, args, env, message):
    project = bake_into(tmp_path)
    result = run([sys.executable, "scripts/container.py", *args], project, check=False, env=env)
    assert result.returncode == 2
    assert result.stderr.startswith(f"container: {message}") and result.stderr.count("\n") == 1, result.stderr


# ------------------------------------------------------------------------------ slow: build and run it
def install_tools() -> None:
    """apt-get install what is missing (a fresh CI machine has none of it); never anything else."""
    apt_install(PACKAGES["container"])


class Podman:
    """podman with a private configuration and storage root: nothing outside `root` is written."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for folder in ("storage", "run", "tmp", "libpod", "networks"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        (root / "containers.conf").write_text(
            "[containers]\n"
            "default_ulimits = []\n"  # the default RLIMIT_NOFILE cannot be set on these VMs
            'log_driver = "k8s-file"\n'
            "[engine]\n"
            'runtime = "runc"\n'  # crun refuses the hybrid cgroup layout here
            f'tmp_dir = "{root / "libpod"}"\n'
            'events_logger = "file"\n'
            f'events_logfile_path = "{root / "libpod/events.log"}"\n'
            "[network]\n"
            'network_backend = "netavark"\n'
            f'network_config_dir = "{root / "networks"}"\n'  # kube play writes its network here
        )
        (root / "storage.conf").write_text(
            f'[storage]\ndriver = "overlay"\nrunroot = "{root / "run"}"\ngraphroot = "{root / "storage"}"\n'
        )
        # Short names (FROM python:3.11-slim) resolve to docker.io, where the stand-in is tagged.
        (root / "registries.conf").write_text('unqualified-search-registries = ["docker.io"]\n')
        self.env = {
            "CONTAINERS_CONF": str(root / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(root / "storage.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(root / "registries.conf"),
            "TMPDIR": str(root / "tmp"),  # buildah's RUN --mount=type=cache folders
        }

    def __call__(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        return run(["podman", *args], self.root, timeout=timeout, check=check, env=self.env)

    def logs(self, container: str) -> str:
        result = self("logs", "--tail", "60", container, check=False)
        return f"--- podman logs {container}\n{result.stdout}{result.stderr}"

    def remove_everything(self) -> None:
        """Pods, containers and images of this storage root, then the root itself."""
        for args in (("pod", "rm", "-af"), ("rm", "-af"), ("rmi", "-af")):
            self(*args, timeout=120, check=False)
        # containers/storage may keep its overlay folder bind-mounted on itself: only ours, under root.
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        for mount in sorted((m for m in mounts if m.startswith(f"{self.root}/")), reverse=True):
            subprocess.run(["umount", mount], check=False)
        for folder in ("storage", "run", "tmp"):
            shutil.rmtree(self.root / folder)


def image_reference(name: str) -> str:
    """The fully qualified reference a FROM name stands for (docker.io/library/... for short names)."""
    first, _, rest = name.partition("/")
    if not rest:
        return f"docker.io/library/{name}"
    return name if ("." in first or ":" in first or first == "localhost") else f"docker.io/{name}"


def ensure_base_image(podman: Podman, from_name: str, work: Path) -> None:
    """Load the cached stand-in for `from_name`, or build it from Debian packages and cache it."""
    match = re.fullmatch(r"(?:docker\.io/)?(?:library/)?python:(\d+\.\d+)-slim", from_name)
    if not match or match[1] not in DEBIAN_PYTHON:
        pytest.fail(f"no stand-in recipe for FROM {from_name}: only python:X-slim for X in {sorted(DEBIAN_PYTHON)}")
    suite = DEBIAN_PYTHON[match[1]]
    recipe = json.dumps([from_name, suite, MMDEBSTRAP_ARGS, BASE_CONTAINERFILE])
    archive = BASE_CACHE / f"base-{hashlib.sha256(recipe.encode()).hexdigest()[:16]}.tar"
    reference = image_reference(from_name)
    started = time.monotonic()
    if archive.is_file():
        podman("load", "-i", str(archive))
        figures["base"] = {"cached": True, "load_s": round(time.monotonic() - started, 1)}
        return
    work.mkdir(parents=True, exist_ok=True)
    run(["mmdebstrap", *MMDEBSTRAP_ARGS, suite, str(work / "rootfs.tar")], work, timeout=900, env=podman.env)
    rootfs_s = time.monotonic() - started
    (work / "Containerfile").write_text(BASE_CONTAINERFILE)
    # No network: its one RUN step installs pip from Debian's own wheel. A bridge network would need netavark's
    # firewall tool (iptables, which Debian's netavark does not name); the bento's build uses the host's network.
    podman("build", "--network=none", "-t", reference, "-f", str(work / "Containerfile"), str(work), timeout=900)
    build_s = time.monotonic() - started
    BASE_CACHE.mkdir(parents=True, exist_ok=True)
    partial = archive.with_suffix(".partial")
    podman("save", "-o", str(partial), reference)
    partial.replace(archive)
    (work / "rootfs.tar").unlink()
    figures["base"] = {"cached": False, "mmdebstrap_s": round(rootfs_s, 1), "build_s": round(build_s, 1)}


def call(url: str, body: object | None = None, timeout: float = 30) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture(scope="module")
def podman(tmp_path_factory) -> Iterator[Podman]:
    install_tools()
    engine = Podman(tmp_path_factory.mktemp("podman"))
    try:
        yield engine
    finally:
        engine.remove_everything()


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """Baked, `git init`, `make setup`, `make pipeline`: the README's first steps."""
    project = bake_into(tmp_path_factory.mktemp("container-project"))
    run(["git", "init", "-q"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "Initial commit from the template", "--no-verify"], project)
    for target in ("setup", "pipeline"):
        started = time.monotonic()
        run(["make", target], project, timeout=900)
        figures[f"make_{target}_s"] = round(time.monotonic() - started, 1)
    return project


@pytest.fixture(scope="module")
def image(podman, project, tmp_path_factory) -> str:
    """`make container` with podman, on the stand-in base; returns the tag it printed last."""
    # The project's own bento store (the Makefile's default), not the session's shared one.
    store = {"BENTOML_HOME": str(project / "bentoml")}
    started = time.monotonic()
    run(["make", "build"], project, timeout=900, env=store)
    figures["make_build_s"] = round(time.monotonic() - started, 1)  # make container runs it too
    bento = project / "bentoml/bentos" / PACKAGE
    dockerfile = bento / (bento / "latest").read_text().strip() / "env/docker/Dockerfile"
    [from_name] = re.findall(r"^FROM\s+(\S+)", dockerfile.read_text(), flags=re.MULTILINE)
    figures["from"] = from_name
    ensure_base_image(podman, from_name, tmp_path_factory.mktemp("base"))
    started = time.monotonic()
    result = run(
        ["make", "--no-print-directory", "container"],  # under `make test` make would add its own last line
        project,
        timeout=1500,
        env={"CONTAINER_ENGINE": "podman", "CONTAINER_BUILD_FLAGS": BUILD_FLAGS, **podman.env, **store},
    )
    figures["make_container_s"] = round(time.monotonic() - started, 1)
    tag = result.stdout.strip().splitlines()[-1]
    [info] = json.loads(podman("image", "inspect", tag).stdout)
    figures["image_mb"] = round(info["Size"] / 1e6)
    history = json.loads(podman("history", "--format", "json", tag).stdout)
    layers = sorted(history, key=lambda layer: -layer["size"])[:4]
    figures["largest_layers"] = [
        f"{layer['size'] / 1e6:.0f} MB {' '.join(layer['CreatedBy'].split())[:90]}" for layer in layers
    ]
    return tag


@pytest.fixture(scope="module")
def deployment(project) -> dict:
    """The Deployment of the staging overlay, as kustomize renders it for Argo CD."""
    rendered = run(["kubectl", "kustomize", "deploy/k8s/overlays/staging"], project).stdout
    [deployment] = [doc for doc in yaml.safe_load_all(rendered) if doc and doc["kind"] == "Deployment"]
    return deployment


@pytest.fixture(scope="module")
def pod(podman, image, deployment, tmp_path_factory) -> Iterator[dict]:
    """The staging Deployment under `podman kube play`, ready; stopped and removed afterwards."""
    manifest = json.loads(json.dumps(deployment))
    # Only these change: the image (the local tag, never pulled), a unique name, the port on loopback.
    manifest["metadata"]["name"] = f"{deployment['metadata']['name']}-{uuid.uuid4().hex[:6]}"
    spec = manifest["spec"]["template"]["spec"]
    [container] = spec["containers"]
    container["image"], container["imagePullPolicy"] = image, "Never"
    port = free_port()
    container["ports"][0] |= {"hostPort": port, "hostIP": "127.0.0.1"}
    path = tmp_path_factory.mktemp("pod") / "pod.yaml"
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    name = manifest["metadata"]["name"]
    pod = {"name": f"{name}-pod-0", "container": f"{name}-pod-0-{container['name']}", "url": f"http://127.0.0.1:{port}"}
    probe = container["startupProbe"]
    budget = probe.get("initialDelaySeconds", 0) + probe["periodSeconds"] * probe["failureThreshold"]
    started = time.monotonic()
    try:
        # slirp4netns: the pod gets podman's user-mode network, so no bridge or firewall rule on the host.
        podman("kube", "play", "--network", "slirp4netns", str(path), timeout=120)
        while True:
            with contextlib.suppress(OSError):
                if call(f"{pod['url']}/readyz", timeout=2)[0] == 200:
                    break
            status = podman("inspect", "--format", "{{.State.Status}} {{.RestartCount}}", pod["container"], check=False)
            state, _, restarts = status.stdout.strip().partition(" ")
            elapsed = time.monotonic() - started
            if state not in ("running", "created", "configured") or restarts not in ("", "0") or elapsed > budget:
                logs = podman.logs(pod["container"])
                where = f"container {state}, {restarts} restarts"
                pytest.fail(f"/readyz not 200 after {elapsed:.0f} s (budget {budget} s), {where}\n{logs}")
            time.sleep(0.5)
        figures["ready_s"] = round(time.monotonic() - started, 1)
        figures["startup_budget_s"] = budget
        yield pod | {"podman": podman, "spec": spec, "manifest": path}
    finally:
        podman("kube", "down", str(path), timeout=120, check=False)
        podman("pod", "rm", "-f", pod["name"], timeout=120, check=False)


def container_state(pod: dict) -> dict:
    [info] = json.loads(pod["podman"]("inspect", pod["container"]).stdout)
    return info


@pytest.mark.slow
@pytest.mark.container
def test_make_container_tags_the_image_with_the_bento_models_version(project, image):
    context = project / "build/container"
    bento = yaml.safe_load((context / "bento.yaml").read_text())
    [model] = [m["tag"] for service in bento["services"] for m in service["models"]]
    assert image == f"{SLUG}:{model.split(':')[1]}"
    assert (project / "build/container.tag").read_text().strip() == image
    # The Dockerfile deploy.yml builds, as BentoML wrote it: FROM the image the stand-in replaces.
    dockerfile = (context / "env/docker/Dockerfile").read_text()
    assert re.findall(r"^FROM\s+(\S+)", dockerfile, flags=re.MULTILINE) == [figures["from"]]
    assert "apt-get" not in dockerfile, "bento.Dockerfile.j2 leaves out BentoML's apt-get layer"
    changed = run(["git", "status", "--porcelain", "--untracked-files=all"], project).stdout.splitlines()
    assert [line for line in changed if line[3:].startswith(("build/", "bentoml/"))] == [], "gitignored outputs"


@pytest.mark.slow
@pytest.mark.container
def test_pod_runs_as_the_manifest_says(pod):
    info = container_state(pod)
    spec = pod["spec"]
    [container] = spec["containers"]
    assert info["Config"]["User"] == f"{spec['securityContext']['runAsUser']}:{spec['securityContext']['runAsGroup']}"
    assert info["HostConfig"]["ReadonlyRootfs"] is True
    assert info["HostConfig"]["Memory"] == mib(container["resources"]["limits"]["memory"]) * 2**20
    assert "no-new-privileges" in info["HostConfig"]["SecurityOpt"]
    assert not info["EffectiveCaps"], info["EffectiveCaps"]
    assert {m["Destination"] for m in info["Mounts"]} == {m["mountPath"] for m in container["volumeMounts"]}
    for item in container["env"]:
        assert f"{item['name']}={item['value']}" in info["Config"]["Env"]
    exec_ = ["exec", pod["container"], "sh", "-c"]
    read_only = pod["podman"](*exec_, "touch /home/bentoml/bento/x", check=False)
    assert read_only.returncode != 0 and "Read-only file system" in read_only.stderr, read_only.stderr
    for mount in container["volumeMounts"]:
        pod["podman"](*exec_, f"touch {mount['mountPath']}/x && rm {mount['mountPath']}/x")


@pytest.mark.slow
@pytest.mark.container
def test_pod_answers_what_the_pipeline_model_answers(pod, project, image):
    expected = json.loads(run([str(project / ".venv/bin/python"), "-c", EXPECTED_ANSWERS], project).stdout)
    status, text = call(f"{pod['url']}/predict", {"records": expected["records"]})
    assert status == 200, f"{text[:2000]}\n{pod['podman'].logs(pod['container'])}"
    body = json.loads(text)
    assert [str(p) for p in body["predictions"]] == expected["predictions"]
    assert len(body["probabilities"]) == len(expected["probabilities"])
    for got, want in zip(body["probabilities"], expected["probabilities"], strict=True):
        assert got == pytest.approx(want, abs=1e-9)
    assert body["model_version"] == f"{PACKAGE}:{image.split(':', 1)[1]}", "the model the image was tagged for"
    figures["holdout_rows"] = len(expected["records"])


@pytest.mark.slow
@pytest.mark.container
def test_pod_serves_prometheus_metrics(pod):
    status, text = call(f"{pod['url']}/metrics")
    assert status == 200
    assert 'endpoint="/predict"' in text


@pytest.mark.slow
@pytest.mark.container
def test_pod_memory_stays_under_the_limit(pod):
    [container] = pod["spec"]["containers"]
    usage = pod["podman"]("stats", "--no-stream", "--format", "{{.ContainerStats.MemUsage}}", pod["container"])
    used_mib = int(usage.stdout.strip()) / 2**20
    limit, request = (mib(container["resources"][kind]["memory"]) for kind in ("limits", "requests"))
    figures["memory_mib"] = round(used_mib)
    figures["memory_request_mib"], figures["memory_limit_mib"] = request, limit
    assert used_mib < limit, f"{used_mib:.0f} MiB of a {limit} MiB limit"


@pytest.mark.slow
@pytest.mark.container
def test_pod_stops_on_sigterm_within_the_grace_period(pod):
    grace = pod["spec"]["terminationGracePeriodSeconds"]
    started = time.monotonic()
    pod["podman"]("pod", "stop", "-t", str(grace), pod["name"], timeout=grace + 60)
    figures["stop_s"] = round(time.monotonic() - started, 1)
    state = container_state(pod)["State"]
    assert state["Status"] == "exited"
    assert figures["stop_s"] < grace
    assert state["ExitCode"] == 0, f"exit {state['ExitCode']} (137 = killed)\n{pod['podman'].logs(pod['container'])}"


@pytest.mark.slow
@pytest.mark.container
def test_figures_are_written():
    """Image size, build times, time to ready and memory: build/test-cache/container-figures.json."""
    for key in ("image_mb", "make_container_s", "ready_s", "memory_mib", "stop_s", "base"):
        assert key in figures, f"{key} was not measured (an earlier container test failed)"
    assert figures["ready_s"] <= figures["startup_budget_s"]
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text(json.dumps(figures, indent=2) + "\n")
    base = figures["base"]
    base_text = f"base loaded in {base['load_s']} s" if base["cached"] else f"base built in {base['build_s']} s"
    print(
        f"\ncontainer: image {figures['image_mb']} MB; {base_text}; make container {figures['make_container_s']} s; "
        f"ready in {figures['ready_s']} s (budget {figures['startup_budget_s']} s); "
        f"memory {figures['memory_mib']} MiB (request {figures['memory_request_mib']} MiB, limit "
        f"{figures['memory_limit_mib']} MiB); stopped in {figures['stop_s']} s. Figures: {FIGURES}"
    )
