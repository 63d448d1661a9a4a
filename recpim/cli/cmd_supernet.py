"""`recpim supernet`: train the weight-sharing supernet and score subnets with inherited weights."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import typer

from recpim.arch.crossbar.arithmetic import CrossbarArithmetic
from recpim.arch.data.location import fingerprint_note, require_data, resolve_data_spec
from recpim.arch.model.space import get_space, with_embedding_dims
from recpim.arch.train.config import MAX_STEPS
from recpim.arch.train.launch import check_ranks, launch_ranks
from recpim.cli.output import console, notes, print_bad_rows, print_json, print_table
from recpim.errors import ConfigError
from recpim.interrupts import StopRequested, exit_code, is_second, signal_of
from recpim.paths import check_output_dir, check_output_file
from recpim.pim.presets import load_chip
from recpim.runinfo import write_resolved_inputs
from recpim.validation import MAX_SEED

DEVICE_HELP = "auto (CUDA when present) | cpu | cuda | cuda:N"
PRECISION_HELP = "fp32 | bf16 | fp16 (autocast; fp16 with a grad scaler, CUDA only)"
DATA_CACHE_HELP = "keep parsed text data there (numpy memmaps) so later epochs and runs do not reparse"
BAD_FRACTION_HELP = "stop with an error when more than this fraction of the rows read is malformed"
HWA_HELP = ("hardware-aware training: every step's weights carry the programming variation of this chip's cells "
            "(a preset or chip YAML whose crossbar.nonideal sets programming_sigma), as aihwkit's HWA training; "
            "the noise is a fraction of each matrix's largest weight (arch/train/hwa.py), at the space's widest "
            "weight bits")


def _checked_data_cache(data_cache: Path | None) -> Path | None:
    """--data-cache (or RECPIM_DATA_CACHE), created and proven writable; a clear error otherwise."""
    from recpim.arch.data.cache import check_cache_dir

    return None if data_cache is None else check_cache_dir(data_cache, "--data-cache (or RECPIM_DATA_CACHE)")


supernet_app = typer.Typer(help="Train the NASRec supernet on CTR data; score subnets with inherited weights.",
                           no_args_is_help=True)


@supernet_app.command("train")
def train(
    data: str = typer.Option("synthetic", "--data", help="synthetic | synthetic:ROWS | criteo:PATH | avazu:PATH | "
                                                          "kdd12:PATH"),
    space: str = typer.Option("full", "--space", help="small | full (or a registered space name)"),
    embedding_dims: str | None = typer.Option(None, "--embedding-dims",
                                              help="let each subnet choose its embedding dim among these (e.g. "
                                                   "4,8,16; each <= the data's dim): the tables are shared, a "
                                                   "subnet reads their leading columns"),
    steps: int | None = typer.Option(None, "--steps", min=1, max=MAX_STEPS, help="training steps (default: one epoch)"),
    out: Path = typer.Option(..., "--out", help="checkpoint file to write (a state dict)"),
    seed: int = typer.Option(0, "--seed", min=0, max=MAX_SEED,
                             help="seed of initialisation, batch order and subnet sampling"),
    data_seed: int = typer.Option(0, "--data-seed", min=0, max=MAX_SEED,
                                  help="seed of the train/val/test split (and synthetic draw)"),
    batch_size: int = typer.Option(512, "--batch-size", min=1, help="rows per step (NASRec: 512)"),
    lr: float = typer.Option(0.12, "--lr", min=0.0, help="learning rate (NASRec: Adagrad 0.12)"),
    optimizer: str = typer.Option("adagrad", "--optimizer", help="adagrad (NASRec) | adam"),
    quant_aware: bool = typer.Option(False, "--quant-aware", help="train each sampled subnet at its own bits"),
    checkpoint_every: int = typer.Option(0, "--checkpoint-every", min=0, help="also save every N steps"),
    input_sharing: str = typer.Option("per_operator", "--input-sharing",
                                      help="weight sharing of consumers' inputs: per_operator (each producing "
                                           "operator has its own input columns) | per_source (one slot per source)"),
    full_path_fraction: float = typer.Option(0.1, "--full-path-fraction", min=0.0, max=1.0,
                                             help="warm-up: over this first part of training the full supernet "
                                                  "trains with a probability falling from 1 to 0 (NASRec)"),
    init: str = typer.Option("torch", "--init", help="torch | xavier (NASRec's scripts)"),
    adagrad_eps: float = typer.Option(1e-2, "--adagrad-eps", min=0.0, help="Adagrad eps (NASRec: 1e-2)"),
    sparse_embeddings: bool = typer.Option(True, "--sparse-embeddings/--dense-embeddings",
                                           help="sparse embedding gradients with a sparse optimizer"),
    sandwich_students: int = typer.Option(0, "--sandwich-students", min=0, max=8,
                                          help="the sandwich rule: each step trains the step's subnet at full width "
                                               "and this many children (0: one sampled subnet, NASRec)"),
    distill_weight: float = typer.Option(0.0, "--distill-weight", min=0.0, max=1.0,
                                         help="with --sandwich-students: the children's share of the full-width "
                                              "model's predictions as targets (in-place distillation)"),
    subnets_per_step: int | None = typer.Option(None, "--subnets-per-step", min=1, max=64,
                                                help="split each batch into this many parts, each training its own "
                                                     "sampled subnet in the same update (1: one subnet per step, "
                                                     "NASRec; default 8, or 1 with --sandwich-students)"),
    embedding_lr: float | None = typer.Option(None, "--embedding-lr", min=0.0,
                                              help="the embedding tables' learning rate (default: --lr)"),
    embedding_l2: float = typer.Option(0.0, "--embedding-l2", min=0.0,
                                       help="L2 penalty on the embedding rows each batch reads"),
    embedding_optimizer: str = typer.Option("elementwise", "--embedding-optimizer",
                                            help="the embedding tables' optimizer: elementwise (sparse Adagrad, or "
                                                 "SparseAdam with --optimizer adam: state as large as the tables) | "
                                                 "rowwise (row-wise Adagrad, FBGEMM's EXACT_ROWWISE_ADAGRAD: one "
                                                 "state value per row, a --checkpoint-every resume state about "
                                                 "embedding-dim times smaller)"),
    optimizer_state_dtype: str = typer.Option("fp32", "--optimizer-state-dtype",
                                              help="the dense optimizer's state during training: fp32 | bf16 "
                                                   "(Adagrad's sums or Adam's moments kept in bfloat16, "
                                                   "stochastically rounded: half the --checkpoint-every resume "
                                                   "state, a resume stays exact; costs some log loss, README)"),
    resume: bool = typer.Option(False, "--resume", help="continue the run saved at --out (refused when there is "
                                                         "no checkpoint there)"),
    resume_or_start: bool = typer.Option(False, "--resume-or-start",
                                         help="continue the run saved at --out, or start one when there is none "
                                              "(for scripts that rerun the same command)"),
    on_bad_row: str = typer.Option("skip", "--on-bad-row", help="skip | error"),
    max_bad_rows_fraction: float = typer.Option(0.01, "--max-bad-rows-fraction", min=0.0, max=1.0,
                                                help=BAD_FRACTION_HELP),
    data_cache: Path | None = typer.Option(None, "--data-cache", envvar="RECPIM_DATA_CACHE", help=DATA_CACHE_HELP),
    device: str = typer.Option("cpu", "--device", help=DEVICE_HELP),
    precision: str = typer.Option("fp32", "--precision", help=PRECISION_HELP),
    nproc: int = typer.Option(1, "--nproc", min=1, help="data-parallel processes on this machine (checked, "
                                                       "started and stopped by recpim, as torchrun's standalone mode "
                                                       "would; see README 'Scaling up')"),
    hwa: str | None = typer.Option(None, "--hwa", help=HWA_HELP),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar"),
    tensorboard: Path | None = typer.Option(None, "--tensorboard", help="write TensorBoard scalars (loss, learning "
                                                                        "rate, rows/s, validation log loss and AUC "
                                                                        "of a fixed probe subnet) into DIR/<--out's "
                                                                        "name>; needs pip install "
                                                                        "'recpim[tensorboard]'"),
    tensorboard_every: int = typer.Option(50, "--tensorboard-every", min=1,
                                          help="with --tensorboard: validate every N steps (and at the end)"),
    json_out: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Train the supernet with NASRec's recipe (Adagrad, cosine schedule with warm-up, clipping).

    Data-parallel: `torchrun --nproc-per-node N -m recpim supernet train ...` (or --nproc N); every
    rank trains the same subnet per step on its slice of the global --batch-size batch."""
    from recpim.arch.data.datasets import open_dataset
    from recpim.arch.train.checkpoints import resume_state_path
    from recpim.arch.train.device import PrecisionPolicy, resolve_device
    from recpim.arch.train.distributed import (
        RankLost,
        device_for_rank,
        init_from_env,
        launched_by_torchrun,
        shutdown,
    )
    from recpim.arch.train.hwa import train_supernet_hwa
    from recpim.arch.train.loop import TrainConfig, train_supernet

    space_obj = get_space(space) if embedding_dims is None else with_embedding_dims(get_space(space), embedding_dims)
    hwa_noise = hwa_weight_noise(hwa, max(space_obj.weight_bits)) if hwa else None
    if resume and resume_or_start:
        raise ConfigError("supernet train", [("--resume, --resume-or-start",
                                               "give one: --resume continues the run at --out and refuses when "
                                               "there is none; --resume-or-start starts one then")])
    data_cache = _checked_data_cache(data_cache)   # before any rank starts or any data is parsed
    if tensorboard is not None:                     # the package and the folder, before any rank or step
        from recpim.arch.train.tensorboard import summary_writer_class

        summary_writer_class("--tensorboard")
        check_output_dir(tensorboard, "--tensorboard")
    if nproc > 1 and not launched_by_torchrun():
        check_ranks(nproc, device, precision, batch_size)   # once, before any rank starts
        check_output_file(out, "--out")
        raise typer.Exit(launch_ranks(nproc, _argv_without_nproc()))
    torch_device = resolve_device(device)
    PrecisionPolicy(torch_device, precision)  # refuse a bad --precision before reading any data
    distributed = init_from_env(torch_device)
    torch_device = device_for_rank(torch_device, distributed)
    main_rank = distributed is None or distributed.is_main

    if main_rank:
        check_output_file(out, "--out")      # before the data is read and any step runs (rank 0 writes it)
    resume = resume or resume_or_start
    if resume_or_start and not out.is_file() and main_rank:
        console.print(f"note: no checkpoint at {out}; --resume-or-start starts a new run at step 0")
    data = resolve_data_spec(data)           # absolute: the checkpoint then works from any folder
    config = TrainConfig(data=data, data_seed=data_seed, space=space_obj.name, steps=steps,
                         batch_size=batch_size, lr=lr, optimizer=optimizer, seed=seed, quant_aware=quant_aware,
                         checkpoint_every=checkpoint_every, input_sharing=input_sharing,
                         full_path_fraction=full_path_fraction, init=init, adagrad_eps=adagrad_eps,
                         sparse_embeddings=sparse_embeddings, sandwich_students=sandwich_students,
                         distill_weight=distill_weight, embedding_lr=embedding_lr, embedding_l2=embedding_l2,
                         embedding_optimizer=embedding_optimizer, optimizer_state_dtype=optimizer_state_dtype,
                         subnets_per_step=subnets_per_step if subnets_per_step is not None
                         else 1 if sandwich_students else TrainConfig.model_fields["subnets_per_step"].default)
    dataset = open_dataset(data, on_bad_row=on_bad_row, seed=data_seed, max_bad_rows_fraction=max_bad_rows_fraction,
                           cache_dir=data_cache)
    board = _tensorboard_log(tensorboard / out.stem, dataset, config, torch_device, tensorboard_every, space_obj) \
        if tensorboard is not None and main_rank else None
    train = train_supernet if hwa_noise is None else partial(train_supernet_hwa, weight_noise=hwa_noise.std,
                                                             noise_seed=seed)
    try:
        result = train(dataset, config, space=space_obj, checkpoint=out, resume=resume,
                       start_if_missing=resume_or_start, progress=progress and not json_out, device=torch_device,
                       precision=precision, distributed=distributed, on_step=board)
    except StopRequested as stop:
        if main_rank:
            console.print(f"interrupted ({stop}): the steps done are saved in {out}; continue with the same options "
                          "and --resume")
        raise typer.Exit(exit_code(stop)) from None
    except RankLost:
        distributed = None     # a peer is gone: destroying the process group would wait for it
        raise
    except KeyboardInterrupt as stop:
        if main_rank:
            what = "interrupted twice: the current step was not saved" if is_second(stop) else \
                f"interrupted ({signal_of(stop).name}) outside a training step"
            console.print(f"{what}; {out} keeps the last checkpoint written (if any); continue with the same "
                          "options and --resume")
        raise typer.Exit(exit_code(stop)) from None
    finally:
        if board is not None:
            board.close()
        if distributed is not None:
            shutdown()
    if not main_rank:
        return
    summary = {"kind": "supernet_train", **result.to_dict(),   # `recpim report` draws its loss curve
               "loss_curve": loss_curve(result.losses, first_step=result.step - len(result.losses))}
    summary.update(bad_rows=dataset.bad_rows.count, device=str(torch_device), precision=precision,
                   ranks=1 if distributed is None else distributed.world_size)
    if hwa_noise is not None:
        summary["hwa"] = hwa_noise.to_dict()
    print_bad_rows(dataset)
    # Sizes on disk: the weights (what eval and search read) and, for an unfinished run, the resume state.
    resume_file = resume_state_path(out)
    summary["checkpoint_mb"] = round(out.stat().st_size / 1e6, 1)
    summary["resume_state_mb"] = round(resume_file.stat().st_size / 1e6, 1) if resume_file.is_file() else 0.0
    write_resolved_inputs(out.parent, {"command": "supernet train", "config": config.model_dump(mode="json"),
                                       "dataset": dataset.name, "schema": dataset.schema.model_dump(mode="json"),
                                       "checkpoint": str(out), "resume": resume, "device": str(torch_device),
                                       "precision": precision, "ranks": summary["ranks"],
                                       "hwa": summary.get("hwa")},
                          name=f"{out.name}.inputs.json")
    if json_out:
        print_json(summary)
        return
    rows = [[key, summary[key]] for key in ("step", "total_steps", "mean_loss_last_50", "seconds", "steps_per_second",
                                            "checkpoint", "checkpoint_mb", "resume_state_mb")]
    if hwa_noise is not None:
        rows.append(["hardware-aware", hwa_noise.describe()])
    print_table("supernet training", ["name", "value"], rows)


