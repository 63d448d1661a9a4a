"""Where the real CTR samples lie (../shared/data beside the repository; tests read them there and
never copy them), and the mark that skips a test when they are absent."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parents[1] / ".." / "shared" / "data"
CRITEO = DATA / "criteo" / "criteo_kaggle_train_head10k.tsv.gz"
AVAZU = DATA / "avazu" / "avazu_train_head10k.csv.gz"
KDD = DATA / "kdd12"
needs_data = pytest.mark.skipif(not CRITEO.is_file() or not AVAZU.is_file() or not KDD.is_dir(),
                                reason=f"real CTR samples not found under {DATA.resolve()}")
