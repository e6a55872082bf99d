"""pre_gen refuses bad answers with one line each and leaves nothing behind; post_gen removes off options."""

from __future__ import annotations

import pytest
from cookiecutter.exceptions import FailedHookException

from support.bake import bake_into


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"project_slug": "My-Project", "package_name": "pkg"}, "project_slug 'My-Project' must be lowercase"),
        ({"project_slug": "9lives", "package_name": "pkg"}, "project_slug '9lives' must be lowercase letters"),
        ({"project_slug": "double--dash", "package_name": "pkg"}, "project_slug 'double--dash'"),
        ({"package_name": "class"}, "package_name 'class' is a Python keyword"),
        ({"package_name": "json"}, "package_name 'json' is a Python keyword or standard-library module"),
        ({"package_name": "my-package"}, "package_name 'my-package' must be a lowercase Python identifier"),
        ({"package_name": "MyPackage"}, "package_name 'MyPackage' must be a lowercase Python identifier"),
        ({"author_email": "not-an-email"}, "author_email 'not-an-email' is not an email address"),
        ({"github_owner": "Octo-Cat"}, "github_owner 'Octo-Cat' must be a GitHub user or organisation in lowercase"),
        ({"github_owner": "-octocat"}, "github_owner '-octocat'"),
        ({"github_owner": "a" * 40}, "github_owner"),
        ({"dvc_remote": "s3"}, "dvc_remote_url '' must be a s3://<bucket>/<path> URL for dvc_remote s3"),
        ({"dvc_remote": "gcs", "dvc_remote_url": "s3://bucket/x"}, "must be a gs://<bucket>/<path> URL"),
        ({"dvc_remote": "azure", "dvc_remote_url": "azure://"}, "must be a azure://<bucket>/<path> URL"),
        ({"dvc_remote": "local", "dvc_remote_url": "s3://bucket"}, "is a URL, but dvc_remote is local"),
        ({"project_name": "   ", "project_slug": "blank"}, "project_name is empty"),
        ({"description": "two\nlines"}, "description must be one line"),
    ],
    ids=lambda value: value if isinstance(value, str) else "-".join(f"{k}={v!r}"[:30] for k, v in value.items()),
)
def test_pre_gen_refuses_a_bad_answer_with_one_line_and_writes_nothing(tmp_path, capfd, answers, message):
    with pytest.raises(FailedHookException):
        bake_into(tmp_path, **answers)
    errors = [line for line in capfd.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1
    assert message in errors[0]
    assert list(tmp_path.iterdir()) == []


def test_pre_gen_lists_every_problem_at_once(tmp_path, capfd):
    with pytest.raises(FailedHookException):
        bake_into(tmp_path, project_slug="Bad Slug", package_name="pkg", author_email="x", github_owner="A")
    errors = [line for line in capfd.readouterr().err.splitlines() if line.startswith("error: ")]
    assert [e.split()[1] for e in errors] == ["project_slug", "author_email", "github_owner"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("key", "value"),
    [("python_version", "3.9"), ("task", "clustering"), ("dvc_remote", "ftp"), ("deploy_target", "ecs")],
)
def test_an_answer_outside_a_choice_is_refused_before_anything_is_written(tmp_path, key, value):
    with pytest.raises(ValueError, match=f"{value} provided for choice variable {key}"):
        bake_into(tmp_path, **{key: value})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "answers",
    [
        {"dvc_remote": "s3", "dvc_remote_url": "s3://ml-bucket/dvc"},
        {"dvc_remote": "gcs", "dvc_remote_url": "gs://ml-bucket/dvc"},
        {"dvc_remote": "azure", "dvc_remote_url": "azure://container/dvc"},
        {"dvc_remote": "local", "dvc_remote_url": "/srv/dvc-storage"},
        {"github_owner": "octo-org", "author_email": "first.last+ml@example.co.uk"},
    ],
)
def test_pre_gen_accepts_valid_answers(tmp_path, answers):
    assert (bake_into(tmp_path, **answers) / "pyproject.toml").is_file()


def test_post_gen_removes_the_deploy_folder_only_when_deploy_target_is_none(tmp_path):
    with_k8s = bake_into(tmp_path / "k8s", deploy_target="kubernetes")
    without = bake_into(tmp_path / "none", deploy_target="none")
    assert (with_k8s / "deploy").is_dir()
    assert not (without / "deploy").exists()
    assert (without / ".github" / "workflows").is_dir()
