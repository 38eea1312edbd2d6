"""Map the top-level source folders to the `podwarden.*` import names.

The user fixed the layout (engine/, ui/, app/ at the top level) and the import
names (podwarden.engine, podwarden.ui, podwarden.app). setuptools can express
the mapping with `package_dir`, but every subpackage must then be listed, so we
compute the list here instead of keeping it by hand in pyproject.toml.
tests/unit/test_packaging.py builds a wheel and checks that it holds every module.
"""

from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent
CODE = {"engine": "podwarden.engine", "ui": "podwarden.ui", "app": "podwarden.app"}
DATA = {"playbooks": "podwarden.playbooks", "resources": "podwarden.resources"}

package_dir: dict[str, str] = {}
packages: list[str] = []  # `podwarden` itself is an implicit namespace package
for folder, name in CODE.items():
    package_dir[name] = folder
    packages.append(name)
    for sub in find_packages(str(ROOT / folder)):
        packages.append(f"{name}.{sub}")
        package_dir[f"{name}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"
for folder, name in DATA.items():
    package_dir[name] = folder
    packages.append(name)

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={
        "podwarden.engine.migrations": ["script.py.mako", "alembic.ini"],
        "podwarden.playbooks": ["*.yml", "files/*", "templates/*", "README.md"],
        "podwarden.resources": ["**/*"],
    },
    include_package_data=False,
)
