"""``appliance completion`` and ``appliance manpage`` as the operator (and
images/install) runs them: real processes, the script loaded by a real
bash (zsh when installed), the page rendered by groff."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from appliance.cli import build_parser
from appliance.cli.manpage import roff

#: The function shtab names after the program; `complete -p` must name it.
COMPLETE_FUNCTION = "_shtab_appliance"


def appliance(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "appliance", *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def top_level_commands() -> list[str]:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return list(sub.choices)


def complete_bash(script, *words: str, cwd=None) -> list[str]:
    """What bash offers for the last of ``words`` after ``appliance``, by the
    completion function the script registers (COMP_WORDS as readline sets them)."""
    line = " ".join(("appliance",) + words)
    driver = (
        'source "$1"; shift\n'
        'COMP_WORDS=(appliance "$@"); COMP_CWORD=$#; COMP_LINE="$LINE"; COMP_POINT=${#COMP_LINE}\n'
        'fn=$(complete -p appliance | sed -E "s/.* -F ([^ ]+) .*/\\1/")\n'
        '"$fn" appliance "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"\n'
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    proc = subprocess.run(["bash", "-c", driver, "bash", str(script), *words], capture_output=True, text=True,
                          timeout=30, cwd=cwd, env=dict(os.environ, LINE=line))
    assert proc.returncode == 0, proc.stderr
    return [w.strip() for w in proc.stdout.splitlines() if w.strip()]


@pytest.fixture(scope="module")
def bash_script(tmp_path_factory):
    path = tmp_path_factory.mktemp("completion") / "appliance.bash"
    path.write_text(appliance("completion", "bash"))
    return path


def test_bash_loads_the_script_and_registers_a_function(bash_script):
    """A real bash sources the script and `complete -p appliance` names its completion function."""
    proc = subprocess.run(["bash", "-c", 'source "$1" && complete -p appliance', "bash", str(bash_script)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert f"-F {COMPLETE_FUNCTION} appliance" in proc.stdout


def test_bash_completes_a_command(bash_script):
    """`appliance ten<TAB>` completes to `tenant`."""
    assert complete_bash(bash_script, "ten") == ["tenant"]


def test_bash_completes_a_subcommand(bash_script):
    """`appliance tenant sus<TAB>` completes to `suspend`."""
    assert complete_bash(bash_script, "tenant", "sus") == ["suspend"]


def test_bash_offers_every_command(bash_script):
    """An empty word after `appliance` offers every top-level command, completion and manpage among them."""
    offered = set(complete_bash(bash_script, ""))
    assert set(top_level_commands()) <= offered
    assert {"completion", "manpage"} <= offered


def test_bash_completes_config_as_a_file(bash_script, tmp_path):
    """The value of --config completes as a file name."""
    (tmp_path / "box.toml").write_text("")
    assert complete_bash(bash_script, "--config", "bo", cwd=tmp_path) == ["box.toml"]


def test_bash_completes_an_upgrade_source_as_a_directory(bash_script, tmp_path):
    """`appliance upgrade SOURCE` offers directories, not files."""
    (tmp_path / "release-0.2").mkdir()
    (tmp_path / "release-notes.txt").write_text("")
    assert complete_bash(bash_script, "upgrade", "rel", cwd=tmp_path) == ["release-0.2"]


def test_bash_completes_a_slug_as_nothing(bash_script, tmp_path):
    """A business slug is not looked up and not a file: nothing is offered, even with files about."""
    (tmp_path / "acme").write_text("")
    assert complete_bash(bash_script, "tenant", "show", "ac", cwd=tmp_path) == []


def test_zsh_loads_the_script(tmp_path):
    """A real zsh finds the zsh script on its fpath, as a completion
    function is installed, and compinit registers it for appliance."""
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed on this machine")
    script = tmp_path / "_appliance"
    script.write_text(appliance("completion", "zsh"))
    driver = f'fpath=({tmp_path} $fpath); autoload -U compinit && compinit -u -D && print -r -- "$_comps[appliance]"'
    proc = subprocess.run(["zsh", "-f", "-c", driver], capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, HOME=str(tmp_path)))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "_appliance", (proc.stdout, proc.stderr)


def test_an_unknown_shell_is_refused():
    """`appliance completion fish` exits non-zero with argparse's one-line error naming the choices."""
    proc = subprocess.run([sys.executable, "-m", "appliance", "completion", "fish"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr and "bash" in proc.stderr


@pytest.fixture(scope="module")
def page():
    return appliance("manpage")


def test_manpage_renders_without_warnings(page):
    """groff renders the page with every warning on and says nothing on stderr."""
    if shutil.which("groff") is None:
        pytest.skip("groff is not installed on this machine")
    proc = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z"], input=page, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert proc.stderr == ""


def test_manpage_names_every_command(page):
    """Every top-level command has its own subsection, and so does a subcommand (tenant add)."""
    for command in top_level_commands():
        assert f'.SS "appliance {command}"'.replace("-", "\\-") in page, command
    assert '.SS "appliance tenant add"' in page


def test_manpage_has_the_sections_of_a_section_1_page(page):
    """The title says section 1, and NAME, SYNOPSIS, DESCRIPTION, FILES and SEE ALSO are there."""
    assert page.startswith(".TH APPLIANCE 1 ")
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "FILES", "SEE ALSO"):
        assert f"\n.SH {section}\n" in page, section
    assert "/etc/appliance/appliance.toml" in page and "/var/lib/appliance" in page


def test_manpage_escapes_roff(page):
    """No text line starts a request by accident, and hyphens are \\- (so options copy and search right)."""
    for line in page.splitlines():
        assert not line.startswith("'"), line
        if line.startswith("."):
            assert re.match(r"\.(TH|SH|SS|TP|PP|B|I|BR)( |$)", line), line
    assert "\\-\\-json" in page
    assert " --json" not in page


def test_roff_guards_requests_backslashes_and_hyphens():
    """Text that starts with a dot or apostrophe, or holds a backslash or hyphen, is text to roff."""
    assert roff(".hidden\n'quoted\na-b c\\d") == "\\&.hidden\n\\&'quoted\na\\-b c\\ed"


def test_manpage_reads_as_text_through_man(page, tmp_path):
    """`man -l` formats the page; the text shows the commands with plain hyphens."""
    if shutil.which("man") is None:
        pytest.skip("man is not installed on this machine")
    path = tmp_path / "appliance.1"
    path.write_text(page)
    proc = subprocess.run(["man", "-l", str(path)], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="100"))
    assert proc.returncode == 0, proc.stderr
    assert "appliance tenant add" in proc.stdout
    assert "--json" in proc.stdout
