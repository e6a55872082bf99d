"""Point a kustomize overlay at an image: set `newName` and the digest (or tag) of its one `images:` entry.

Usage: python3 deploy/bump_image.py deploy/k8s/overlays/<env>/kustomization.yaml REGISTRY/NAME@sha256:DIGEST
       python3 deploy/bump_image.py deploy/k8s/overlays/<env>/kustomization.yaml REGISTRY/NAME:TAG

The deploy workflow pins images by digest: a tag can be moved to other bytes, a digest cannot, so what
main says is exactly what runs. It edits the lines in place (comments and layout are kept; a `newTag:`
line becomes `digest:` and back) and needs only the standard library, so it runs on any runner before
the project's environment exists. Exit 2 with one line on stderr when it cannot.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# A lowercase registry/repository path, then a digest (sha256:<64 hex>) or a tag (the OCI reference grammar).
NAME = r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)+"
IMAGE = re.compile(  # (no f-string: this file passes through the template's Jinja, which owns double braces)
    r"^(?P<name>" + NAME + r")(?:@(?P<digest>sha256:[0-9a-f]{64})|:(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))$"
)
FIELD = re.compile(r"^(?P<lead>\s*(?:- )?\s*)(?P<key>newName|newTag|digest):\s*(?P<value>\S+)(?P<rest>\s*(?:#.*)?)$")


class BumpError(Exception):
    """The overlay or the image reference is not what this script can edit."""


def bump(text: str, image: str) -> str:
    """Return the kustomization text with its image entry set to `image` (NAME@DIGEST or NAME:TAG)."""
    match = IMAGE.match(image)
    if match is None:
        raise BumpError(
            f"not an image reference REGISTRY/NAME@sha256:DIGEST or REGISTRY/NAME:TAG in lowercase: {image!r}"
        )
    reference = ("digest", match["digest"]) if match["digest"] else ("newTag", match["tag"])
    lines = text.splitlines(keepends=True)
    seen: dict[str, int] = {}
    for index, line in enumerate(lines):
        field = FIELD.match(line.rstrip("\n"))
        if field is None:
            continue
        key = "newName" if field["key"] == "newName" else "reference"
        seen[key] = seen.get(key, 0) + 1
        new_key, value = ("newName", match["name"]) if key == "newName" else reference
        ending = "\n" if line.endswith("\n") else ""
        lines[index] = f"{field['lead']}{new_key}: {value}{field['rest']}{ending}"
    if seen != {"newName": 1, "reference": 1}:
        raise BumpError(f"expected one images: entry with newName and newTag (or digest), found {seen or 'none'}")
    return "".join(lines)


def main(argv: list[str]) -> int:
    """Edit the overlay in place; exit 2 with one line on stderr when it cannot."""
    if len(argv) != 2:
        print("usage: bump_image.py KUSTOMIZATION_YAML REGISTRY/NAME@sha256:DIGEST", file=sys.stderr)
        return 2
    path, image = Path(argv[0]), argv[1]
    try:
        text = path.read_text(encoding="utf-8")
        updated = bump(text, image)
    except (OSError, BumpError) as exc:
        print(f"bump_image: {path}: {exc}", file=sys.stderr)
        return 2
    if updated != text:
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(updated, encoding="utf-8")
        temporary.replace(path)
    print(f"{path}: {image}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
