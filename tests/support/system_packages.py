"""The Debian packages the template's tests install when missing (support/system.py), and the list
scripts/fresh-machine-check.sh purges: `python3 tests/support/system_packages.py` prints them, one line.

No import beyond the standard library: the fresh-machine check runs it with the system's python3.
Every package a test relies on is named, recommended ones included: apt-get runs with
--no-install-recommends, so a package that only comes as a recommendation is missing on a fresh machine.
"""

from __future__ import annotations

PACKAGES: dict[str, tuple[str, ...]] = {
    # podman builds the image and runs the pod spec. It only *recommends* the pause process `kube play` builds its
    # infra image from (catatonit); netavark, the network backend the test configures, also keeps apt from picking
    # the CNI plugins (and iptables) for podman's container-network-stack. The builds use no network (the base) or
    # the host's (the bento) and the pod slirp4netns: no bridge, so neither aardvark-dns nor iptables is needed.
    "container": (
        "podman",
        "buildah",
        "runc",
        "netavark",
        "catatonit",
        "slirp4netns",
        "uidmap",
        "mmdebstrap",
    ),
    # a real Prometheus scrapes the service; promtool runs the alerts' unit tests
    "monitoring": ("prometheus",),
    # the JVM under pyspark: batch scoring's Spark engine (test_batch_spark.py)
    "spark": ("openjdk-17-jre-headless",),
}


def everything() -> list[str]:
    """Every package of every test, once, sorted."""
    return sorted({package for packages in PACKAGES.values() for package in packages})


if __name__ == "__main__":
    print(" ".join(everything()))
