"""What `pip install .` ships is found, not listed: every package under mockserver/, and the top-level schemas/ and
fixtures/ folders (with every folder below them) as the data packages mockserver.schema_files and
mockserver.fixture_files. tests/test_install.py builds the sdist and the wheel and checks that every file git
tracks in those folders is inside."""
from setuptools import find_namespace_packages, find_packages, setup

DATA_FOLDERS = {"mockserver.schema_files": "schemas", "mockserver.fixture_files": "fixtures"}
data_packages = [f"{name}.{sub}" if sub else name for name, folder in DATA_FOLDERS.items()
                 for sub in ["", *find_namespace_packages(folder, exclude=["*__pycache__*"])]]

setup(
    packages=find_packages(include=["mockserver", "mockserver.*"]) + data_packages,
    package_dir=DATA_FOLDERS,
    package_data={"mockserver": ["*.html"], **{name: ["*.json", "*.yaml"] for name in data_packages}},
)
