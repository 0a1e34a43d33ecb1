# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""awx/configure.yml checked against awx.awx itself, with no AWX server.

No AWX runs here, so the objects are checked three ways:

1. ``ansible-playbook --syntax-check`` with the real awx.awx 24.6.1 (installed by
   awx/install_awx_collection.py into .cache/collections): every module and the
   module_defaults group resolve.
2. Statically, every awx.awx task's arguments against the argument spec its module
   really builds: each module's ``main()`` runs until it constructs its
   ``AnsibleModule``, which is intercepted to capture the keyword arguments
   (argument_spec with awx.awx's auth options, mutually_exclusive, required_if, ...);
   ansible-core's ``ArgumentSpecValidator`` then checks names, types and choices of
   every literal value. The survey questions of awx/vars/objects.yml are checked with
   the rules AWX applies to a survey spec (``JobTemplateSurveySpec._validate_spec_data``)
   and against the plan's own variables and choices.
3. Dynamically, the real playbook runs against a copy of awx.awx whose modules are
   shadowed by an action plugin (``ValidatingAction`` below) that validates the
   rendered arguments (templates, loops, module_defaults applied) against the same
   captured specs and the survey rules, records them, and never contacts AWX.

A misspelled option, a wrong choice or a malformed survey fails each layer: the
negative tests prove it.
"""
from __future__ import annotations

import copy
import difflib
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError
from ansible.plugins.action import ActionBase

ROOT = Path(__file__).resolve().parents[2]
AWX_DIR = ROOT / "awx"
CONFIGURE = AWX_DIR / "configure.yml"
OBJECTS = AWX_DIR / "vars" / "objects.yml"
INSTALLER = AWX_DIR / "install_awx_collection.py"
DEFAULT_COLLECTIONS = ROOT / ".cache" / "collections"
AWX_COLLECTION = "ansible_collections/awx/awx"
AWX_VERSION = "24.6.1"

# Environment of the ansible-playbook runs that load this file as their action plugin.
CHECK_ENV = "GPUFLEET_AWX_CHECK_MODULE"
RECORD_ENV = "GPUFLEET_AWX_RECORD"
# Where awx.awx is (installed there when missing); default .cache/collections.
COLLECTIONS_ENV = "GPUFLEET_AWX_COLLECTIONS"

# ---------------------------------------------------------------- awx.awx's own argument specs


class _Captured(Exception):
    """Raised instead of constructing AnsibleModule, carrying its keyword arguments."""

    def __init__(self, kwargs):
        super().__init__("captured")
        self.kwargs = kwargs


_SPECS: dict = {}


def awx_modules(collections: Path) -> list:
    """Names of the modules awx.awx ships."""
    modules = collections / AWX_COLLECTION / "plugins" / "modules"
    return sorted(p.stem for p in modules.glob("*.py") if p.stem != "__init__")


def module_spec(module: str) -> dict:
    """The AnsibleModule keyword arguments awx.awx.<module> builds (argument_spec, required_if, ...)."""
    if module in _SPECS:
        return _SPECS[module]
    from ansible.module_utils import basic  # pylint: disable=import-outside-toplevel

    loaded = importlib.import_module("ansible_collections.awx.awx.plugins.modules.%s" % module)
    original = basic.AnsibleModule.__init__

    def capture(self, *args, **kwargs):  # pylint: disable=unused-argument
        raise _Captured(kwargs)

    basic.AnsibleModule.__init__ = capture
    try:
        loaded.main()
    except _Captured as captured:
        _SPECS[module] = captured.kwargs
        return captured.kwargs
    finally:
        basic.AnsibleModule.__init__ = original
    raise AssertionError("awx.awx.%s returned without constructing AnsibleModule" % module)


def check_module_args(module: str, args: Mapping) -> list:
    """Problems of ARGS for awx.awx.<module>: unknown names (with the closest), types, choices, required."""
    spec = module_spec(module)
    argument_spec = spec["argument_spec"]
    validator = ArgumentSpecValidator(
        argument_spec,
        mutually_exclusive=spec.get("mutually_exclusive"),
        required_together=spec.get("required_together"),
        required_one_of=spec.get("required_one_of"),
        required_if=spec.get("required_if"),
        required_by=spec.get("required_by"),
    )
    known = sorted(set(argument_spec) | {a for option in argument_spec.values() for a in option.get("aliases", ())})
    problems = []
    for name in args:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            problems.append("awx.awx.%s has no option %r%s" % (
                module, name, " (did you mean %r?)" % close[0] if close else ""))
    result = validator.validate(dict(args))
    # Unknown names are reported above, with the closest known one.
    problems.extend("awx.awx.%s: %s" % (module, error.msg) for error in result.errors.errors
                    if not isinstance(error, UnsupportedError))
    return problems


# ---------------------------------------------------------------- AWX's survey spec rules

SURVEY_TYPES = {"text": str, "textarea": str, "password": str, "multiplechoice": str, "multiselect": str,
                "integer": int, "float": (int, float)}
SURVEY_KEYS = ("name", "description", "spec")
QUESTION_KEYS = ("question_name", "question_description", "variable", "type", "required", "default", "choices",
                 "min", "max", "new_question")


def _choices(question: Mapping) -> list:
    choices = question.get("choices")
    if isinstance(choices, str):
        return [c for c in choices.splitlines() if c.strip()]
    return list(choices or [])


def check_question(question, where: str) -> list:
    """One survey question, as AWX validates it on POST .../survey_spec/ (plus unknown keys)."""
    if not isinstance(question, Mapping):
        return ["%s is not a mapping" % where]
    problems = []
    for key in question:
        if key not in QUESTION_KEYS:
            close = difflib.get_close_matches(str(key), QUESTION_KEYS, n=1)
            problems.append("%s has unknown key %r%s: AWX ignores it" % (
                where, key, " (did you mean %r?)" % close[0] if close else ""))
    for key, kind, label in (("type", str, "a string"), ("question_name", str, "a string"),
                             ("variable", str, "a string"), ("required", bool, "a boolean")):
        if key not in question:
            problems.append("%s: %r is missing" % (where, key))
        elif not isinstance(question[key], kind):
            problems.append("%s: %r must be %s" % (where, key, label))
    if problems:
        return problems
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", question["variable"]):
        problems.append("%s: variable %r is not a variable name" % (where, question["variable"]))
    qtype = question["type"]
    if qtype not in SURVEY_TYPES:
        return problems + ["%s: type %r is not one of %s" % (where, qtype, ", ".join(SURVEY_TYPES))]
    default = question.get("default")
    if default not in (None, "") and (not isinstance(default, SURVEY_TYPES[qtype]) or isinstance(default, bool)):
        problems.append("%s: default %r does not fit type %s" % (where, default, qtype))
    for key in ("min", "max"):
        if question.get(key) is not None and (not isinstance(question[key], int) or isinstance(question[key], bool)):
            problems.append("%s: %r must be an integer" % (where, key))
    if qtype in ("multiplechoice", "multiselect"):
        choices = question.get("choices")
        if not isinstance(choices, (str, list)) or not _choices(question):
            problems.append("%s: type %s needs choices (a list or newline-separated string)" % (where, qtype))
        elif isinstance(choices, list) and not all(isinstance(c, str) for c in choices):
            problems.append("%s: choices must be strings, got %r" % (where, choices))
        elif default not in (None, ""):
            defaults = default.splitlines() if isinstance(default, str) else list(default)
            if qtype == "multiplechoice" and len(defaults) > 1:
                problems.append("%s: a multiplechoice question has one default" % where)
            if any(d not in _choices(question) for d in defaults):
                problems.append("%s: default %r is not one of the choices %s" % (where, default, _choices(question)))
    elif "choices" in question:
        problems.append("%s: choices only apply to multiplechoice and multiselect questions" % where)
    return problems


def check_survey_spec(spec) -> list:
    """A job template's survey_spec, by AWX's rules: name, description, a non-empty spec of questions."""
    if not isinstance(spec, Mapping):
        return ["survey_spec is not a mapping"]
    problems = ["survey_spec has unknown key %r" % key for key in spec if key not in SURVEY_KEYS]
    for key, kind, label in (("name", str, "a string"), ("description", str, "a string"), ("spec", list, "a list")):
        if key not in spec:
            problems.append("survey_spec.%s is missing" % key)
        elif not isinstance(spec[key], kind):
            problems.append("survey_spec.%s must be %s" % (key, label))
    if problems:
        return problems
    if not spec["spec"]:
        return ["survey_spec.spec has no question"]
    seen = set()
    for index, question in enumerate(spec["spec"]):
        where = "survey_spec.spec[%d]" % index
        problems.extend(check_question(question, where))
        variable = question.get("variable") if isinstance(question, Mapping) else None
        if variable in seen:
            problems.append("%s: variable %r is asked twice" % (where, variable))
        seen.add(variable)
    return problems


# Free text reaches a unit's ExecStart or environment through the plan; AWX cannot apply a pattern to
# an answer, only lengths (text) or a range (integer, float). So a question whose variable the plan
# reads is a choice, a bounded number, or a single-line text with a minimum and a maximum length.
MAX_TEXT_ANSWER = 4096  # the plan's own bound on any string (plugins/module_utils/_input_rules.py MAX_STRING)


def check_constrained(question, where: str) -> list:
    """Problems of QUESTION as a way into the plan: free text, a multi-line or unbounded answer."""
    qtype = question.get("type")
    if qtype in ("multiplechoice", "multiselect"):
        return [] if _choices(question) else ["%s: a %s question without choices" % (where, qtype)]
    if qtype in ("integer", "float"):
        missing = [key for key in ("min", "max") if question.get(key) is None]
        return ["%s: %s question needs %s" % (where, qtype, " and ".join(missing))] if missing else []
    if qtype != "text":
        return ["%s: type %s lets free text (or several lines) into the plan; ask a text or a choice" % (where, qtype)]
    problems = []
    low, high = question.get("min"), question.get("max")
    if not isinstance(high, int) or isinstance(high, bool) or not 1 <= high <= MAX_TEXT_ANSWER:
        problems.append("%s: a text question needs a max length between 1 and %d, got %r" % (where, MAX_TEXT_ANSWER, high))
    if not isinstance(low, int) or isinstance(low, bool) or low < 1:
        problems.append("%s: a text question needs a min length of at least 1 (a blank answer is no value), got %r" % (where, low))
    elif isinstance(high, int) and low > high:
        problems.append("%s: min length %d is above max length %d" % (where, low, high))
    return problems


def check_answer(question: Mapping, answers: Mapping) -> list:
    """AWX's launch-time check of one survey answer (SurveyJobTemplateMixin._survey_element_validation)."""
    variable = question["variable"]
    if variable not in answers:
        return ["'%s' value missing" % variable] if question["required"] else []
    value = answers[variable]
    if question["type"] in ("text", "textarea", "password"):
        if not isinstance(value, str):
            return ["Value %s for '%s' expected to be a string." % (value, variable)]
        problems = []
        if question.get("min") not in ("", None) and len(value) < int(question["min"]):
            problems.append("'%s' value %s is too small (length is %s must be at least %s)." % (variable, value, len(value), question["min"]))
        if question.get("max") not in ("", None) and len(value) > int(question["max"]):
            problems.append("'%s' value %s is too large (must be no more than %s)." % (variable, value, question["max"]))
        return problems
    if question["type"] == "multiplechoice" and value not in _choices(question):
        return ["Value %s for '%s' expected to be one of %s." % (value, variable, _choices(question))]
    return []


def check_rendered(module: str, args: Mapping) -> list:
    """Everything checkable about one rendered awx.awx task."""
    problems = check_module_args(module, args)
    if module == "job_template" and args.get("survey_enabled") and "survey_spec" not in args:
        problems.append("survey_enabled without a survey_spec")
    if "survey_spec" in args:
        problems.extend(check_survey_spec(args["survey_spec"]))
    return problems


# ---------------------------------------------------------------- the action plugin of layer 3


class ValidatingAction(ActionBase):
    """Stands in for every awx.awx module: validates the rendered arguments, records them, contacts nothing."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        # ansible's collection loader imports awx.awx's real module code from the shadow copy.
        module = self._task.resolved_action.rsplit(".", 1)[-1]
        args = dict(self._task.args)
        problems = check_rendered(module, args)
        shown = {k: ("<secret>" if k in ("inputs", "controller_oauthtoken") else v) for k, v in args.items()}
        with open(os.environ[RECORD_ENV], "a", encoding="utf-8") as record:
            record.write(json.dumps({"task": self._task.get_name(), "module": module, "no_log": bool(self._task.no_log),
                                     "args": shown, "problems": problems}, default=str) + "\n")
        result["changed"] = False
        if problems:
            result["failed"] = True
            result["msg"] = "; ".join(problems)
        return result


ACTION_STUB = '''\
# Written by tests/integration/test_awx_objects.py: awx.awx modules validated, not run.
import importlib.util
import os

_spec = importlib.util.spec_from_file_location("gpufleet_awx_check", os.environ["%s"])
_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_check)
ActionModule = _check.ValidatingAction
''' % CHECK_ENV


# ---------------------------------------------------------------- reading the playbook


class _Loader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
    """YAML as ansible reads it, enough for these files: !unsafe is a plain string."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def load_yaml(path: Path):
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # nosec B506: a SafeLoader subclass


def iter_tasks(tasks):
    for task in tasks or ():
        for section in ("block", "rescue", "always"):
            if section in task:
                yield from iter_tasks(task[section])
        if not any(section in task for section in ("block", "rescue", "always")):
            yield task


def awx_tasks(playbook):
    """(task, module, args) for every awx.awx task of PLAYBOOK."""
    found = []
    for play in playbook:
        for key in ("pre_tasks", "tasks", "post_tasks", "handlers"):
            for task in iter_tasks(play.get(key)):
                for name, value in task.items():
                    if name.startswith("awx.awx."):
                        found.append((task, name[len("awx.awx."):], value or {}))
    return found


def is_template(value) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


_PLACEHOLDERS = {"str": "x", "raw": "x", "path": "/x", "list": [], "dict": {}, "bool": True, "int": 0, "float": 0.0}


def literal_args(module: str, args: Mapping) -> dict:
    """ARGS with each top-level template replaced by a placeholder of its option's type.

    The names of templated options are checked as any other; their values only once
    rendered (the dynamic tests). The placeholder is the first choice when there are choices.
    """
    spec = module_spec(module)["argument_spec"]
    canonical = {alias: name for name, option in spec.items() for alias in option.get("aliases", ())}
    literal = {}
    for name, value in args.items():
        option = spec.get(canonical.get(name, name))
        if is_template(value) and option is not None:
            value = list(option["choices"])[0] if option.get("choices") else _PLACEHOLDERS[option.get("type", "str")]
        literal[name] = value
    return literal


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def awx_collections() -> Path:
    """A collections path holding awx.awx AWX_VERSION (installed by awx/install_awx_collection.py)."""
    collections = Path(os.environ.get(COLLECTIONS_ENV, DEFAULT_COLLECTIONS))
    manifest = collections / AWX_COLLECTION / "MANIFEST.json"
    if not manifest.exists():
        subprocess.run([sys.executable, str(INSTALLER), "--dest", str(collections)], check=True, timeout=300)
    assert json.loads(manifest.read_text())["collection_info"]["version"] == AWX_VERSION
    if str(collections) not in sys.path:
        sys.path.insert(0, str(collections))
    return collections


@pytest.fixture(scope="session")
def playbook():
    return load_yaml(CONFIGURE)


@pytest.fixture(scope="session")
def objects():
    return load_yaml(OBJECTS)


@pytest.fixture(scope="session")
def shadow_collections(awx_collections, tmp_path_factory) -> Path:
    """A copy of awx.awx whose every module is shadowed by ValidatingAction."""
    root = tmp_path_factory.mktemp("shadow")
    target = root / AWX_COLLECTION
    shutil.copytree(awx_collections / AWX_COLLECTION, target)
    actions = target / "plugins" / "action"
    actions.mkdir(parents=True, exist_ok=True)
    for module in awx_modules(awx_collections):
        (actions / ("%s.py" % module)).write_text(ACTION_STUB, encoding="utf-8")
    return root


def ansible_command(name: str) -> str:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def run_playbook(playbook: Path, collections: Path, record: Path, extra_vars=None, env=None):
    """ansible-playbook PLAYBOOK with awx.awx from COLLECTIONS; AWX credentials are fakes."""
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith(("ANSIBLE_", "AWX_", "CONTROLLER_", "TOWER_", "HF_TOKEN"))}
    config = record.parent / "empty-ansible.cfg"
    config.write_text("# no settings: a clean Ansible for the test\n", encoding="utf-8")
    environment.update(
        ANSIBLE_CONFIG=str(config), ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0", ANSIBLE_RETRY_FILES_ENABLED="0",
        AWX_HOST="https://awx.invalid", AWX_TOKEN="test-token",
        **{CHECK_ENV: str(Path(__file__).resolve()), RECORD_ENV: str(record)})
    environment.update(env or {})
    command = [ansible_command("ansible-playbook"), str(playbook), "-i", "localhost,"]
    if extra_vars:
        command += ["-e", json.dumps(extra_vars)]
    result = subprocess.run(command, cwd=playbook.parent, env=environment, capture_output=True, text=True,
                            timeout=120, check=False)
    records = [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
    return result, records


# ---------------------------------------------------------------- 1. syntax


def test_syntax_check_with_the_real_collection(awx_collections):
    result = subprocess.run(
        [ansible_command("ansible-playbook"), "--syntax-check", str(CONFIGURE), "-i", "localhost,"],
        cwd=ROOT, env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(awx_collections), ANSIBLE_NOCOLOR="1"),
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_syntax_check_refuses_an_unknown_module(awx_collections, tmp_path):
    shutil.copytree(AWX_DIR / "vars", tmp_path / "vars")
    broken = tmp_path / "configure.yml"
    broken.write_text(CONFIGURE.read_text().replace("awx.awx.inventory_source:", "awx.awx.inventory_sources:"))
    result = subprocess.run(
        [ansible_command("ansible-playbook"), "--syntax-check", str(broken), "-i", "localhost,"],
        cwd=tmp_path, env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(awx_collections), ANSIBLE_NOCOLOR="1"),
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0
    assert "awx.awx.inventory_sources" in result.stdout + result.stderr


# ---------------------------------------------------------------- 2. static


def test_the_spec_capture_sees_awx_options(awx_collections):
    spec = module_spec("job_template")["argument_spec"]
    assert {"survey_spec", "survey_enabled", "ask_limit_on_launch", "playbook"} <= set(spec)
    # awx.awx's auth options (module_defaults below) are part of every module, the token no_log.
    assert spec["controller_oauthtoken"]["no_log"] is True
    assert module_spec("credential")["mutually_exclusive"] == [("organization", "user", "team")]


def test_every_awx_task_matches_its_module_spec(awx_collections, playbook):
    tasks = awx_tasks(playbook)
    modules = set(awx_modules(awx_collections))
    used = {m for _task, m, _args in tasks}
    assert used >= {"project", "inventory", "inventory_source", "credential_type", "credential", "job_template"}
    problems = []
    for task, module, args in tasks:
        assert module in modules, "%s: awx.awx.%s does not exist" % (task["name"], module)
        problems += ["%s: %s" % (task["name"], p) for p in check_module_args(module, literal_args(module, args))]
    assert not problems, "\n".join(problems)


def test_module_defaults_are_options_of_every_awx_module(awx_collections, playbook):
    defaults = playbook[0]["module_defaults"]["group/awx.awx.controller"]
    assert set(defaults) == {"controller_host", "controller_oauthtoken", "validate_certs"}
    for _task, module, _args in awx_tasks(playbook):
        assert not check_module_args(module, dict(literal_args(module, defaults), name="x", **_required_extras(module)))


def _required_extras(module: str) -> dict:
    spec = module_spec(module)["argument_spec"]
    return {name: "x" for name, option in spec.items() if option.get("required") and name != "name"}


@pytest.mark.parametrize("mutation, expected", [
    ({"survey_enabld": True}, "has no option 'survey_enabld' (did you mean 'survey_enabled'?)"),
    ({"ask_limit_on_lunch": True}, "did you mean 'ask_limit_on_launch'?"),
    ({"job_type": "execute"}, "job_type must be one of: run, check"),
    ({"forks": "many"}, "forks"),
])
def test_a_wrong_job_template_option_is_refused(awx_collections, playbook, mutation, expected):
    task = next(args for _task, module, args in awx_tasks(playbook) if module == "job_template")
    problems = check_module_args("job_template", dict(literal_args("job_template", task), **mutation))
    assert any(expected in problem for problem in problems), problems


def test_a_misspelled_option_in_the_playbook_is_refused(awx_collections):
    broken = yaml.load(CONFIGURE.read_text().replace("scm_url:", "scm_uri:"), Loader=_Loader)  # nosec B506
    problems = [p for _task, module, args in awx_tasks(broken) for p in check_module_args(module, literal_args(module, args))]
    assert problems == ["awx.awx.project has no option 'scm_uri' (did you mean 'scm_url'?)"], problems


def test_survey_questions_follow_awx_rules_and_the_plan(objects):
    from ansible_collections.gpufleet.sglang.plugins.module_utils._profiles import (  # pylint: disable=import-outside-toplevel
        DEFAULT_PROFILE, PROFILES)
    from ansible_collections.gpufleet.sglang.plugins.module_utils._topology import (  # pylint: disable=import-outside-toplevel
        CONTRACT, TRANSFER_BACKENDS)

    questions = objects["awx_survey_questions"]
    for template in objects["awx_job_templates"]:
        keys = template.get("survey", objects["awx_survey_default"])
        spec = {"name": template["name"], "description": "", "spec": [questions[k] for k in keys]}
        assert check_survey_spec(spec) == [], template["name"]
    assert {q["variable"] for q in questions.values()} <= set(CONTRACT)
    # The plan's choices, the newest release (the plan's default) first.
    assert sorted(questions["release_profile"]["choices"]) == sorted(PROFILES)
    assert questions["release_profile"]["choices"][0] == DEFAULT_PROFILE
    assert sorted(questions["transfer_backend"]["choices"]) == sorted(TRANSFER_BACKENDS)
    assert questions["model"]["variable"] == "sglang_model_path"
    # No default: an unanswered question must leave the inventory's value alone (AWX sends defaults).
    assert all("default" not in q and q["required"] is False for q in questions.values())


@pytest.mark.parametrize("mutation, expected", [
    (lambda s: s["spec"][0].pop("question_name"), "'question_name' is missing"),
    (lambda s: s["spec"][1].update(default="0.6.0"), "is not one of the choices"),
    (lambda s: s["spec"][1].pop("choices"), "needs choices"),
    (lambda s: s["spec"][2].update(variable="sglang_model_path"), "is asked twice"),
    (lambda s: s["spec"][0].update(type="string"), "type 'string' is not one of"),
    (lambda s: s["spec"][0].update(requried=True), "unknown key 'requried' (did you mean 'required'?)"),
    (lambda s: s.pop("description"), "survey_spec.description is missing"),
    (lambda s: s.update(spec=[]), "has no question"),
])
def test_a_malformed_survey_is_refused(objects, mutation, expected):
    questions = objects["awx_survey_questions"]
    spec = {"name": "plan", "description": "", "spec": copy.deepcopy([questions[k] for k in objects["awx_survey_default"]])}
    mutation(spec)
    problems = check_survey_spec(spec)
    assert any(expected in problem for problem in problems), problems


def test_every_survey_question_is_a_choice_or_bounded(objects):
    """No free text reaches a unit: every question is a choice or a text with a min and max length."""
    questions = objects["awx_survey_questions"]
    problems = [p for key, question in questions.items() for p in check_constrained(question, key)]
    assert problems == [], problems
    text = [key for key, question in questions.items() if question["type"] == "text"]
    assert text == ["model"]  # the only text question: the model id or path


def test_the_model_question_says_what_it_takes(objects):
    model = objects["awx_survey_questions"]["model"]
    assert (model["variable"], model["type"], model["min"], model["max"]) == ("sglang_model_path", "text", 1, 256)
    description = model["question_description"]
    assert "org/name" in description and "absolute path" in description and "256" in description, description
    # AWX applies the lengths at launch; an unanswered optional question passes and keeps the inventory's model.
    assert check_answer(model, {}) == []
    assert check_answer(model, {"sglang_model_path": "Qwen/Qwen2.5-7B-Instruct"}) == []
    assert check_answer(model, {"sglang_model_path": "/models/qwen2.5-7b"}) == []
    assert check_answer(model, {"sglang_model_path": ""}) != []
    assert check_answer(model, {"sglang_model_path": "x" * 257}) != []
    assert check_answer(model, {"sglang_model_path": ["Qwen/Qwen2.5-7B-Instruct"]}) != []


@pytest.mark.parametrize("mutation, expected", [
    (lambda q: q.pop("max"), "needs a max length"),
    (lambda q: q.update(max=100000), "needs a max length between 1 and 4096"),
    (lambda q: q.pop("min"), "needs a min length of at least 1"),
    (lambda q: q.update(min=0), "needs a min length of at least 1"),
    (lambda q: q.update(min=300), "min length 300 is above max length 256"),
    (lambda q: q.update(type="textarea"), "type textarea lets free text"),
    (lambda q: q.update(type="password"), "type password lets free text"),
    (lambda q: (q.update(type="integer"), q.pop("max")), "integer question needs max"),
    (lambda q: q.update(type="multiplechoice", choices=[]), "without choices"),
])
def test_an_unbounded_question_is_refused(objects, mutation, expected):
    question = copy.deepcopy(objects["awx_survey_questions"]["model"])
    mutation(question)
    problems = check_constrained(question, "model")
    assert any(expected in problem for problem in problems), problems


def test_job_templates_cover_exactly_the_playbooks_that_exist(objects):
    existing = {p.relative_to(ROOT).as_posix() for p in (ROOT / "playbooks").glob("*.yml")}
    enabled = {t["playbook"] for t in objects["awx_job_templates"] if t["enabled"]}
    assert enabled == existing, (
        "awx/vars/objects.yml awx_job_templates: set enabled: true for %s and add or disable entries for %s"
        % (sorted(existing - enabled), sorted(enabled - existing)))
    names = [t["name"] for t in objects["awx_job_templates"]]
    assert len(names) == len(set(names))


def test_secrets_pass_only_through_no_log_tasks(playbook):
    secret = re.compile(r"awx_hf_token|awx_ssh_private_key_file|awx_token")
    passing = [task for task, _module, args in awx_tasks(playbook) if secret.search(json.dumps(args))]
    assert len(passing) == 2  # the two credentials with inputs
    assert [task["name"] for task in passing if task.get("no_log") is not True] == []
    # The token reaches every task through module_defaults: awx.awx declares it no_log itself
    # (test_the_spec_capture_sees_awx_options), so its tasks need no no_log of their own.


# ---------------------------------------------------------------- 3. dynamic


def test_the_playbook_renders_valid_arguments_for_every_task(shadow_collections, playbook, tmp_path):
    key = tmp_path / "id_ed25519"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-key\n-----END OPENSSH PRIVATE KEY-----\n")
    full, full_records = run_playbook(
        CONFIGURE, shadow_collections, tmp_path / "full.jsonl",
        extra_vars={"awx_ssh_private_key_file": str(key), "awx_execution_environment_image": "registry.invalid/ee:1"},
        env={"HF_TOKEN": "hf_test"})
    assert full.returncode == 0, full.stdout + full.stderr
    # Without secrets no credential is written; the templates refer to them by name.
    bare, bare_records = run_playbook(
        CONFIGURE, shadow_collections, tmp_path / "bare.jsonl",
        extra_vars={"awx_sync": False, "awx_job_templates": [
            {"name": "deploy", "playbook": "playbooks/deploy.yml", "description": "d", "enabled": True}]})
    assert bare.returncode == 0, bare.stdout + bare.stderr
    records = full_records + bare_records
    assert all(not r["problems"] for r in records), [r for r in records if r["problems"]]

    # With every secret and option given, every awx.awx task of the playbook ran; without, none
    # writes a credential, an execution environment or syncs.
    assert {t["name"] for t, _m, _a in awx_tasks(playbook)} == {r["task"] for r in full_records}
    assert {r["module"] for r in bare_records} == {"organization", "credential_type", "project", "inventory",
                                                   "inventory_source", "job_template"}
    assert all(r["no_log"] for r in full_records if r["task"].startswith("Create or update"))

    templates = [r["args"] for r in full_records if r["module"] == "job_template"]
    assert [t["name"] for t in templates] == ["gpufleet.sglang: %s" % name for name in (
        "plan", "preflight", "site", "single_node", "multinode_tp", "pd_disagg", "rolling_restart")]
    plan, preflight = templates[:2]
    assert all(t["credentials"][0] == "gpufleet.sglang: SSH" for t in templates[2:])  # the deploy playbooks log in
    assert plan["playbook"] == "playbooks/plan.yml" and plan["ask_limit_on_launch"] is True
    assert plan["credentials"] == ["gpufleet.sglang: Hugging Face token"]  # plan contacts no host: no SSH
    assert plan["execution_environment"] == "gpufleet.sglang"
    assert [q["variable"] for q in plan["survey_spec"]["spec"]] == [
        "sglang_model_path", "sglang_release_profile", "sglang_transfer_backend"]
    # The model question reaches AWX bounded, as objects.yml has it.
    model = plan["survey_spec"]["spec"][0]
    assert (model["type"], model["min"], model["max"]) == ("text", 1, 256), model
    assert all(not check_constrained(q, q["variable"]) for t in templates for q in t["survey_spec"]["spec"])
    assert plan["controller_host"] == "https://awx.invalid"
    assert preflight["playbook"] == "playbooks/preflight.yml"
    assert preflight["credentials"] == ["gpufleet.sglang: SSH", "gpufleet.sglang: Hugging Face token"]  # it logs in
    deploy = next(r["args"] for r in bare_records if r["module"] == "job_template")
    assert deploy["credentials"] == ["gpufleet.sglang: SSH", "gpufleet.sglang: Hugging Face token"]
    assert "execution_environment" not in deploy
    credential_type = next(r["args"] for r in full_records if r["module"] == "credential_type")
    assert credential_type["injectors"] == {"extra_vars": {"sglang_hf_token": "{{ hf_token }}"}}
    source = next(r["args"] for r in full_records if r["module"] == "inventory_source")
    assert (source["source"], source["source_path"]) == ("scm", "inventories/prod")


def test_a_misspelled_option_fails_the_rendered_run(shadow_collections, tmp_path):
    shutil.copytree(AWX_DIR / "vars", tmp_path / "vars")
    broken = tmp_path / "configure.yml"
    broken.write_text(CONFIGURE.read_text().replace("ask_limit_on_launch: true", "ask_limit_on_lanch: true"))
    result, records = run_playbook(broken, shadow_collections, tmp_path / "record.jsonl")
    assert result.returncode != 0
    failed = [r for r in records if r["problems"]]
    assert {r["module"] for r in failed} == {"job_template"}  # every enabled template carries the typo
    assert "has no option 'ask_limit_on_lanch' (did you mean 'ask_limit_on_launch'?)" in failed[0]["problems"][0]
    assert "ask_limit_on_lanch" in result.stdout


def test_a_survey_out_of_awx_rules_fails_the_rendered_run(shadow_collections, objects, tmp_path):
    questions = copy.deepcopy(objects["awx_survey_questions"])
    questions["release_profile"]["default"] = "0.4.0"
    result, records = run_playbook(CONFIGURE, shadow_collections, tmp_path / "record.jsonl",
                                   extra_vars={"awx_survey_questions": questions, "awx_sync": False})
    assert result.returncode != 0
    assert any("default '0.4.0' is not one of the choices" in p for r in records for p in r["problems"]), records


def test_survey_answers_out_of_range_fail_the_plan_like_the_cli(objects, tmp_path):
    """What a survey answer becomes (an extra var) is refused by plan.yml's validation, before any host."""
    questions = objects["awx_survey_questions"]
    answers = {"sglang_release_profile": "0.4.0", "sglang_transfer_backend": "tcp", "sglang_model_path": ""}
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    result = subprocess.run(
        [ansible_command("ansible-playbook"), "playbooks/plan.yml", "-i", "inventories/examples/pd_1p1d",
         "-e", "plan_dir=%s" % tmp_path, "-e", json.dumps(answers)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and not (tmp_path / "plan.json").exists()
    assert "The inventory cannot be deployed (3 errors); no host was contacted" in output, output
    for question in ("release_profile", "transfer_backend"):
        variable, choices = questions[question]["variable"], questions[question]["choices"]
        assert "(type): %s = %r is not one of" % (variable, answers[variable]) in output, output
        # The plan's fix offers exactly the survey's choices.
        offered = re.search(r"Fix: set %s to one of: ([^\n]*?)\.(?:\n|$)" % variable, output, re.M).group(1)
        assert sorted(offered.split(", ")) == sorted(choices)
    # A blank text answer, should AWX send one, is refused as well, never silently used.
    assert "sglang_model_path (type): sglang_model_path = '' is not a non-empty string." in output, output
