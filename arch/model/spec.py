"""Turn a model spec (what a user types after `recpim graph|map|simulate|sweep`) into a WorkloadGraph.

Accepted specs:
- a zoo name (`dlrm`, `vgg8`, ...), imported with torch.fx, or at the default 8 bits read from its stored
  graph (zoo_declared.py: the same graph, without importing torch);
- a path to a subnet JSON (a NASRec SubnetConfig), lowered with the dataset schema; the subnet
  carries its own bit widths, so `weight_bits`/`activation_bits` do not apply to it;
- `module:callable` or `path/to/file.py:callable`: the callable is called with no arguments and
  returns either `(module, sample_inputs)` or an nn.Module that has a `sample_inputs` attribute or
  method; sample inputs carry the batch in dim 0.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from recpim.arch.data.schema import SCHEMAS, DatasetSchema
from recpim.arch.graph.workload import WorkloadGraph
from recpim.arch.model.zoo_declared import declared_zoo_graph
from recpim.errors import RecpimError

# The zoo's names, known without importing torch (arch/model/zoo.py builds the modules; a test keeps the two
# in step): a chip roll-up or a subnet JSON never loads torch through here.
ZOO_NAMES = ("dlrm", "dlrm_multihot", "deepfm", "autoint", "mlp3", "vgg8")
ACCEPTED_FORMS = (
    f"a zoo name ({', '.join(ZOO_NAMES)}), a path to a subnet JSON file, or 'module:callable' / 'file.py:callable' "
    "returning (nn.Module, sample_inputs)"
)


def resolve_schema(schema_name: str) -> DatasetSchema:
    factory = SCHEMAS.get(schema_name.lower())
    if factory is None:
        raise RecpimError(f"unknown dataset schema {schema_name!r}; choose one of: {', '.join(SCHEMAS)}")
    return factory()


def resolve_model_spec(spec: str, schema_name: str = "criteo", weight_bits: int = 8,
                  activation_bits: int = 8) -> WorkloadGraph:
    """The WorkloadGraph a model spec names (see the module docstring for the accepted forms)."""
    if spec.lower() in ZOO_NAMES:
        declared = declared_zoo_graph(spec.lower(), weight_bits, activation_bits)
        if declared is not None:
            return declared
        from recpim.arch.model.zoo import zoo_graph  # (here: it imports torch, which only tracing a zoo model needs)

        return zoo_graph(spec.lower(), weight_bits, activation_bits)
    path = Path(spec)
    if path.suffix.lower() == ".json":
        if not path.is_file():
            raise RecpimError(f"subnet JSON {spec!r} does not exist")
        return _subnet_graph(path, resolve_schema(schema_name))
    if ":" in spec:
        return _callable_graph(spec, weight_bits, activation_bits)
    raise RecpimError(f"unknown model {spec!r}; give {ACCEPTED_FORMS}")


def _subnet_graph(path: Path, schema: DatasetSchema) -> WorkloadGraph:
    # torch-free (arch/model/lowering.py), imported here: the subnet and its lowering load numpy, which a zoo
    # model's declared graph does not need.
    from recpim.arch.model.lowering import lower_subnet
    from recpim.arch.model.subnet import load_subnet

    return lower_subnet(load_subnet(path), schema)


def _callable_graph(spec: str, weight_bits: int, activation_bits: int) -> WorkloadGraph:
    target, _, attribute = spec.rpartition(":")
    if not target or not attribute:
        raise RecpimError(f"model spec {spec!r} must look like 'module:callable'; accepted: {ACCEPTED_FORMS}")
    factory = getattr(_import(target, spec), attribute, None)
    if not callable(factory):
        raise RecpimError(f"{target!r} has no callable {attribute!r} (model spec {spec!r})")
    from torch import nn  # (here, with fx_import: both load torch, which only tracing a module needs)

    from recpim.arch.graph.fx_import import graph_from_module

    built = factory()
    if isinstance(built, tuple) and len(built) == 2 and isinstance(built[0], nn.Module):
        module, sample_inputs = built
    elif isinstance(built, nn.Module) and hasattr(built, "sample_inputs"):
        module = built
        sample_inputs = built.sample_inputs() if callable(built.sample_inputs) else built.sample_inputs
    else:
        raise RecpimError(
            f"{spec!r} returned {type(built).__name__}; it must return (nn.Module, sample_inputs) or an nn.Module "
            "with a `sample_inputs` attribute (tensors with the batch in dim 0)"
        )
    return graph_from_module(module, tuple(sample_inputs) if isinstance(sample_inputs, list | tuple)
                             else (sample_inputs,), spec, weight_bits, activation_bits)


def _working_folder_on_path() -> None:
    """A console script's sys.path starts with its own bin folder, not the working folder (as
    `python -m` or `python script.py` would have), so `recpim graph mymodel:build` could not find
    ./mymodel.py. Appended, not prepended: an installed module of the same name still wins, and a
    stray ./random.py cannot shadow the standard library."""
    cwd = str(Path.cwd())
    if cwd not in sys.path and "" not in sys.path:
        sys.path.append(cwd)


def _import(target: str, spec: str):
    try:
        if target.endswith(".py"):
            path = Path(target)
            if not path.is_file():
                raise RecpimError(f"model file {target!r} does not exist (model spec {spec!r})")
            module_spec = importlib.util.spec_from_file_location(f"recpim_user_model_{path.stem}", path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[module_spec.name] = module  # dataclasses and pickling look classes up here
            module_spec.loader.exec_module(module)
            return module
        _working_folder_on_path()
        return importlib.import_module(target)
    except RecpimError:
        raise
    except Exception as error:  # ImportError, or anything the user's module raises while importing
        raise RecpimError(f"cannot import {target!r} for model spec {spec!r}: {type(error).__name__}: {error}") \
            from error
