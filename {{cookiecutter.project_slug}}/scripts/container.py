"""Build the service's image from the bento, and run it as the Kubernetes pod runs it.

Usage: python scripts/container.py build NAME     (make container)
       python scripts/container.py run PORT       (make container-run)

build: writes the build context that deploy.yml builds on GitHub (.github/scripts/bento-context.py
build/container), builds it with docker or podman and tags the image NAME:<version of the bento's model>
(NAME:dev when the bento has no model). The tag is the last line printed, and is kept in build/container.tag.
run: runs that image (or IMAGE=) in the foreground with the pod's constraints of deploy/k8s/base/deployment.yaml:
uid 1034, read-only root, writable /tmp, BENTOML_HOME and the inference log's spool only, no capabilities, no
privilege escalation, its memory limit and grace period, port 3000 published on 127.0.0.1:PORT only. The
container is named like the image (`docker stop NAME` from another shell); Ctrl-C stops and removes it.

Environment: CONTAINER_ENGINE=docker|podman (default: docker when its daemon answers, else podman);
CONTAINER_BUILD_FLAGS, extra build flags (e.g. `--volume /etc/ssl/certs:/etc/ssl/certs:ro` behind a
TLS-intercepting proxy with podman, `--network host` ...); IMAGE, the image `run` starts.
Exit 2 with one line on a usage error, a missing engine or a missing image; else the engine's exit code.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

CONTEXT = Path("build/container")
TAG_FILE = Path("build/container.tag")
ENGINES = ("docker", "podman")
# The pod's constraints (deploy/k8s/base/deployment.yaml); the template's tests check that they agree.
RUN_AS = "1034:1034"
WRITABLE = {"/tmp": "256m", "/home/bentoml/home": "64m", "/home/bentoml/spool": "1024m"}  # emptyDirs, sizeLimit
ENV = {"BENTOML_DO_NOT_TRACK": "True", "BENTOML_HOME": "/home/bentoml/home", "MONITOR_SPOOL": "/home/bentoml/spool"}
MEMORY_LIMIT = "1g"
GRACE_SECONDS = 30  # terminationGracePeriodSeconds
CONTAINER_PORT = 3000


class UsageError(Exception):
    """A problem the user fixes: one line, exit 2."""


def engine() -> str:
    """CONTAINER_ENGINE, else docker when its daemon answers, else podman, else whichever is installed."""
    chosen = os.environ.get("CONTAINER_ENGINE", "")
    if chosen:
        if chosen not in ENGINES:
            raise UsageError(f"CONTAINER_ENGINE={chosen!r}: use docker or podman")
        if shutil.which(chosen) is None:
            raise UsageError(f"CONTAINER_ENGINE={chosen}, but {chosen} is not installed")
        return chosen
    installed = [name for name in ENGINES if shutil.which(name)]
    if not installed:
        raise UsageError("neither docker nor podman is installed (CONTAINER_ENGINE=docker|podman picks one)")
    if "docker" in installed:
        probe = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=30)
        if probe.returncode == 0 or "podman" not in installed:
            return "docker"
    return "podman"


def model_version(bento_yaml: Path) -> tuple[str, str]:
    """(bento tag, version of the bento's model named like the bento, or "dev" when it has none)."""
    info = yaml.safe_load(bento_yaml.read_text())
    tags = [model["tag"] for model in info.get("models") or []]
    for service in info.get("services") or []:
        tags += [model["tag"] for model in service.get("models") or []]
    versions = [tag.split(":", 1)[1] for tag in tags if tag.split(":", 1)[0] == info["name"]]
    return f"{info['name']}:{info['version']}", versions[0] if versions else "dev"


def build(name: str) -> int:
    """Write the build context, build and tag the image; the tag is the last line printed."""
    tool = engine()
    flags = shlex.split(os.environ.get("CONTAINER_BUILD_FLAGS", ""))
    context = subprocess.run([sys.executable, ".github/scripts/bento-context.py", str(CONTEXT)], check=False)
    if context.returncode != 0:
        return context.returncode
    bento, version = model_version(CONTEXT / "bento.yaml")
    tag = f"{name}:{version}"
    command = [tool, "build", "-f", str(CONTEXT / "env/docker/Dockerfile"), "-t", tag]
    command += ["--label", f"org.opencontainers.image.version={version}", "--label", f"ai.bentoml.bento={bento}"]
    command += [*flags, str(CONTEXT)]
    print("container: " + shlex.join(command), flush=True)
    # The Dockerfile uses RUN --mount (BuildKit): docker needs BuildKit, podman/buildah has it.
    result = subprocess.run(command, env={**os.environ, "DOCKER_BUILDKIT": "1"}, check=False)
    if result.returncode != 0:
        print(f"container: {tool} build failed (exit {result.returncode})", file=sys.stderr)
        return result.returncode
    inspect = subprocess.run([tool, "image", "inspect", tag], capture_output=True, text=True, check=True)
    megabytes = json.loads(inspect.stdout)[0]["Size"] / 1e6
    TAG_FILE.write_text(tag + "\n")
    print(f"container: bento {bento} built with {tool}: {megabytes:.0f} MB; `make container-run` runs it")
    print(tag)
    return 0


def run_command(tool: str, image: str, port: int) -> list[str]:
    """The engine's command line that runs `image` with the pod's constraints, on 127.0.0.1:port."""
    name = image.rsplit("/", 1)[-1].split(":", 1)[0]
    command = [tool, "run", "--rm", f"--name={name}", "--pull=never", "--user", RUN_AS, "--read-only"]
    if tool == "podman":
        command.append("--read-only-tmpfs=false")  # only the pod's volumes are writable, not /run, /var/tmp
    command += ["--cap-drop=ALL", "--security-opt=no-new-privileges", f"--memory={MEMORY_LIMIT}"]
    command += [f"--stop-timeout={GRACE_SECONDS}"]
    for path, size in WRITABLE.items():
        command += ["--tmpfs", f"{path}:rw,size={size},mode=1777"]
    for key, value in ENV.items():
        command += ["--env", f"{key}={value}"]
    return [*command, "--publish", f"127.0.0.1:{port}:{CONTAINER_PORT}", image]


def run(port_text: str) -> int:
    """Run the image in the foreground, as the pod does; the engine takes this process over."""
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(f"PORT={port_text!r} is not a port number")
    image = os.environ.get("IMAGE") or (TAG_FILE.read_text().strip() if TAG_FILE.is_file() else "")
    if not image:
        raise UsageError(f"no image: run `make container` first (it writes {TAG_FILE}), or set IMAGE=")
    tool = engine()
    if subprocess.run([tool, "image", "inspect", image], capture_output=True, check=False).returncode != 0:
        raise UsageError(f"{tool} has no image {image}: run `make container` first")
    command = run_command(tool, image, int(port_text))
    print(f"container: {image} on http://127.0.0.1:{port_text} (Ctrl-C stops it)\n{shlex.join(command)}", flush=True)
    os.execvp(tool, command)
    return 0  # not reached


def main(argv: list[str]) -> int:
    """Dispatch build/run; usage problems are one line on stderr and exit 2."""
    try:
        if len(argv) == 2 and argv[0] == "build":
            return build(argv[1])
        if len(argv) == 2 and argv[0] == "run":
            return run(argv[1])
        raise UsageError("usage: container.py build NAME | run PORT")
    except UsageError as error:
        print(f"container: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
