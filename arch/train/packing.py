"""Exact packing of an unfinished run's optimizer state for CKPT.resume (issue 26, item 2).

Optimizer state that no gradient has reached is exactly +0: Adagrad's sums and Adam's moments of
embedding rows no batch has read, and of the weights of a shared supernet tensor that no sampled
subnet has used yet (subnets use leading slices of the shared weights and their own sources' input
columns, so the untouched part is a union of blocks, neither whole rows nor whole columns). A
large floating tensor is stored in the smallest of three exact forms:

- as it is;
- "rows": the indices of its rows holding anything but +0, and those rows
  ({PACKED_ROWS: True, "index", "values", "shape"}; what CKPT.resume files before the mask form hold);
- "mask": one bit per element (set where the element is anything but +0: a -0.0 or a NaN counts as
  set, so unpacking restores every bit) and the set elements in order
  ({PACKED_MASK: True, "mask", "count", "values", "shape"}): numel / 8 bytes plus the set values,
  whatever their pattern; a tensor no gradient has reached is its mask alone.

Unpacking puts the values back into +0 bit for bit (tests/test_resume_state_size.py). Nothing else in
CKPT.resume repeats what CKPT holds: the weights live only in CKPT; CKPT.resume is the optimizer
state, the schedule's counters and the RNG state (benchmarks/bench_resume_state.py prints each part)."""

from __future__ import annotations

from typing import Any

import torch

PACKED_ROWS = "recpim_packed_rows"
PACKED_MASK = "recpim_packed_mask"
PACK_MIN_ELEMENTS = 4096        # smaller tensors are stored as they are
PACK_MAX_FRACTION = 0.75        # packed only when the packed form takes at most this share of the tensor
_INDEX_BYTES = 8                # a row index (int64)
_BIT_WEIGHTS = (128, 64, 32, 16, 8, 4, 2, 1)   # np.packbits' order: the first element is the high bit


def set_elements(tensor: torch.Tensor) -> torch.Tensor:
    """Where `tensor` holds anything but +0.0 (a bool tensor of its shape): -0.0 and NaN are set."""
    return (tensor != 0) | torch.signbit(tensor)


def pack_bits(flags: torch.Tensor) -> torch.Tensor:
    """A flat bool tensor as uint8 bytes, eight flags a byte, the first flag in the high bit."""
    padded = torch.zeros(-(-flags.numel() // 8) * 8, dtype=torch.uint8, device=flags.device)
    padded[:flags.numel()] = flags.reshape(-1)
    weights = torch.tensor(_BIT_WEIGHTS, dtype=torch.uint8, device=flags.device)
    return (padded.view(-1, 8) * weights).sum(dim=1, dtype=torch.uint8)


def unpack_bits(packed: torch.Tensor, count: int) -> torch.Tensor:
    """The first `count` flags of pack_bits' bytes, as a flat bool tensor."""
    shifts = torch.arange(7, -1, -1, dtype=torch.uint8, device=packed.device)
    flags = (packed.unsqueeze(1) >> shifts) & 1
    return flags.reshape(-1)[:count].bool()


def _pack_tensor(state: torch.Tensor) -> Any:
    if state.layout != torch.strided or not state.is_floating_point() or state.dim() < 1 or \
            state.numel() < PACK_MIN_ELEMENTS:
        return state
    size = state.element_size()
    whole_bytes = state.numel() * size
    flags = set_elements(state)
    count = int(flags.sum())
    mask_bytes = -(-state.numel() // 8) + count * size
    rows_bytes = whole_bytes + 1
    rows = None
    if state.dim() >= 2:
        rows = flags.reshape(state.shape[0], -1).any(dim=1).nonzero().flatten()
        rows_bytes = rows.numel() * (_INDEX_BYTES + (state.numel() // state.shape[0]) * size)
    if min(rows_bytes, mask_bytes) > PACK_MAX_FRACTION * whole_bytes:
        return state
    if rows is not None and rows_bytes <= mask_bytes:
        return {PACKED_ROWS: True, "index": rows, "values": state[rows].clone(), "shape": list(state.shape)}
    return {PACKED_MASK: True, "mask": pack_bits(flags), "count": count, "values": state[flags].clone(),
            "shape": list(state.shape)}


def pack_state(state: Any) -> Any:
    """`state` (a nested optimizer state dict) with each large floating tensor in its smallest exact
    form (the module docstring); other values as they are."""
    if isinstance(state, torch.Tensor):
        return _pack_tensor(state)
    if isinstance(state, dict):
        return {key: pack_state(value) for key, value in state.items()}
    if isinstance(state, list | tuple):
        return type(state)(pack_state(value) for value in state)
    return state


def _unpack_mask(state: dict[str, Any]) -> torch.Tensor:
    values, shape = state["values"], state["shape"]
    numel = 1
    for extent in shape:
        numel *= int(extent)
    flags = unpack_bits(state["mask"], numel)
    if int(flags.sum()) != int(state["count"]) or values.numel() != int(state["count"]):
        raise ValueError(f"the mask sets {int(flags.sum())} elements, the packed tensor holds {values.numel()} "
                         f"values and says {state['count']}")
    dense = torch.zeros(numel, dtype=values.dtype, device=values.device)
    dense[flags] = values
    return dense.reshape(shape)


def unpack_state(state: Any) -> Any:
    """The inverse of pack_state (a state without packed tensors comes back as it is). A damaged
    packed tensor raises KeyError, TypeError, IndexError, ValueError or RuntimeError."""
    if isinstance(state, dict):
        if state.get(PACKED_ROWS) is True:
            values = state["values"]
            dense = torch.zeros(state["shape"], dtype=values.dtype)
            dense.index_copy_(0, state["index"], values)
            return dense
        if state.get(PACKED_MASK) is True:
            return _unpack_mask(state)
        return {key: unpack_state(value) for key, value in state.items()}
    if isinstance(state, list | tuple):
        return type(state)(unpack_state(value) for value in state)
    return state
