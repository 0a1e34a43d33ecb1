"""Offline stand-in for the get-pip.py script that ansible-test downloads.

ansible-test creates every sanity test's virtual environment without pip
(``python -m venv --without-pip``) and then runs ``get-pip.py`` from
ci-files.testing.ansible.com, a host this fleet's CI cannot reach. It first
looks for the script in ``~/.ansible/test/cache/get_pip_<version>.py``;
``.ci/sanity`` copies this file there under the name ansible-test expects.

It does what get-pip.py does, with what the interpreter already ships: pip
from ``ensurepip``'s bundled wheel, then ``pip install`` of the requested
pip version (e.g. ``pip==25.2``) from the configured package index.
ansible-test runs it as ``python get_pip_X.py [pip options] pip==X
--no-setuptools --no-wheel`` inside the new virtual environment.
"""

from __future__ import annotations

import subprocess
import sys

# get-pip.py's own flags: it installs setuptools and wheel unless told not to.
# ensurepip installs neither, so these need no action here.
GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}


def main() -> int:
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
    boot = subprocess.run(
        [sys.executable, "-m", "ensurepip", "--default-pip"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    if boot.returncode:
        sys.stderr.write(boot.stdout)
        sys.stderr.write("get-pip stand-in: ensurepip failed; this Python cannot bootstrap pip offline\n")
        return boot.returncode
    return subprocess.call([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args])


if __name__ == "__main__":
    sys.exit(main())
