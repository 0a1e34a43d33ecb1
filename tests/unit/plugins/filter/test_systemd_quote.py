# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The systemd quoting filters: systemd_exec, systemd_value, systemd_env_assignment.

Whole units written with them are read back by systemd's rules, and checked by the real systemd-analyze, in
tests/unit/roles/test_sglang_service_templates.py and test_pypi_cache_template.py.
"""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.gpufleet.sglang.plugins.filter.systemd_quote import FilterModule
from ansible_collections.gpufleet.sglang.plugins.filter.systemd_quote import systemd_env_assignment
from ansible_collections.gpufleet.sglang.plugins.filter.systemd_quote import systemd_exec
from ansible_collections.gpufleet.sglang.plugins.filter.systemd_quote import systemd_value


def test_registered():
    assert FilterModule().filters() == {"systemd_exec": systemd_exec, "systemd_value": systemd_value,
                                        "systemd_env_assignment": systemd_env_assignment}


@pytest.mark.parametrize("argv, line", [
    (["/usr/bin/python3", "-m", "sglang.launch_server", "--port", 30000],
     "/usr/bin/python3 -m sglang.launch_server --port 30000"),
    (["/opt/my venv/bin/python", "a b"], '"/opt/my venv/bin/python" "a b"'),
    (["/bin/echo", "100%", "$HOME", "${X}"], '/bin/echo "100%%" "$$HOME" "$${X}"'),
    (["/bin/echo", "a\nb", "a\rb", "\t", "\x01\x7f", "\x85\u2028"],
     '/bin/echo "a\\nb" "a\\rb" "\\t" "\\x01\\x7f" "\\u0085\\u2028"'),
    (["/bin/echo", "\a\b\v\f", 'q"q', "b\\s", "it's"], '/bin/echo "\\a\\b\\v\\f" "q\\"q" "b\\\\s" "it\'s"'),
    (["/bin/echo", ";", "", "-x", "+x", "@x", "!x", ":x"], '/bin/echo ";" "" -x +x @x "!x" :x'),
    (["/bin/echo", "ünï"], '/bin/echo "ünï"'),
    (["/srv/100%/python"], "\"/srv/100%%/python\""),
])
def test_exec_words(argv, line):
    assert systemd_exec(argv) == line


@pytest.mark.parametrize("argv", [["+/bin/sh"], ["-/bin/true"], ["@/bin/true"], ["!/bin/true"], [":/bin/true"],
                                  ["true"], [""], ["/bin/$X"], ["/bin/a\nb"], ["/bin/a\x7f"], [], "/bin/true",
                                  {"argv": "/bin/true"}, None, [["/bin/true"]]])
def test_exec_refuses_what_systemd_would_misread(argv):
    with pytest.raises(AnsibleFilterError, match="systemd"):
        systemd_exec(argv)


def test_exec_refuses_nul():
    with pytest.raises(AnsibleFilterError, match="NUL"):
        systemd_exec(["/bin/echo", "a\x00b"])


@pytest.mark.parametrize("value, style, written", [
    ("SGLang worker sglang-prefill-0", "text", "SGLang worker sglang-prefill-0"),
    ("50% done", "text", "50%% done"),
    ("/var/lib/sglang", "path", "/var/lib/sglang"),
    ("/srv/100%", "path", "/srv/100%%"),
    ("sglang", "word", "sglang"),
    ("CAP_NET_BIND_SERVICE", "word", "CAP_NET_BIND_SERVICE"),
    (0, "word", "0"),
])
def test_values(value, style, written):
    assert systemd_value(value, style) == written


@pytest.mark.parametrize("value, style", [
    ("a\nb", "text"), ("a\rb", "text"), ("a\x00", "text"), ("a\x1b", "text"), ("a\u2028", "text"), ("ends\\", "text"),
    ("relative", "path"), ("/a b", "path"), ("/a\nb", "path"), ('/a"b', "path"), ("/a'b", "path"), ("/a\\b", "path"),
    ("", "path"), ("", "word"), ("sg lang", "word"), ("-x", "word"), ("a\nb", "word"), ("a=b", "word"),
    ("x", "other"), (None, "text"), (["a"], "text"), ({"a": 1}, "text"),
])
def test_values_refused(value, style):
    with pytest.raises(AnsibleFilterError, match="systemd"):
        systemd_value(value, style)


@pytest.mark.parametrize("name, value, line", [
    ("NCCL_DEBUG", "INFO", "NCCL_DEBUG='INFO'"),
    ("A", "a b $HOME \\ \"", "A='a b $HOME \\ \"'"),
    ("A", "it's $HOME `x` \\ \"", 'A="it\'s \\$HOME \\`x\\` \\\\ \\""'),
    ("A", "line\nbreak\r\t", "A='line\nbreak\r\t'"),
    ("_A1", 5, "_A1='5'"),
    ("A", "", "A=''"),
])
def test_env_assignments(name, value, line):
    assert systemd_env_assignment(name, value) == line


@pytest.mark.parametrize("name, value", [("1A", "x"), ("A B", "x"), ("A=B", "x"), ("A\nB", "x"), ("", "x"),
                                         ("A", "a\x00b"), ("A", None), ("A", ["x"])])
def test_env_assignments_refused(name, value):
    with pytest.raises(AnsibleFilterError, match="systemd"):
        systemd_env_assignment(name, value)
