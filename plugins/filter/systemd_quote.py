# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Quoting for systemd unit files and EnvironmentFiles (filters systemd_exec, systemd_value, systemd_env_assignment).

A value a template writes into a unit must come back from systemd's parser exactly as it went in, and must
never be able to end its line: systemd ends a line at a newline, a carriage return or a NUL, and joins the
next line to one that ends in a backslash. A command line is a list of words, each written so that systemd
reads back that word (``%`` specifiers doubled, ``$`` doubled, double quotes with C escapes for every control
character); a setting value (Description=, User=, paths) is refused when it holds what the setting cannot
carry; an EnvironmentFile value is quoted so that systemd's environment parser keeps every character.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

# Characters that may end or corrupt a line, or that a reader cannot see: C0 controls, DEL, C1 controls,
# and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# An ExecStart word made only of these needs no quotes (after %% and $$).
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_@+=:,./-]+\Z")
_C_ESCAPES = {"\\": "\\\\", '"': '\\"', "\a": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v",
              "\f": "\\f", "\r": "\\r"}
_PATH = re.compile(r"/[^\s\"'\\]*\Z")
_WORD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@:+-]*\Z")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# In a double-quoted EnvironmentFile value a backslash escapes only these (systemd's SHELL_NEED_ESCAPE).
_ENV_DOUBLE_QUOTED = {"\\": "\\\\", '"': '\\"', "`": "\\`", "$": "\\$"}


def _refuse(filter_name: str, value: str, rule: str, fix: str) -> AnsibleFilterError:
    return AnsibleFilterError("%s: %r %s. Fix: %s" % (filter_name, value, rule, fix))


def _text(value) -> str:
    if value is None or isinstance(value, (Mapping, bytes)) or (isinstance(value, Sequence) and not isinstance(value, str)):
        raise AnsibleFilterError("systemd quoting: %r is not a string or number (rule: one value per word or setting)."
                                 % (value,))
    return value if isinstance(value, str) else str(value)


def _escape_char(char: str) -> str:
    if char in _C_ESCAPES:
        return _C_ESCAPES[char]
    code = ord(char)
    if code < 0x20 or code == 0x7f:
        return "\\x%02x" % code
    if 0x80 <= code <= 0x9f or char in "\u2028\u2029":
        # \xNN would write a raw byte (not UTF-8); \uNNNN writes the character.
        return "\\u%04x" % code
    return char


def _exec_word(word: str) -> str:
    if "\x00" in word:
        raise _refuse("systemd_exec", word, "holds a NUL character, which no command-line argument can carry",
                      "remove it from the value that produced this argument.")
    text = word.replace("%", "%%").replace("$", "$$")
    if _PLAIN_WORD.match(text):
        return text
    return '"%s"' % "".join(_escape_char(char) for char in text)


def systemd_exec(argv) -> str:
    """The words of ``argv`` as an ExecStart= command line that systemd splits back into exactly these words.

    The first word is the program: an absolute path (so it can never start with one of systemd's prefixes
    ``- @ : + !``), with no ``$`` (systemd does not expand variables in the path it executes) and no control
    characters. Every word has ``%`` and ``$`` doubled; a word with anything but ``A-Za-z0-9_@+=:,./-`` is
    double-quoted, with C escapes for backslash, double quote and every control character.
    """
    if isinstance(argv, (str, bytes, Mapping)) or not isinstance(argv, Sequence) or not argv:
        raise AnsibleFilterError("systemd_exec: %r is not a non-empty list of words (rule: a command line is the "
                                 "program and its arguments, one list item each)." % (argv,))
    words = [_text(word) for word in argv]
    program = words[0]
    if not program.startswith("/") or _CONTROL.search(program) or "$" in program:
        raise _refuse("systemd_exec", program, "is not an absolute path to a program (rule: the first word of a command "
                      "line is an absolute path without control characters or $, so that systemd can read no "
                      "prefix such as + or - from it)", "give the program's absolute path, such as /usr/bin/python3.")
    return " ".join(_exec_word(word) for word in words)


def systemd_value(value, style: str = "text") -> str:
    """A value for a unit setting that takes the rest of its line (Description=, User=, WorkingDirectory=, ...).

    ``text``: any text without control characters that does not end in a backslash; ``%`` doubled.
    ``path``: an absolute path without whitespace, quotes, backslashes or control characters; ``%`` doubled
    (it is then one word, also in settings that take a list of paths). ``word``: one name made of
    ``A-Za-z0-9_.@:+-`` (a user, a group, a capability), starting with a letter, digit or ``_``.
    Anything else is refused: it could end the setting's line or change its meaning.
    """
    text = _text(value)
    if style == "word":
        if not _WORD.match(text):
            raise _refuse("systemd_value", text, "is not a single name of A-Za-z0-9_.@:+- (rule: user, group and "
                          "capability settings take one plain name)", "use a plain name, such as sglang.")
        return text
    if style == "path":
        if not _PATH.match(text):
            raise _refuse("systemd_value", text, "is not an absolute path without whitespace, quotes, backslashes or "
                          "control characters (rule: a path in a unit is one plain word)",
                          "use a plain absolute path, such as /var/lib/sglang.")
        return text.replace("%", "%%")
    if style != "text":
        raise AnsibleFilterError("systemd_value: style %r is not one of text, path, word." % (style,))
    if _CONTROL.search(text):
        raise _refuse("systemd_value", text, "holds a control character (rule: a setting's value cannot span or end "
                      "its line)", "remove the control characters.")
    if text.endswith("\\"):
        raise _refuse("systemd_value", text, "ends in a backslash (rule: systemd would join the next line to it)",
                      "remove the trailing backslash.")
    return text.replace("%", "%%")


def systemd_env_assignment(name, value) -> str:
    """One EnvironmentFile line, ``NAME=value``, that systemd reads back as exactly this name and value.

    The name is a shell variable name. The value is single-quoted (systemd keeps every character up to the
    closing quote, newlines and other control characters included); a value holding a single quote is
    double-quoted with ``\\``, ``"``, backquote and ``$`` escaped. A NUL cannot be in an environment value
    and is refused.
    """
    name, text = _text(name), _text(value)
    if not _ENV_NAME.match(name):
        raise _refuse("systemd_env_assignment", name, "is not an environment variable name (rule: letters, digits and "
                      "_, not starting with a digit)", "rename the variable, such as NCCL_DEBUG.")
    if "\x00" in text:
        raise _refuse("systemd_env_assignment", text, "holds a NUL character, which no environment value can carry",
                      "remove it from the value of %s." % name)
    if "'" not in text:
        return "%s='%s'" % (name, text)
    return '%s="%s"' % (name, "".join(_ENV_DOUBLE_QUOTED.get(char, char) for char in text))


class FilterModule:
    def filters(self):
        return {"systemd_exec": systemd_exec, "systemd_value": systemd_value,
                "systemd_env_assignment": systemd_env_assignment}