LOSS_CURVE_POINTS = 200
PROBE_ROWS = 2048   # validation rows the TensorBoard probe scores


def _tensorboard_log(log_dir: Path, dataset, config, device, every: int, space):
    """The TensorBoardLog of a supernet run: its validation scores one fixed subnet (sampled from the
    space with the run's seed) on the first PROBE_ROWS validation rows."""
    from recpim.arch.model.subnet import sample_subnet
    from recpim.arch.train.loop import steps_per_epoch
    from recpim.arch.train.scoring import cached_split, evaluate
    from recpim.arch.train.tensorboard import TensorBoardLog

    probe = sample_subnet(space, config.seed)
    rows = cached_split(dataset, "val", PROBE_ROWS)

    def validate(model) -> tuple[float, float]:
        return evaluate(lambda dense, sparse: model(dense.to(device), sparse.to(device), probe), rows)

    total = config.steps or steps_per_epoch(dataset, config.batch_size)
    notes.print(f"TensorBoard scalars in {log_dir} (tensorboard --logdir {log_dir.parent})", markup=False,
                highlight=False)
    return TensorBoardLog(log_dir, config.batch_size, total, validate=validate, every=every)


def loss_curve(losses: list[float], first_step: int = 0, points: int = LOSS_CURVE_POINTS) -> list[list[float]]:
    """[step, mean loss of the steps since the previous point] pairs, at most `points` of them, for
    the training page (the losses of this call's steps; a long run is averaged over stretches)."""
    if not losses:
        return []
    stretch = max(1, -(-len(losses) // points))
    return [[first_step + min(start + stretch, len(losses)), float(sum(chunk) / len(chunk))]
            for start in range(0, len(losses), stretch) for chunk in [losses[start:start + stretch]]]


@dataclass(frozen=True)
class HwaNoise:
    """The weight noise --hwa injects, and where it comes from (printed and saved with the run's inputs)."""

    chip: str
    programming_sigma: float
    programming_sigma_unit: str
    cell_bits: int
    encoding: str
    weight_bits: int
    std: float                      # of a weight, as a fraction of its matrix's largest weight

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        return (f"weight noise {self.std:.4f} x max|W| ({self.chip}: programming sigma {self.programming_sigma:g} "
                f"{self.programming_sigma_unit}, {self.cell_bits}-bit cells, {self.encoding}, {self.weight_bits}-bit "
                "weights)")


def hwa_weight_noise(chip: str, weight_bits: int) -> HwaNoise:
    """--hwa CHIP: the weight noise of CHIP's programming variation at `weight_bits` (weight_noise_std)."""
    from recpim.arch.train.hwa import weight_noise_std
    from recpim.mapping.arithmetic import crossbar_arithmetic

    config = load_chip(chip)
    arith = crossbar_arithmetic(config)
    if arith.device is None or arith.device.programming_sigma == 0:
        raise ConfigError("--hwa", [(chip, "this chip's cells have no programming variation to train against "
                                           "(crossbar.nonideal.programming_sigma is 0); give a chip YAML that sets "
                                           "it, e.g. crossbar: {nonideal: {programming_sigma: 0.1}}")])
    device = arith.device
    return HwaNoise(chip=config.name, programming_sigma=device.programming_sigma,
                    programming_sigma_unit=device.programming_sigma_unit, cell_bits=arith.cell_bits,
                    encoding=arith.encoding, weight_bits=weight_bits, std=weight_noise_std(arith, weight_bits))


def _argv_without_nproc() -> list[str]:
    """This command's arguments without --nproc (what each rank runs)."""
    argv, skip = [], False
    for arg in sys.argv[1:]:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            argv.append(arg)
    return argv


def _crossbar(chip: str | None, adc_bits: int | None, rows_read: int | None, cell_bits: int | None,
              dac_bits: int | None, rows: int | None, encoding: str | None):
    """CrossbarArithmetic from a chip preset/YAML and/or explicit --chip-* numbers (None: no crossbar)."""
    explicit = {"adc_bits": adc_bits, "rows_read_at_once": rows_read, "cell_bits": cell_bits, "dac_bits": dac_bits,
                "rows": rows, "encoding": encoding}
    explicit = {key: value for key, value in explicit.items() if value is not None}
    if chip is None and not explicit:
        return None
    if chip is not None:
        from recpim.mapping.arithmetic import crossbar_arithmetic  # recpim.mapping: only with --chip

        return crossbar_arithmetic(load_chip(chip), **explicit)
    fields = dict(explicit)
    if "rows_read_at_once" in fields and "rows" not in fields:
        fields["rows"] = max(fields["rows_read_at_once"], CrossbarArithmetic.rows)
    return CrossbarArithmetic(**fields)


@supernet_app.command("eval")
def evaluate(
    checkpoint: Path = typer.Argument(..., help="supernet checkpoint written by `recpim supernet train`"),
    subnet: Path = typer.Option(..., "--subnet", help="subnet JSON (e.g. from `recpim space sample`)"),
    data: str | None = typer.Option(None, "--data", help="dataset spec (default: the one the supernet trained on)"),
    split: str = typer.Option("val", "--split", help="train | val | test"),
    finetune_steps: int = typer.Option(500, "--finetune-steps", min=0,
                                       help="first retrain the logit layer alone for N steps (NASRec's recipe: "
                                            "Adagrad lr 0.04, cosine, clip 5); 0: score the inherited weights as "
                                            "they are"),
    quant: bool = typer.Option(True, "--quant/--no-quant", help="run at the subnet's bits (fake quantisation)"),
    chip: str | None = typer.Option(None, "--chip", help="chip preset or YAML: simulate its crossbar arithmetic"),
    adc_bits: int | None = typer.Option(None, "--chip-adc-bits", min=1, help="ADC bits (overrides --chip)"),
    rows_read: int | None = typer.Option(None, "--chip-rows-read", min=1, help="rows read at once"),
    cell_bits: int | None = typer.Option(None, "--chip-cell-bits", min=1, help="bits per ReRAM cell"),
    dac_bits: int | None = typer.Option(None, "--chip-dac-bits", min=1, help="DAC bits"),
    rows: int | None = typer.Option(None, "--chip-rows", min=1, help="crossbar rows"),
    encoding: str | None = typer.Option(None, "--chip-encoding", help="offset | differential"),
    max_rows: int | None = typer.Option(None, "--max-rows", min=1, help="score the first rows of the split only"),
    seed: int = typer.Option(0, "--seed", min=0, max=MAX_SEED, help="seed of the fine-tuning batches"),
    device_draws: int | None = typer.Option(None, "--device-draws", min=1,
                                            help="score on N programmed chips of --chip (its crossbar.nonideal: "
                                                 "variation, faults, read noise) and report mean, std and the "
                                                 "90th-percentile log loss beside the ideal-cell figure (default: "
                                                 "10 when the chip's cells are random)"),
    max_bad_rows_fraction: float = typer.Option(0.01, "--max-bad-rows-fraction", min=0.0, max=1.0,
                                                help=BAD_FRACTION_HELP),
    data_cache: Path | None = typer.Option(None, "--data-cache", envvar="RECPIM_DATA_CACHE", help=DATA_CACHE_HELP),
    device: str = typer.Option("cpu", "--device", help=DEVICE_HELP + " (scoring always runs in fp32)"),
    json_out: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Score a subnet with the supernet's inherited weights: log loss and AUC (on a chip with random
    cells: over --device-draws programmed chips)."""
    from recpim.arch.data.datasets import open_dataset
    from recpim.arch.model.subnet import load_subnet
    from recpim.arch.train.loop import configure_threads, load_supernet
    from recpim.arch.train.scoring import score_subnet

    configure_threads()
    data_cache = _checked_data_cache(data_cache)   # before the checkpoint is loaded or any data is parsed
    loaded = load_supernet(checkpoint, device=device)
    supernet, config, saved = loaded.supernet, loaded.config, loaded.checkpoint
    config_subnet = load_subnet(subnet, space=loaded.space)   # checked in the checkpoint's space
    crossbar = _crossbar(chip, adc_bits, rows_read, cell_bits, dac_bits, rows, encoding)
    draws = _device_draws(crossbar, device_draws)
    if data is None:
        require_data(saved.data, "--data", what=f"the data {checkpoint} was trained on")
        if note := fingerprint_note(saved.data_fingerprint, saved.data):
            console.print(f"[yellow]note[/]: {note}")
    dataset = open_dataset(data or saved.data, schema=supernet.schema, seed=config.data_seed,
                           max_bad_rows_fraction=max_bad_rows_fraction, cache_dir=data_cache)
    if draws:
        _print_device_draws(supernet, config_subnet, dataset, crossbar, draws, subnet, checkpoint, saved,
                            json_out, split=split, finetune_steps=finetune_steps, seed=seed, max_rows=max_rows)
        return
    score = score_subnet(supernet, config_subnet, dataset, split=split, finetune_steps=finetune_steps, quant=quant,
                         crossbar=crossbar, seed=seed, max_rows=max_rows)
    result = {"kind": "subnet_score", **score.to_dict(), "checkpoint": str(checkpoint), "subnet": str(subnet),
              "dataset": dataset.name,
              "supernet_step": saved.step}
    print_bad_rows(dataset)
    if json_out:
        print_json(result)
        return
    print_table(f"subnet {subnet.name} on {dataset.name} ({split})", ["name", "value"],
                [["logloss", score.logloss], ["auc", score.auc], ["rows", score.rows],
                 ["finetune_steps", score.finetune_steps], ["quantized", score.quantized],
                 ["finetune_seconds", score.finetune_seconds],
                 ["crossbar", score.crossbar.to_dict() if score.crossbar else "-"], ["seconds", score.seconds]])
    if not saved.finished:
        console.print(f"note: the supernet stopped at step {saved.step} of {saved.total_steps}")


def _device_draws(crossbar, requested: int | None) -> int:
    """How many programmed chips to score on: --device-draws, or the default when the chip's cells are
    random; 0: score once (ideal cells, or device effects that do not vary from chip to chip)."""
    from recpim.arch.train.device_draws import DEFAULT_DEVICE_DRAWS  # torch: only when scoring

    random_cells = crossbar is not None and crossbar.device is not None and crossbar.device.random
    if requested is not None and (crossbar is None or crossbar.ideal_cells):
        raise ConfigError("recpim supernet eval", [("--device-draws", "needs --chip with device effects "
                                                                      "(crossbar.nonideal: programming_sigma, "
                                                                      "stuck-at rates, read_noise_sigma ...); "
                                                                      "this chip's cells are ideal")])
    if requested is not None:
        return requested
    return DEFAULT_DEVICE_DRAWS if random_cells else 0


def _print_device_draws(supernet, subnet_config, dataset, crossbar, draws: int, subnet: Path, checkpoint: Path,
                        saved, json_out: bool, **scoring) -> None:
    from recpim.arch.train.device_draws import score_device_draws

    result = score_device_draws(supernet, subnet_config, dataset, crossbar, draws, **scoring)
    print_bad_rows(dataset)
    if json_out:
        print_json({"kind": "subnet_score", **result.ideal.to_dict(), "device_draws": result.to_dict(),
                    "checkpoint": str(checkpoint),
                    "subnet": str(subnet), "dataset": dataset.name, "supernet_step": saved.step})
        return
    pct = f"p{result.percentile:g}"
    print_table(f"subnet {subnet.name} on {dataset.name} ({scoring['split']}), {result.draws} programmed chips",
                ["figure", "ideal cells", "mean", "std", f"pessimistic ({pct} / p{100 - result.percentile:g})"],
                [["logloss", f"{result.ideal.logloss:.6f}", f"{result.mean_logloss:.6f}", f"{result.std_logloss:.6f}",
                  f"{result.pessimistic_logloss:.6f}"],
                 ["auc", f"{result.ideal.auc:.6f}", f"{result.mean_auc:.6f}", f"{result.std_auc:.6f}",
                  f"{result.pessimistic_auc:.6f}"]])
    console.print(f"chip seeds {result.chip_seeds[0]}..{result.chip_seeds[-1]}; {result.seconds_per_draw:.2f} s "
                  f"per draw; rows {result.ideal.rows}; finetune_steps {result.ideal.finetune_steps}")
    if not saved.finished:
        console.print(f"note: the supernet stopped at step {saved.step} of {saved.total_steps}")


def register(app: typer.Typer) -> None:
    app.add_typer(supernet_app, name="supernet")
