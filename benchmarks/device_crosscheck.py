"""Cross-check of the device model (issue 24, item 6): per-layer relative output-error standard deviation
under programming and read noise -- recpim's simulated arithmetic (Monte-Carlo over programmed chips),
its closed form, and the closed form of aihwkit's inference tile with the same noise parameters.

aihwkit does not install here (its 1.2.0 release is a source distribution that needs a CMake/C++
build against torch, and pulls torchvision), so its side is the analytic expectation of its model:
an InferenceRPUConfig tile with a SinglePairConductanceConverter (max|W| -> g_max on one device of a
pair, the other at 0), programming noise sigma_p g_max per device, clipped at 0 (as
ReRamWan2022NoiseModel does), forward.w_noise = sigma_r (ADDITIVE_CONSTANT) and no DAC/ADC/output
noise (inp_res = out_res = -1, out_noise = 0). The same sigma_p and sigma_r drive recpim as
programming_sigma in "window" units and read_noise_sigma.

Run: nice -n 15 .venv/bin/python benchmarks/device_crosscheck.py [--draws 20]
"""

from __future__ import annotations

import argparse
import math

import torch

from recpim.arch.crossbar.arithmetic import CrossbarArithmetic, DeviceEffects
from recpim.arch.crossbar.matmul import crossbar_matmul

SQRT2PI = math.sqrt(2 * math.pi)


def clipped_moments(mu: torch.Tensor, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean error and variance of max(0, mu + sigma z) - mu (a conductance clipped at 0)."""
    if sigma == 0:
        return torch.zeros_like(mu), torch.zeros_like(mu)
    a = mu / sigma
    cdf = 0.5 * (1 + torch.erf(a / math.sqrt(2)))
    pdf = torch.exp(-a * a / 2) / SQRT2PI
    mean = mu * cdf + sigma * pdf
    second = (mu * mu + sigma * sigma) * cdf + mu * sigma * pdf
    return mean - mu, second - mean * mean


def recpim_closed_form(x: torch.Tensor, w: torch.Tensor, arith: CrossbarArithmetic, a: int, wb: int) -> torch.Tensor:
    """Mean squared output error per output of the differential, bit-sliced, bit-serial arithmetic
    with a lossless ADC: programming error (clipped Gaussian per cell) times the DAC's unsigned input
    x_u = x + 2^(a-1), read noise per conversion, and the ADC's rounding of the now fractional sums."""
    device = arith.device
    c, d = arith.cell_bits, arith.dac_bits
    top = 2**c - 1
    sigma = device.programming_sigma * top             # window units -> level spacings
    slices = math.ceil(wb / c)
    x_u = (x + 2 ** (a - 1)).to(torch.float64)
    bias = torch.zeros(w.shape, dtype=torch.float64)
    variance = torch.zeros(w.shape, dtype=torch.float64)
    for magnitude, sign in ((w.clamp(min=0), 1.0), ((-w).clamp(min=0), -1.0)):
        for s in range(slices):
            level = ((magnitude >> (c * s)) & top).to(torch.float64)
            mean, var = clipped_moments(level, sigma)
            bias += sign * 2.0 ** (c * s) * mean
            variance += 4.0 ** (c * s) * var
    programming = (x_u @ bias) ** 2 + x_u.square() @ variance                         # [M, N]
    cycles = math.ceil(a / d)
    bits = [((x + 2 ** (a - 1)) >> (d * t)) & (2**d - 1) for t in range(cycles)]
    slice_weight = 2 * sum(4.0 ** (c * s) for s in range(slices))                    # + and - columns
    read = sum(4.0 ** (d * t) * b.to(torch.float64).square().sum(dim=1, keepdim=True) for t, b in enumerate(bits))
    read = read * slice_weight * (device.read_noise_sigma * top) ** 2
    groups = math.ceil(x.shape[1] / arith.rows_read_at_once)                         # conversions per column
    rounding = groups * sum(4.0 ** (d * t) for t in range(cycles)) * slice_weight / 12   # dithered: uniform +-1/2
    return programming + read + rounding


def aihwkit_closed_form(x: torch.Tensor, w: torch.Tensor, sigma_p: float, sigma_r: float) -> torch.Tensor:
    """Mean squared output error per output of aihwkit's tile (module docstring), in the same code units."""
    scale = float(w.abs().max())
    x = x.to(torch.float64)
    bias = torch.zeros(w.shape, dtype=torch.float64)
    variance = torch.zeros(w.shape, dtype=torch.float64)
    for magnitude, sign in ((w.clamp(min=0), 1.0), ((-w).clamp(min=0), -1.0)):
        mean, var = clipped_moments(magnitude.to(torch.float64) / scale, sigma_p)
        bias += sign * scale * mean
        variance += scale**2 * var
    return (x @ bias) ** 2 + x.square() @ variance + (sigma_r * scale) ** 2 * x.square().sum(dim=1, keepdim=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--sigma-p", type=float, default=0.05, help="programming sigma, a fraction of the window")
    parser.add_argument("--sigma-r", type=float, default=0.01, help="read noise sigma, a fraction of the window")
    args = parser.parse_args()
    torch.set_num_threads(1)
    a = wb = 8
    generator = torch.Generator().manual_seed(0)
    print(f"sigma_p {args.sigma_p} of the window, sigma_r {args.sigma_r}; 8-bit inputs (post-ReLU, >= 0) and weights; "
          f"differential 2-bit cells, 1-bit DAC, lossless ADC; {args.draws} programmed chips")
    print("| layer (K x N) | recpim measured | recpim closed form | aihwkit closed form | aihwkit, inputs x + 128 "
          "| recpim / aihwkit |")
    print("|---|---|---|---|---|---|")
    for k, n in ((13, 512), (128, 128), (512, 256)):
        x = (torch.randn(64, k, generator=generator).abs() * 40).round().clamp(max=127).to(torch.int64)
        w = (torch.randn(k, n, generator=generator) * 40).round().clamp(-127, 127).to(torch.int64)
        exact = (x @ w).to(torch.float64)
        rms = exact.square().mean().sqrt()
        arith = CrossbarArithmetic(rows=128, rows_read_at_once=128, cell_bits=2, dac_bits=1, adc_bits=9,
                                   encoding="differential",
                                   device=DeviceEffects(programming_sigma=args.sigma_p, programming_sigma_unit="window",
                                                        read_noise_sigma=args.sigma_r))
        errors = torch.stack([crossbar_matmul(x, w, arith.with_chip_seed(seed), input_bits=a, weight_bits=wb)
                              .to(torch.float64) - exact for seed in range(args.draws)])
        measured = errors.square().mean().sqrt() / rms
        closed = recpim_closed_form(x, w, arith, a, wb).mean().sqrt() / rms
        aihw = aihwkit_closed_form(x, w, args.sigma_p, args.sigma_r).mean().sqrt() / rms
        shifted = aihwkit_closed_form(x + 2 ** (a - 1), w, args.sigma_p, args.sigma_r).mean().sqrt() / rms
        print(f"| {k} x {n} | {measured:.4f} | {closed:.4f} | {aihw:.4f} | {shifted:.4f} | {measured / aihw:.1f} |")


if __name__ == "__main__":
    main()
