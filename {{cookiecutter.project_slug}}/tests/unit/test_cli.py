"""The command table and the command-module import."""

import gc

import pytest

from {{ cookiecutter.package_name }}.cli import ARGUMENTS, COMMANDS, build_parser, import_command


def test_every_command_names_a_function_of_its_module():
    for name, (module_name, function_name, _) in COMMANDS.items():
        assert callable(getattr(import_command(module_name), function_name)), name
    assert set(ARGUMENTS) <= set(COMMANDS)


@pytest.mark.parametrize("enabled", [True, False])
def test_importing_a_command_leaves_the_garbage_collector_as_it_found_it(enabled):
    was_enabled = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        import_command("monitor.drift")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was_enabled else gc.disable)()


def test_an_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["fly"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'fly'" in capsys.readouterr().err
