"""Validate every answer before anything is written: one clear line per problem, exit 1.

Valid Python before rendering: each answer arrives as a JSON string literal (`tojson`), so quotes,
backslashes and unicode in free text cannot break this file.
"""

from __future__ import annotations

import json
import keyword
import re
import sys

ANSWERS = json.loads(
    r"""{
    "project_name": {{ cookiecutter.project_name | tojson }},
    "project_slug": {{ cookiecutter.project_slug | tojson }},
    "package_name": {{ cookiecutter.package_name | tojson }},
    "description": {{ cookiecutter.description | tojson }},
    "author_name": {{ cookiecutter.author_name | tojson }},
    "author_email": {{ cookiecutter.author_email | tojson }},
    "github_owner": {{ cookiecutter.github_owner | tojson }},
    "python_version": {{ cookiecutter.python_version | tojson }},
    "task": {{ cookiecutter.task | tojson }},
    "dvc_remote": {{ cookiecutter.dvc_remote | tojson }},
    "dvc_remote_url": {{ cookiecutter.dvc_remote_url | tojson }},
    "deploy_target": {{ cookiecutter.deploy_target | tojson }}
}"""
)

CHOICES = {
    "python_version": ("3.11", "3.12", "3.13"),
    "task": ("classification", "regression"),
    "dvc_remote": ("local", "s3", "gcs", "azure"),
    "deploy_target": ("kubernetes", "none"),
}
REMOTE_SCHEMES = {"s3": "s3://", "gcs": "gs://", "azure": "azure://"}
SLUG = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
PACKAGE = re.compile(r"[a-z_][a-z0-9_]*")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# GitHub: 1-39 alphanumerics or single hyphens, not at either end; lowercase for image names.
GITHUB_OWNER = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){0,38}")


def problems(answers: dict[str, str]) -> list[str]:
    """Every problem with the answers, one line each; an empty list means all is well."""
    return [*text_problems(answers), *name_problems(answers), *choice_problems(answers)]


def text_problems(answers: dict[str, str]) -> list[str]:
    """Free text: present, and on one line."""
    found = []
    for key in ("project_name", "description", "author_name"):
        if not answers[key].strip():
            found.append(f"{key} is empty")
        elif any(ch in answers[key] for ch in "\n\r\t"):
            found.append(f"{key} must be one line without tabs")
    return found


def name_problems(answers: dict[str, str]) -> list[str]:
    """Names that end up in paths, imports, image names and git: the slug, the package, the email, the owner."""
    found = []
    slug = answers["project_slug"]
    if not SLUG.fullmatch(slug) or len(slug) > 63:
        found.append(
            f"project_slug {slug!r} must be lowercase letters, digits and single dashes, start with a letter, "
            "at most 63 characters (e.g. my-ml-project)"
        )
    package = answers["package_name"]
    if not PACKAGE.fullmatch(package):
        found.append(f"package_name {package!r} must be a lowercase Python identifier (e.g. my_ml_project)")
    elif keyword.iskeyword(package) or keyword.issoftkeyword(package) or package in sys.stdlib_module_names:
        found.append(f"package_name {package!r} is a Python keyword or standard-library module; pick another")
    if not EMAIL.fullmatch(answers["author_email"]):
        found.append(f"author_email {answers['author_email']!r} is not an email address")
    owner = answers["github_owner"]
    if not GITHUB_OWNER.fullmatch(owner):
        found.append(
            f"github_owner {owner!r} must be a GitHub user or organisation in lowercase "
            "(letters, digits, single inner dashes, at most 39)"
        )
    return found


def choice_problems(answers: dict[str, str]) -> list[str]:
    """Answers outside their choices, and a DVC remote URL that does not fit the remote."""
    found = [
        f"{key} {answers[key]!r} must be one of {', '.join(allowed)}"
        for key, allowed in CHOICES.items()
        if answers[key] not in allowed
    ]
    remote, url = answers["dvc_remote"], answers["dvc_remote_url"]
    scheme = REMOTE_SCHEMES.get(remote)
    if scheme and not (url.startswith(scheme) and len(url) > len(scheme)):
        found.append(f"dvc_remote_url {url!r} must be a {scheme}<bucket>/<path> URL for dvc_remote {remote}")
    if remote == "local" and re.match(r"^[a-z][a-z0-9+]*://", url):
        found.append(f"dvc_remote_url {url!r} is a URL, but dvc_remote is local: give a folder path or leave it empty")
    return found


def main() -> int:
    found = problems(ANSWERS)
    for problem in found:
        print(f"error: {problem}", file=sys.stderr)
    if found:
        print(f"{len(found)} answer(s) to fix; nothing was generated.", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
