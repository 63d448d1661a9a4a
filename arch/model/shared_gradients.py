"""A shared weight's gradient without weight-sized zero fills (issue 23 item 6).

A supernet step slices each shared SlicedLinear weight (rows [:out], column ranges per input source)
once per sampled subnet. autograd's backward of that slicing zero-fills a weight-sized tensor per
slice and adds them, for every subnet of the step: on the wide space a third of a sampled step.
`active_columns` slices the same way, and its backward adds the gradient into one buffer per weight,
kept between steps (only the regions the last pass wrote are zeroed again), which becomes the
weight's .grad when the backward pass ends. The values are autograd's bit for bit (tests/
test_train_step_work.py): each element gets the same gradients in the same order, plus exact zeros.

A weight whose gradient is asked for through torch.autograd.grad (not .backward) would still get it
in .grad; recpim never does that with a supernet weight."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch.utils.weak import WeakIdKeyDictionary

from recpim.arch.model.operators import Segments


def columns(weight: torch.Tensor, out: int, segments: Segments) -> torch.Tensor:
    """weight[:out] at the column ranges `segments`: a view for one range, their concatenation for several."""
    weight = weight[:out]
    if len(segments) == 1:
        start, length = segments[0]
        return weight[:, start:start + length]
    return torch.cat([weight[:, start:start + length] for start, length in segments], dim=1)


@dataclass
class _GradientSink:
    """Where a shared weight's gradient is gathered during one backward pass (module docstring)."""

    buffer: torch.Tensor                                   # zero outside `written`
    written: list[tuple[int, Segments]] = dataclasses.field(default_factory=list)   # regions written since last zeroed
    open: bool = False                                     # a backward pass is writing into it
    version: int = -1                                      # buffer._version when the last pass handed it over


_SINKS: WeakIdKeyDictionary = WeakIdKeyDictionary()   # weight -> its _GradientSink (tensors keyed by identity)


def _open_sink(weight: torch.Tensor) -> _GradientSink:
    """The weight's sink for the running backward pass: its buffer reused, with only the regions the
    last pass wrote zeroed again, unless the weight still holds that buffer as its .grad (gradients
    accumulated over passes: then a fresh one) or anything changed the buffer in place since (its
    version counter moved: clipping, a data-parallel average; then it is zeroed whole)."""
    sink = _SINKS.get(weight)
    if sink is not None and sink.open:
        return sink
    fresh = sink is None or weight.grad is sink.buffer or sink.buffer.shape != weight.shape or \
        sink.buffer.dtype != weight.dtype or sink.buffer.device != weight.device
    if fresh:
        sink = _GradientSink(torch.zeros_like(weight, memory_format=torch.contiguous_format))
        _SINKS[weight] = sink
    elif sink.buffer._version != sink.version:
        sink.buffer.zero_()
    else:
        for out, segments in sink.written:
            for start, length in segments:
                sink.buffer[:out, start:start + length].zero_()
    sink.written.clear()
    sink.open = True
    torch.autograd.Variable._execution_engine.queue_callback(lambda: _close_sink(weight, sink))
    return sink


def _close_sink(weight: torch.Tensor, sink: _GradientSink) -> None:
    """At the end of the backward pass: the gathered gradient becomes (or is added to) weight.grad,
    as autograd would have left it."""
    sink.open = False
    if weight.grad is None:
        weight.grad = sink.buffer
    else:
        weight.grad.add_(sink.buffer)
    sink.version = sink.buffer._version


class _ActiveColumns(torch.autograd.Function):
    """columns(weight, out, segments), whose backward adds the gradient into the weight's sink
    instead of returning a weight-sized tensor. Why: autograd's own backward of the slicing zero-fills
    a tensor per slice ([out, max_in] per column range, then [max_out, max_in] for the rows) and adds
    them, for every subnet of a step that uses the weight; on the wide space the fills and adds were a
    third of a sampled step (issue 23 item 6's profile). The sink is one buffer per weight, kept
    between steps, of which only the regions the last pass wrote are zeroed again; at the end of the
    pass it becomes weight.grad (a weight no subnet used keeps no gradient, as before). The values are
    the same as autograd's: each element gets the same gradients added in the same order, plus zeros."""

    @staticmethod
    def forward(ctx, weight: torch.Tensor, out: int, segments: tuple[tuple[int, int], ...]) -> torch.Tensor:
        ctx.weight, ctx.out, ctx.segments = weight, out, segments
        return columns(weight, out, segments)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        sink = _open_sink(ctx.weight)
        if grad.stride(-1) != 1:
            # a slice of a wider weight gets its gradient transposed (mm's backward lays it out as the
            # slice's transpose): adding it row by row read it a column at a time, 2x slower than a
            # (blocked) transposing copy and a contiguous add; the same values are added either way
            grad = grad.contiguous()
        column = 0
        for start, length in ctx.segments:
            sink.buffer[:ctx.out, start:start + length].add_(grad[:, column:column + length])
            column += length
        sink.written.append((ctx.out, ctx.segments))
        return None, None, None


def active_columns(weight: torch.Tensor, out: int, segments: Segments) -> torch.Tensor:
    """columns(weight, out, segments) whose gradient is gathered in the weight's kept buffer."""
    return _ActiveColumns.apply(weight, out, tuple((int(start), int(length)) for start, length in segments))


def gradient_support(weight: torch.Tensor) -> list[torch.Tensor] | None:
    """Views of weight.grad that together hold every nonzero element of it -- the regions the last
    backward pass wrote -- when weight.grad is the buffer that pass gathered it in and nothing has
    changed it since (its version counter); None otherwise. Why: a split step writes ~10 % of the
    shared weights' elements, so the gradient norm's bound (arch/train/optimizers.py clip_gradients)
    reads those instead of every weight-sized buffer."""
    sink = _SINKS.get(weight)
    if sink is None or sink.open or weight.grad is not sink.buffer or sink.buffer._version != sink.version:
        return None
    regions = {(out, start, length) for out, segments in sink.written for start, length in segments}
    return [sink.buffer[:out, start:start + length] for out, start, length in sorted(regions)]
