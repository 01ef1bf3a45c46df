import subprocess

from coopcloud.ops.app.appcmd import command_line, functions

SCRIPT = """\
export APP_ENTRYPOINT_VERSION=v1

set_admin_pass() {
  echo "setting $1"
}

function migrate {
  echo migrating
}

  indented_one () { echo x; }
"""


def test_functions_are_found_in_every_style():
    assert functions(SCRIPT) == ["set_admin_pass", "indented_one", "migrate"]


def test_command_line_runs_the_function_with_its_arguments_in_a_real_shell():
    argv = command_line(SCRIPT, "set_admin_pass", ["it's me", "$HOME"])
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    assert out == "setting it's me\n"
    argv = command_line(SCRIPT + "exit_with() { return $1; }\n", "exit_with", ["7"])
    assert subprocess.run(argv, capture_output=True).returncode == 7
