"""environment.yml, requirements.txt, requirements.lock and tools/setup.sh describe one stack."""
import re
from importlib import metadata

from clusterkit.machine.environment import REPO_ROOT


def pins(lines):
    found = {}
    for line in lines:
        match = re.match(r"^\s*(?:-\s*)?([A-Za-z0-9_.\-]+)==([^\s#]+)\s*$", line)
        if match:
            found[match[1].lower()] = match[2]
    return found


def requirements():
    return pins((REPO_ROOT / "requirements.txt").read_text().splitlines())


def test_environment_yml_pins_the_same_pip_packages():
    text = (REPO_ROOT / "environment.yml").read_text()
    pip_section = text.split("- pip:", 1)[1].splitlines()
    assert pins(pip_section) == requirements()
    assert "python=3.11" in text


def test_lock_contains_every_requirement_at_its_pin():
    lock = pins((REPO_ROOT / "requirements.lock").read_text().splitlines())
    for name, version in requirements().items():
        assert lock.get(name) == version, f"{name}: requirements.txt {version}, lock {lock.get(name)}"


def test_horovod_version_is_the_same_everywhere():
    setup = (REPO_ROOT / "tools" / "setup.sh").read_text()
    version = re.search(r'HOROVOD_VERSION="([^"]+)"', setup)[1]
    assert f"horovod=={version}" in (REPO_ROOT / "environment.yml").read_text()
    assert f"horovod=={version}" in (REPO_ROOT / "requirements.txt").read_text()


def test_installed_environment_matches_the_lock():
    lock = pins((REPO_ROOT / "requirements.lock").read_text().splitlines())
    for name, version in lock.items():
        installed = metadata.version(name)
        assert installed.split("+")[0] == version.split("+")[0], f"{name}: installed {installed}, locked {version}"
    assert metadata.version("horovod") == re.search(
        r'HOROVOD_VERSION="([^"]+)"', (REPO_ROOT / "tools" / "setup.sh").read_text())[1]
