"""Builds the `shoal` binary into the package when Go is available.

`pip install ./python` runs `go build -o <build>/shoal/bin/shoal ./cmd/shoal`
from the repository root, so the package carries the agent it starts.
Without Go (or outside the repository), the package is installed alone and
finds the binary through $SHOAL_BIN or PATH at run time. Set
SHOAL_SKIP_GO_BUILD=1 to skip the build.
"""

import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


class BuildWithGo(build_py):
    def run(self):
        super().run()
        if os.environ.get("SHOAL_SKIP_GO_BUILD"):
            return
        go = shutil.which("go")
        if not go or not os.path.exists(os.path.join(REPO, "cmd", "shoal")):
            self.announce("shoal: Go or the repository not found; the binary comes from SHOAL_BIN or PATH", 2)
            return
        if getattr(self, "editable_mode", False):
            # An editable install imports from src/: put the binary there.
            out = os.path.join(HERE, "src", "shoal", "bin", "shoal")
        else:
            out = os.path.join(os.path.abspath(self.build_lib), "shoal", "bin", "shoal")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        self.announce("shoal: go build -o %s ./cmd/shoal" % out, 2)
        subprocess.check_call([go, "build", "-o", out, "./cmd/shoal"], cwd=REPO)


setup(cmdclass={"build_py": BuildWithGo})
