"""The generated typed config (qc_engine/config.py): shipped configs and schema defaults load; gaps,
unknown keys and wrong types are refused; the engine reads no key the schema does not have."""

import ast
import dataclasses
import json
import subprocess
import typing
from pathlib import Path

import pytest

from qc_engine import config as qc_config
from qc_engine.config import ConfigError, QwenClassifyConfig, load_resolved
from qc_engine.errors import BadInput

from helpers import REPO, schema_defaults

BUN = REPO / "node_modules" / ".bin" / "bun"
ENGINE = REPO / "engine" / "qc_engine"
SHIPPED = sorted((REPO / "configs").glob("*.yaml"))


def resolve_with_ts(config_file: Path) -> dict:
    """The resolved config exactly as tasks/train.ts writes it (--dry-run --json)."""
    proc = subprocess.run([str(BUN), "run", "tasks/train.ts", "--config", str(config_file), "--dry-run", "--json"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_generated_file_says_do_not_edit():
    text = (ENGINE / "config.py").read_text()
    assert text.startswith("# generated — do not edit") and "bun run codegen" in text.splitlines()[0]


@pytest.mark.skipif(not BUN.exists(), reason="needs node_modules/.bin/bun")
@pytest.mark.parametrize("config_file", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_config_loads_into_the_python_types(config_file, tmp_path):
    resolved = resolve_with_ts(config_file)
    path = tmp_path / "resolved_config.json"
    path.write_text(json.dumps(resolved))
    config, config_hash = load_resolved(path)
    assert config_hash == resolved["config_hash"]
    assert as_raw(config) == resolved["config"]  # every value came through unchanged


def as_raw(config) -> dict:
    """The typed config back as resolved_config.json holds it (lists, optional keys left out when None)."""
    raw = json.loads(json.dumps(dataclasses.asdict(config)))
    for entry in raw["datasets"]["dataset_configs"].values():
        if entry["class_names"] is None:
            del entry["class_names"]
    return raw


def test_schema_defaults_load_and_keep_their_values():
    defaults = schema_defaults()
    config = QwenClassifyConfig.from_dict(defaults)
    assert config.data.num_workers == defaults["data"]["num_workers"]
    assert config.data.prompt == defaults["data"]["prompt"]
    assert config.training.resume_from_checkpoint is None
    assert isinstance(config.training.epochs, float) and isinstance(config.training.max_steps, int)


def test_missing_unknown_and_mistyped_keys_are_refused_naming_the_key():
    good = schema_defaults()
    missing = json.loads(json.dumps(good))
    del missing["data"]["num_workers"]
    with pytest.raises(ConfigError, match=r"missing key\(s\) data\.num_workers"):
        QwenClassifyConfig.from_dict(missing)
    unknown = json.loads(json.dumps(good))
    unknown["training"]["evaluation"]["batchsize"] = 4
    with pytest.raises(ConfigError, match=r"unknown key\(s\) training\.evaluation\.batchsize") as info:
        QwenClassifyConfig.from_dict(unknown)
    assert isinstance(info.value, BadInput) and info.value.hint  # exit 2 with a fix
    mistyped = json.loads(json.dumps(good))
    mistyped["training"]["max_steps"] = True
    with pytest.raises(ConfigError, match=r"training\.max_steps: expected int, got True"):
        QwenClassifyConfig.from_dict(mistyped)
    bad_entry = json.loads(json.dumps(good))
    bad_entry["datasets"]["dataset_configs"] = {"pets": {"num_classes": 2}}
    with pytest.raises(ConfigError, match=r"datasets\.dataset_configs\.pets\.description"):
        QwenClassifyConfig.from_dict(bad_entry)


def test_config_objects_are_frozen_and_refuse_unknown_attributes():
    config = QwenClassifyConfig.from_dict(schema_defaults())
    with pytest.raises(AttributeError):
        config.training.not_a_key  # noqa: B018
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.training.lr = 1.0


# ---------------------------------------------------------------- static scan of the engine

CONFIG_CLASSES = {name: cls for name, cls in vars(qc_config).items()
                  if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == qc_config.__name__}


def _field_type(cls, name: str):
    """The config class of field `name` of `cls` (None: a leaf value), or KeyError if there is no such key."""
    if name not in {f.name for f in dataclasses.fields(cls)}:
        raise KeyError(name)
    hint = typing.get_type_hints(cls, vars(qc_config))[name]
    return hint if hint in CONFIG_CLASSES.values() else None


def _annotation_class(node):
    """QwenClassifyConfig for `x: QwenClassifyConfig` or `x: QwenClassifyConfig | None`."""
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} if node is not None else set()
    return next((CONFIG_CLASSES[n] for n in names if n in CONFIG_CLASSES), None)


def _chain(node):
    """a.b.c -> ("a", ["b", "c"]); self.config.x -> ("self.config", ["x"])."""
    attrs = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None, []
    attrs.reverse()
    if node.id == "self" and attrs[:1] == ["config"]:
        return "self.config", attrs[1:]
    return node.id, attrs


def config_key_problems(source: str, filename: str) -> list[str]:
    """Attribute chains on config objects that name a key the schema does not have. Roots: `self.config`,
    parameters annotated with a config class, and local aliases of a config chain (x = config.data)."""
    problems = []
    for func in [n for n in ast.walk(ast.parse(source)) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]:
        roots = {"self.config": QwenClassifyConfig}
        for arg in func.args.args + func.args.kwonlyargs:
            if _annotation_class(arg.annotation):
                roots[arg.arg] = _annotation_class(arg.annotation)

        def resolve(node, line):
            root, attrs = _chain(node)
            cls = roots.get(root)
            for attr in attrs:
                if cls is None:
                    return None
                try:
                    cls = _field_type(cls, attr)
                except KeyError:
                    problems.append(f"{filename}:{line}: {root}.{'.'.join(attrs)}: no key {attr!r} in {cls.__name__}")
                    return None
            return cls if attrs or root in roots else None

        for node in ast.walk(func):  # aliases first, so `data = config.data` makes `data` a root
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                pairs = (zip(node.targets[0].elts, node.value.elts)
                         if isinstance(node.targets[0], ast.Tuple) and isinstance(node.value, ast.Tuple)
                         else [(node.targets[0], node.value)])
                for target, value in pairs:
                    if isinstance(target, ast.Name) and isinstance(value, ast.Attribute):
                        root, attrs = _chain(value)
                        if root in roots:
                            cls = roots[root]
                            for attr in attrs:
                                cls = _field_type(cls, attr) if cls and attr in {f.name for f in dataclasses.fields(cls)} else None
                            if cls is not None:
                                roots[target.id] = cls
        seen = set()
        for node in ast.walk(func):
            if isinstance(node, ast.Attribute) and id(node) not in seen:
                for inner in ast.walk(node):
                    seen.add(id(inner))
                resolve(node, node.lineno)
    return sorted(set(problems))


def test_the_engine_reads_only_keys_the_schema_has():
    problems = []
    scanned = 0
    for path in sorted(ENGINE.rglob("*.py")):
        # config.py is the generated config itself; in the transformers model class `self.config` is the
        # model's own Qwen2_5_VLConfig (image_token_id, text_config, ...), not ours
        if path.name in ("config.py", "modeling_qwen_classifier.py"):
            continue
        problems += config_key_problems(path.read_text(), str(path.relative_to(REPO)))
        scanned += 1
    assert scanned > 10
    assert problems == []


def test_the_scan_catches_an_unknown_key_and_a_dict_style_read():
    source = '''
def f(config: QwenClassifyConfig | None, x):
    data = config.data
    a = config.training.evaluation.batch_size
    b = data.num_worker
    c = config.training.get("lr", 0)
    d = x.training.nonsense
'''
    problems = config_key_problems(source, "snippet.py")
    assert problems == ["snippet.py:5: data.num_worker: no key 'num_worker' in DataConfig",
                        "snippet.py:6: config.training.get: no key 'get' in TrainingConfig"]
