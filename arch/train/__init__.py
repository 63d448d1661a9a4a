"""recpim.arch.train: training and scoring. The loop (loop.py) and its config (config.py),
optimizers, data-parallel runs (distributed.py), devices and precision (device.py), checkpoints and
subnet scoring (scoring.py)."""
