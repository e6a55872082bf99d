"""Write the Docker build context of the newest bento (or of the bento named on the command line).

Usage: python .github/scripts/bento-context.py OUTPUT_DIR [BENTO_TAG]

`bentoml containerize` needs a Docker engine; docker/build-push-action needs a plain build context.
This writes the same context `bentoml containerize` builds from: the bento, its models and the
generated Dockerfile (OUTPUT_DIR/env/docker/Dockerfile). It runs offline, so the tests check it.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path


def main(argv: list[str]) -> int:
    """Write the build context; exit 2 with a usage line or when no bento exists."""
    if len(argv) not in (1, 2):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    output = Path(argv[0]).resolve()
    import bentoml
    from bentoml._internal.container import construct_containerfile

    if len(argv) == 2:
        bento = bentoml.get(argv[1])
    else:
        bentos = sorted(bentoml.list(), key=lambda b: b.info.creation_time)
        if not bentos:
            print("bento-context: no bento in the store (run `make build` first; BENTOML_HOME?)", file=sys.stderr)
            return 2
        bento = bentos[-1]
    if output.exists():
        shutil.rmtree(output)
    # The context manager writes the final Dockerfile at <context>/env/docker/Dockerfile.
    # With a docker.dockerfile_template, BentoML re-renders the Dockerfile from a copy of the bento in a
    # temporary folder and refuses template paths outside the working directory (BentoML 1.4.39):
    # run it from the temporary folder, so that the copy is inside.
    cwd = Path.cwd()
    os.chdir(tempfile.gettempdir())
    try:
        with construct_containerfile(bento, enable_buildkit=True) as (context, _dockerfile):
            shutil.copytree(context, output)
    finally:
        os.chdir(cwd)
    print(f"bento {bento.tag}: build context {output}, Dockerfile env/docker/Dockerfile")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
